r"""Batched simulation: many problems of one shape in one call (``jax.vmap`` over the pure cores).

A *batched* :class:`~lpft_theory.problem.Problem` is a Problem whose arrays carry one
leading batch axis (the ``.npz`` keys are unchanged); :func:`~lpft_theory.reduced.reduce`
stacks the reduced members. :func:`simulate_batch` integrates every member with the same
jitted cores as :func:`~lpft_theory.solve.simulate` (``ft_solve``, ``ft_steady_state`` and
the closed-form LP, THEORY.md §2–3), vmapped over the batch, so member ``i`` of the batch
equals ``simulate(problem[i], ...)`` to rounding.

**Lockstep waste.** ``jax.vmap`` of an adaptive solve turns the per-member
``while`` loop into one loop that runs until the *slowest* member is done; finished
members are masked, but their arithmetic is still executed. With :math:`s_i` the steps of
member i, a group :math:`g` costs :math:`|g|\max_{i\in g}s_i` member-steps instead of
:math:`\sum_{i\in g}s_i`; the *waste* is :math:`1-\sum_i s_i/\sum_g|g|\max_{i\in g}s_i`.
For the FT flow an explicit solver's step count is set by the largest eigenvalue of the
Jacobian of the field (on long horizons the step is stability-limited). At a state with
residual r ≈ 0 the Jacobian is :math:`-2D^\top GD` with
:math:`D(\delta v,\delta B_S)=B_S^\top\delta v+\delta B_S^\top v`, whose spectral radius
lies between :math:`2\lambda_{max}(G)\|v\|^2` and :math:`2\lambda_{max}(G)(\|v\|^2+\|B_S\|_2^2)`.
:func:`stiffness_estimate` evaluates the upper value at the start of the flow;
``group_size`` sorts the members by it and solves contiguous groups of that size, so
members of similar stiffness run in lockstep together (results are returned in the
original order). :attr:`BatchTrajectory.work` records the member-steps executed and the
waste, so the effect is measured, not assumed. With :mod:`lpft_theory.scale.sharding` each
device runs its own loop on its block of the (sorted) batch.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import flows
from . import sharding
from .._precision import check_x64
from ..problem import Problem
from ..reduced import ReducedProblem, reduce
from ..solve import (DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, Trajectory, check_request,
                    ft_solve, ft_steady_state)


class FlowArgs(eqx.Module):
    """The only fields the reduced FT field reads: ``G`` (…, m, m) and ``a_star`` (…, m).

    Passing these instead of the whole :class:`ReducedProblem` keeps the d-sized lift
    basis and the metric draws out of the solve (and off the accelerator).
    """

    G: jax.Array
    a_star: jax.Array


def flow_args(rp: ReducedProblem) -> FlowArgs:
    return FlowArgs(G=rp.G, a_star=rp.a_star)


@dataclasses.dataclass(frozen=True)
class BatchTrajectory:
    """States of a batch of N problems at the same T times (reduced coordinates).

    Attributes
    ----------
    times : (T,) save times (``inf`` allowed last).
    v : (N, T, k); B_S : (N, T, k, m).
    num_steps : (N,) solver steps per member (accepted + rejected; 0 for closed-form LP).
    converged : (N,) bool for ``t = inf`` (gradient-norm criterion met), else None.
    rp : the batched :class:`ReducedProblem`.
    initial : ``(v, B_S)`` of shapes (N, k), (N, k, m) at the start of the (FT phase of the) flow.
    work : lockstep accounting: ``member_steps`` (Σ s_i), ``lockstep_steps``
        (Σ over groups of |g|·max s_i, padding included), ``waste`` (1 − their ratio), ``groups``.
    """

    times: np.ndarray
    v: jax.Array
    B_S: jax.Array
    method: str
    solver: str
    num_steps: np.ndarray
    converged: Optional[np.ndarray]
    rp: ReducedProblem
    initial: tuple
    work: dict

    def __len__(self) -> int:
        return int(self.v.shape[0])

    def member(self, i: int) -> Trajectory:
        """Member ``i`` as a single :class:`~lpft_theory.solve.Trajectory` (for ``trajectory_metrics``)."""
        rp_i = jax.tree_util.tree_map(lambda a: a[i], self.rp)
        conv = None if self.converged is None else bool(self.converged[i])
        return Trajectory(self.times, self.v[i], self.B_S[i], self.method, self.solver, int(self.num_steps[i]), conv,
                          rp_i, (self.initial[0][i], self.initial[1][i]))

    def B(self) -> jax.Array:
        """Full features (N, T, k, d) (memory N·T·k·d)."""
        return jax.vmap(lambda rp, B_S: rp.lift_B(B_S))(self.rp, self.B_S)


def stiffness_estimate(G, v, B_S) -> np.ndarray:
    r"""Per-member :math:`2\lambda_{max}(G)\,(\|v\|^2+\|B_S\|_2^2)` (see the module docstring).

    ``G`` (N, m, m), ``v`` (N, k), ``B_S`` (N, k, m). An upper bound of the spectral radius of
    the FT field's Jacobian at a zero-residual state; used only to order members.
    """
    lam = jnp.linalg.eigvalsh(G)[..., -1]
    sB = jnp.linalg.norm(B_S, ord=2, axis=(-2, -1))
    return np.asarray(2.0 * lam * (jnp.sum(v**2, axis=-1) + sB**2))


#: Group sizes used by ``group_size="auto"``. On CPU the cost per executed member-step grows with the
#: vmapped batch (measured 11 µs at 16, 18 µs at 64, 23 µs at 256 on the benchmark machine; BENCHMARKS.md),
#: on top of the lockstep waste, so small sorted groups win. On accelerators large groups are needed to
#: fill the device (2**15 is a guess that was not measured here: no GPU was available).
AUTO_GROUP_SIZE = {"cpu": 16}
AUTO_GROUP_SIZE_ACCELERATOR = 2**15


def default_group_size() -> int:
    """The group size ``group_size="auto"`` uses on the default backend (see :data:`AUTO_GROUP_SIZE`)."""
    return AUTO_GROUP_SIZE.get(jax.default_backend(), AUTO_GROUP_SIZE_ACCELERATOR)


def as_batched_reduced(problems) -> ReducedProblem:
    """A batched :class:`ReducedProblem` from a batched Problem, a list of Problems or a batched ReducedProblem."""
    if isinstance(problems, ReducedProblem):
        rp = problems
    elif isinstance(problems, Problem):
        if len(problems.batch_shape) != 1:
            raise ValueError(f"problem: expected exactly one leading batch axis, got batch shape {problems.batch_shape}")
        rp = reduce(problems)
    elif isinstance(problems, (list, tuple)) and problems and all(isinstance(p, Problem) for p in problems):
        members = [reduce(p) for p in problems]
        shapes = {(r.G.shape, r.B0_red.shape, r.Z.shape, r.basis.shape) for r in members}
        if len(shapes) != 1:
            raise ValueError(f"problems: batch members must have equal shapes (n, d, k, m), got {len(shapes)} different ones")
        rp = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *members)
    else:
        raise TypeError(f"problems must be a batched Problem, a list of Problems or a batched ReducedProblem, "
                        f"got {type(problems).__name__}")
    if rp.G.ndim != 3:
        raise ValueError(f"problems: expected one leading batch axis, got G of shape {rp.G.shape}")
    return rp


# ---------------------------------------------------------------------------
# vmapped cores (cached: one compile per (solver, max_steps) and shape)


@lru_cache(maxsize=None)
def _ft_batched(solver: str, max_steps: int):
    def fn(batched, replicated):
        args, y0 = batched
        ts, rtol, atol = replicated
        return jax.vmap(lambda a, y: ft_solve(a, y, ts, rtol, atol, solver=solver, max_steps=max_steps))(args, y0)

    return fn


@lru_cache(maxsize=None)
def _steady_batched(solver: str, max_steps: int):
    def fn(batched, replicated):
        args, y0, gtol = batched
        t0, rtol, atol = replicated
        return jax.vmap(lambda a, y, g: ft_steady_state(a, y, t0, g, rtol, atol, solver=solver, max_steps=max_steps))(
            args, y0, gtol)

    return fn


_jitted: dict = {}


def _local(fn):
    if fn not in _jitted:
        _jitted[fn] = jax.jit(fn)
    return _jitted[fn]


@jax.jit
def _lp_batched(rp_flow, v0, B_S0, t):
    """Closed-form LP for every member at the times ``t`` (T,) -> (N, T, k)."""

    def one(G, a_star, v, B):
        shim = _LPView(G=G, a_star=a_star, v0=v, B_S0=B)
        return flows.lp_closed_form(shim)(t)

    return jax.vmap(one)(rp_flow.G, rp_flow.a_star, v0, B_S0)


class _LPView(eqx.Module):
    """The four fields :func:`flows.lp_closed_form` reads (``G``, ``a_star``, ``v0``, ``B_S0``)."""

    G: jax.Array
    a_star: jax.Array
    v0: jax.Array
    B_S0: jax.Array


def _run_grouped(fn, batched, replicated, order, group_size, mesh):
    """Apply ``fn(batched, replicated)`` to groups of ``order`` (each padded to ``group_size``), un-permute."""
    n = len(order)
    outs = []
    for start in range(0, n, group_size):
        idx = order[start : start + group_size]
        idx_p = np.concatenate([idx, np.repeat(idx[-1:], group_size - idx.size)]) if idx.size < group_size else idx
        part = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx_p], batched)
        if mesh is None:
            out = _local(fn)(part, replicated)
        else:
            out = sharding.run_sharded(fn, part, replicated, mesh=mesh)
        outs.append(jax.tree_util.tree_map(lambda a: a[: idx.size], out))
    cat = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *outs)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return jax.tree_util.tree_map(lambda a: a[inverse], cat)


def _lockstep(steps, order, group_size):
    steps = np.asarray(steps, dtype=np.int64)
    total = int(steps.sum())
    lock = 0
    groups = 0
    for start in range(0, steps.size, group_size):
        idx = order[start : start + group_size]
        lock += group_size * int(steps[idx].max()) if idx.size else 0
        groups += 1
    return dict(member_steps=total, lockstep_steps=lock, waste=(1.0 - total / lock) if lock else 0.0, groups=groups)


def simulate_batch(
    problems,
    method: str,
    times: Sequence[float],
    *,
    lp_time: float = math.inf,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    gtol: float = DEFAULT_GTOL,
    solver: str = "tsit5",
    steady_solver: str = "kvaerno5",
    max_steps: int = DEFAULT_MAX_STEPS,
    group_size="auto",
    sort: bool = True,
    mesh=None,
) -> BatchTrajectory:
    r"""Simulate LP, FT or LP-FT for every member of a batch; same semantics as :func:`~lpft_theory.solve.simulate`.

    Parameters
    ----------
    problems : batched :class:`Problem` (one leading axis), list of equal-shape Problems, or a
        batched :class:`ReducedProblem`.
    method, times, lp_time, rtol, atol, gtol, solver, steady_solver, max_steps : as in ``simulate``
        (LP is always the closed form).
    group_size : solve in groups of this many members; ``None`` = the whole batch in one vmap;
        ``"auto"`` (default) = :func:`default_group_size` for the backend. Every group is padded to
        ``group_size`` so all groups share one compilation.
    sort : with ``group_size``, order members by :func:`stiffness_estimate` before grouping
        (reduces lockstep waste; the output is in the input order either way).
    mesh : a :class:`jax.sharding.Mesh` from :func:`lpft_theory.scale.sharding.batch_mesh` to split
        each group over several devices, or ``"all"`` for every visible device (default: no sharding).
    """
    check_x64()
    t, rtol, atol, gtol, lp_time = check_request(method, times, rtol, atol, gtol, solver, steady_solver, lp_time)
    if mesh == "all":
        mesh = sharding.batch_mesh()
    rp = as_batched_reduced(problems)
    N = int(rp.G.shape[0])
    if group_size is None:
        group_size = N
    elif isinstance(group_size, str):
        if group_size != "auto":
            raise ValueError(f"group_size must be a positive int, None or 'auto', got {group_size!r}")
        group_size = default_group_size()
    group_size = int(group_size)
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    group_size = min(group_size, N)

    args = flow_args(rp)
    B_S0 = rp.B_S0
    finite = t[np.isfinite(t)]
    want_inf = bool(np.isinf(t[-1]))

    if method == "lp":
        v = _lp_batched(args, rp.v0, B_S0, jnp.asarray(t))
        B_S = jnp.broadcast_to(B_S0[:, None], (N, t.size) + B_S0.shape[1:])
        zero = np.zeros(N, dtype=np.int64)
        return BatchTrajectory(t, v, B_S, method, "closed-form", zero, np.ones(N, bool) if want_inf else None, rp,
                               (rp.v0, B_S0), _lockstep(zero, np.arange(N), group_size))

    if method == "ft":
        v_start = rp.v0
    else:
        v_start = _lp_batched(args, rp.v0, B_S0, jnp.asarray([lp_time]))[:, 0]
    y0 = (v_start, B_S0)
    order = np.arange(N)
    if sort and group_size < N:
        order = np.argsort(stiffness_estimate(rp.G, v_start, B_S0), kind="stable")

    steps = np.zeros(N, dtype=np.int64)
    if finite.size == 0:
        ys = (v_start[:, None][:, :0], B_S0[:, None][:, :0])
    elif finite[-1] == 0.0:
        ys = (jnp.broadcast_to(v_start[:, None], (N, finite.size) + v_start.shape[1:]),
              jnp.broadcast_to(B_S0[:, None], (N, finite.size) + B_S0.shape[1:]))
    else:
        rep = (jnp.asarray(finite), jnp.asarray(rtol), jnp.asarray(atol))
        ys, s, ok = _run_grouped(_ft_batched(solver, int(max_steps)), (args, y0), rep, order, group_size, mesh)
        ok = np.asarray(ok)
        if not ok.all():
            raise RuntimeError(
                f"FT: the diffrax solve did not finish for batch member(s) {np.flatnonzero(~ok)[:10].tolist()} "
                f"(max_steps={max_steps} exhausted or step size collapsed); raise max_steps or loosen rtol/atol")
        steps = steps + np.asarray(s, dtype=np.int64)
    work = _lockstep(steps, order, group_size)

    converged = None
    if want_inf:
        start = (ys[0][:, -1], ys[1][:, -1]) if finite.size else y0
        t_start = float(finite[-1]) if finite.size else 0.0
        g0 = jax.vmap(flows.ft_gradient_norm)(args, *y0)
        g_tol = gtol * jnp.maximum(1.0, g0)
        rep = (jnp.asarray(t_start), jnp.asarray(rtol), jnp.asarray(atol))
        y_end, s, reached = _run_grouped(_steady_batched(steady_solver, int(max_steps)), (args, start, g_tol), rep,
                                         order, group_size, mesh)
        # members already stationary at the start keep their state (as in ``simulate``)
        still = jax.vmap(flows.ft_gradient_norm)(args, *start) <= g_tol
        y_end = jax.tree_util.tree_map(
            lambda a, b: jnp.where(still.reshape((-1,) + (1,) * (a.ndim - 1)), b, a), y_end, start)
        s = np.where(np.asarray(still), 0, np.asarray(s, dtype=np.int64))
        steady_work = _lockstep(s, order, group_size)
        work = {key: work[key] + steady_work[key] for key in ("member_steps", "lockstep_steps")} | {
            "groups": work["groups"]}
        work["waste"] = 1.0 - work["member_steps"] / work["lockstep_steps"] if work["lockstep_steps"] else 0.0
        steps = steps + s
        converged = np.asarray(still) | np.asarray(reached)
        ys = (jnp.concatenate([ys[0], y_end[0][:, None]], axis=1), jnp.concatenate([ys[1], y_end[1][:, None]], axis=1))
    return BatchTrajectory(t, ys[0], ys[1], method, solver, steps, converged, rp, y0, work)


def batch_metrics(bt: BatchTrajectory, perp: bool = True) -> dict:
    r"""Per-state metrics of every member at every time: dict of (N, T) numpy arrays.

    The same functions as :func:`~lpft_theory.metrics.trajectory_metrics` (reduced
    coordinates), vmapped over members and times. ``perp_drift``
    (:math:`\|(B(t)-B_0)\Pi_{S^\perp}\|_2`, Lemma A.3) needs the lifted B (memory N·T·k·d); in reduced
    coordinates it only shows rounding, and ``perp=False`` leaves it out.
    """
    out = {k: np.asarray(v) for k, v in _batch_metrics(bt.rp, bt.v, bt.B_S, bt.initial[0], bt.initial[1]).items()}
    if perp:
        out["perp_drift"] = np.asarray(_perp_drift(bt.rp, bt.B_S))
    return out


@jax.jit
def _perp_drift(rp, B_S):
    from ..metrics import perp_drift

    def one(rp, B_S):
        B = rp.lift_B(B_S)
        B0 = rp.lift_B(rp.B_S0)
        return jax.vmap(perp_drift, in_axes=(0, None, None))(B, B0, rp.U_S)

    return jax.vmap(one)(rp, B_S)


@jax.jit
def _batch_metrics(rp, v, B_S, v_init, B_init):
    from .. import metrics as M

    def one_state(rp, v, B_S, v0, B0):
        return dict(
            train_loss=M.train_loss(rp, v, B_S),
            id_subspace_loss=M.id_subspace_loss(rp, v, B_S),
            ood_loss=M.ood_loss(rp, v, B_S),
            ood_loss_identity=M.ood_loss_identity(rp, v, B_S),
            feature_distance=M.feature_distance_upper(rp, B_S, rp.Bstar_red),
            feature_distance_lower=M.feature_distance_lower(rp, B_S, rp.Bstar_red),
            feature_distance_to_B0=M.feature_distance_upper(rp, B_S, rp.B0_red),
            distortion_id=M.distortion_id(rp, B_S),
            distortion_ood=M.distortion_ood(rp, B_S),
            balancedness_drift=M.balancedness_drift(v, B_S, v0, B0),
        )

    over_t = jax.vmap(one_state, in_axes=(None, 0, 0, None, None))
    return jax.vmap(over_t)(rp, v, B_S, v_init, B_init)

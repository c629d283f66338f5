r"""Batched simulation: many problems of one shape in one call (``jax.vmap`` over the pure cores).

A *batched* :class:`~lpft_theory.problem.Problem` is a Problem whose arrays carry one
leading batch axis (the ``.npz`` keys are unchanged); :func:`~lpft_theory.reduced.reduce`
stacks the reduced members. :func:`simulate_batch` integrates every member with the same
jitted cores as :func:`~lpft_theory.solve.simulate` (:func:`lpft_theory.integrate.integrate_batch`
and the closed-form LP, ``docs/theory.md`` §2–3), vmapped over the batch, so member ``i`` of the
batch equals ``simulate(problem[i], ...)`` to rounding. The result is a batched
:class:`~lpft_theory.trajectory.Trajectory` (leading axis N; ``member(i)`` is an ordinary one).

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
original order). ``Trajectory.info["work"]`` records the member-steps executed and the
waste, so the effect is measured, not assumed. With :mod:`lpft_theory.scale.sharding` each
device runs its own loop on its block of the (sorted) batch.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import flows
from .._precision import check_x64
from ..integrate import (DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_STEADY_SOLVER, FUSED_SOLVERS,
                         integrate_batch, lockstep_work)
from ..problem import Problem
from ..reduced import ReducedProblem, reduce
from ..solve import check_request
from ..trajectory import Trajectory
from . import sharding


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
#: fill the device (2**15 is a guess, not yet measured on a GPU).
AUTO_GROUP_SIZE = {"cpu": 16}
AUTO_GROUP_SIZE_ACCELERATOR = 2**15
#: The fused loop (``solver="tsit5_fused"``) on CPU: its cost per member-step does not fall with the batch, so
#: only lockstep waste counts and groups of 4 are fastest (64 FT problems, groups of 1/2/4/8/16/32:
#: 0.36/0.30/0.26/0.27/0.37/0.53 s; BENCHMARKS.md, fourth pass).
AUTO_GROUP_SIZE_FUSED = {"cpu": 4}


def default_group_size(solver: str = "tsit5") -> int:
    """The group size ``group_size="auto"`` uses for ``solver`` on the default backend (see :data:`AUTO_GROUP_SIZE`)."""
    backend = jax.default_backend()
    if solver in FUSED_SOLVERS and backend in AUTO_GROUP_SIZE_FUSED:
        return AUTO_GROUP_SIZE_FUSED[backend]
    return AUTO_GROUP_SIZE.get(backend, AUTO_GROUP_SIZE_ACCELERATOR)


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


@jax.jit
def _lp_batched(flow, t):
    """Closed-form LP of every member of a batched :class:`~lpft_theory.reduced.FlowView` at the times ``t`` (T,) -> (N, T, k)."""
    return jax.vmap(lambda f: flows.lp_closed_form(f)(t))(flow)


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
    steady_solver: str = DEFAULT_STEADY_SOLVER,
    max_steps: int = DEFAULT_MAX_STEPS,
    group_size="auto",
    sort: bool = True,
    mesh=None,
) -> Trajectory:
    r"""Simulate LP, FT or LP-FT for every member of a batch; same semantics as :func:`~lpft_theory.solve.simulate`.

    Parameters
    ----------
    problems : batched :class:`Problem` (one leading axis), list of equal-shape Problems, or a
        batched :class:`ReducedProblem`.
    method, times, lp_time, rtol, atol, gtol, solver, steady_solver, max_steps : as in ``simulate``
        (LP is always the closed form).
    group_size : solve in groups of this many members; ``None`` = the whole batch in one vmap;
        ``"auto"`` (default) = :func:`default_group_size` for the backend and solver. Every group is padded to
        ``group_size`` so all groups share one compilation.
    sort : with ``group_size``, order members by :func:`stiffness_estimate` before grouping
        (reduces lockstep waste; the output is in the input order either way).
    mesh : a :class:`jax.sharding.Mesh` from :func:`lpft_theory.scale.sharding.batch_mesh` to split
        each group over several devices, or ``"all"`` for every visible device (default: no sharding).

    Returns
    -------
    A batched :class:`~lpft_theory.trajectory.Trajectory`: ``v`` (N, T, k), ``B_S`` (N, T, k, m),
    ``num_steps`` (N,), ``converged`` (N,) or None, and ``info["work"]``, the lockstep accounting
    (``member_steps`` Σ s_i, ``lockstep_steps`` Σ over groups of |g|·max s_i with padding, ``waste``,
    ``groups``).
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
        group_size = default_group_size(solver)
    group_size = int(group_size)
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    group_size = min(group_size, N)
    flow = rp.flow
    B_S0 = rp.B_S0

    if method == "lp":
        v = _lp_batched(flow, jnp.asarray(t))
        B_S = jnp.broadcast_to(B_S0[:, None], (N, t.size) + B_S0.shape[1:])
        zero = np.zeros(N, dtype=np.int64)
        return Trajectory(t, v, B_S, method, "closed-form", zero, np.ones(N, bool) if np.isinf(t[-1]) else None, rp,
                          (rp.v0, B_S0), info=dict(work=lockstep_work(zero, np.arange(N), group_size)))

    v_start = rp.v0 if method == "ft" else _lp_batched(flow, jnp.asarray([lp_time]))[:, 0]
    y0 = (v_start, B_S0)
    order = np.arange(N)
    if sort and group_size < N:
        order = np.argsort(stiffness_estimate(rp.G, v_start, B_S0), kind="stable")
    (v, B_S), steps, converged, work = integrate_batch(
        flows.ft_field, flow, y0, t, rtol=rtol, atol=atol, gtol=gtol, solver=solver, steady_solver=steady_solver,
        max_steps=int(max_steps), what=method.upper(), order=order, group_size=group_size, mesh=mesh)
    return Trajectory(t, v, B_S, method, solver, steps, converged, rp, y0, info=dict(work=work))

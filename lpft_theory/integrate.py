r"""The one integration driver: every flow of the package is solved here, and only here.

A *flow* is a vector field ``field(t, y, args)`` (diffrax's signature) on a pytree state ``y``:
FT, LP, L2-SP, frozen-head FT, the observer's segments and the adversarial surrogate all hand
their field to this module. It owns

* the solver table :data:`SOLVERS` and the default tolerances; the explicit solvers of
  :data:`FUSED_SOLVERS` (``"tsit5_fused"``) run the same tableau in a fixed-structure loop of the
  package's own (:mod:`lpft_theory._fused_rk`: one flat state, PI step control, about 2.9× less time per
  FT problem than ``diffeqsolve`` on CPU, ``BENCHMARKS.md``), for finite save times only;
* save-at handling (:func:`solve_at`: from t = 0, saved at increasing finite times);
* the steady state, i.e. the t = ∞ limit (:func:`solve_to_steady`): integrate until the field's
  norm falls below a threshold. For a gradient flow :math:`\dot y = -\nabla J(y)` the field's norm
  *is* the gradient norm, so no flow has to supply its own stopping test;
* short segments between two times (:func:`advance`, used inside other jitted code), also with the
  package's own Rosenbrock loop (:data:`ROSENBROCK_SOLVERS`, ``"rodas4_fused"``);
* a streaming stiff solve that hands every accepted step to the caller and saves nothing
  (:func:`rosenbrock_start`, :func:`rosenbrock_run`: the campaign's screen of the observer);
* every accepted step up to the steady state (:func:`solve_steps_to_steady`, the observer's certified minimum);
* the step budget and the one error type of a failed solve (:class:`SolverError`);
* the host-level entry :func:`integrate` (validated times, ``t = 0`` only, ``inf`` last) and its
  batched twin :func:`integrate_batch` (``jax.vmap`` of the same cores over a leading axis, in
  groups sorted by an ordering key to cut lockstep waste).

Tolerances, times and thresholds are traced arrays, so changing them never recompiles; the field,
the solver and the step budget are static.

See ``docs/theory.md`` §2–3 for the flows and the reduced coordinates they run in.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Callable, Optional

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from . import _fused_rk, _rosenbrock
from ._checks import number_vector

#: Solvers by name (diffrax). Near the minimum FT is stiff: an explicit solver sits at its stability limit
#: there, so the t = ∞ search uses an L-stable one (:data:`DEFAULT_STEADY_SOLVER`).
SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
}
#: Explicit solvers run by the package's own fixed-structure loop (:mod:`lpft_theory._fused_rk`) instead of
#: ``diffrax.diffeqsolve``: same tableau, PI step control, less overhead per step; finite save times only.
FUSED_SOLVERS = _fused_rk.FUSED_SOLVERS
#: Linearly implicit (Rosenbrock) solvers of the package's own (:mod:`lpft_theory._rosenbrock`: Rodas4, one
#: Jacobian and one inverse of the stage matrix per step) for autonomous fields: the t = ∞ search
#: (:func:`solve_to_steady`, the default there), :func:`advance` and the observer's streaming solve
#: (:func:`rosenbrock_start`, :func:`rosenbrock_run`); not a solver of :func:`solve_at` (save times).
ROSENBROCK_SOLVERS = _rosenbrock.ROSENBROCK_SOLVERS
DEFAULT_SOLVER = "tsit5"
#: The solver of the t = ∞ search (:func:`solve_to_steady`): the package's Rodas4, L-stable and linearly
#: implicit. On the figures' eps sweep it reaches the steady states in 4.8x less time than diffrax's
#: Kvaerno5 (the default before), as close to a tight reference (``BENCHMARKS.md``, seventh pass).
DEFAULT_STEADY_SOLVER = "rodas4_fused"
DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-12
#: Stop criterion for t = inf: ‖field‖ <= gtol · max(1, ‖field at the start‖).
DEFAULT_GTOL = 1e-10
#: Horizon searched for the steady state when t = inf is requested.
STEADY_STATE_HORIZON = 1e8
DEFAULT_MAX_STEPS = 2**21

#: Forward-only solves (no reverse-mode derivative needed) use a plain ``lax.while_loop``:
#: much cheaper under ``vmap`` than the default checkpointed loop.
FORWARD = diffrax.ForwardMode()


class SolverError(RuntimeError):
    """A diffrax solve did not finish: the step budget ran out or the step size collapsed.

    The message names what to change (``max_steps``, the tolerances, or a stiff solver).
    """


def check_solver(name: str, what: str = "solver", *, fused: bool = True, rosenbrock: bool = False) -> str:
    """``name`` must be a key of :data:`SOLVERS` (or, where ``fused``, of :data:`FUSED_SOLVERS`; where
    ``rosenbrock``, of :data:`ROSENBROCK_SOLVERS`); returns it.

    The fused solvers (:mod:`lpft_theory._fused_rk`) serve finite save times only: pass
    ``fused=False`` for a steady-state solver. The Rosenbrock solver serves the steady state
    (:func:`solve_to_steady`), not save times: pass ``rosenbrock=True`` there.
    """
    names = tuple(SOLVERS) + (tuple(FUSED_SOLVERS) if fused else ()) + (tuple(ROSENBROCK_SOLVERS) if rosenbrock else ())
    if name not in names:
        raise ValueError(f"{what} must be one of {names}, got {name!r}")
    return name


def field_norm(field: Callable, args, y) -> jax.Array:
    r"""Euclidean norm of ``field(0, y, args)`` over every leaf: the gradient norm of a gradient flow."""
    leaves = jax.tree_util.tree_leaves(field(0.0, y, args))
    return jnp.sqrt(sum(jnp.sum(x**2) for x in leaves))


def _diffeqsolve(field, args, y0, t0, t1, rtol, atol, *, solver, max_steps, saveat, event=None, adjoint=None,
                 dt_resume=None):
    """The one call of ``diffrax.diffeqsolve`` in the package (adaptive PID step control, never throws).

    ``dt_resume`` (a traced scalar, optional): the first step size of a solve that *continues* an
    earlier one (its last accepted step); where it is not positive, the first step has the size of
    diffrax's own initial-step selection (computed here by the controller's ``init``). One compiled
    kernel then serves both the start and every continuation. Passing ``dt_resume`` at all changes the
    discretisation slightly against ``dt0=None`` (same first step size, but diffrax then rejects and
    re-sizes it differently; the solutions agree to the tolerances, measured in ``BENCHMARKS.md``).
    """
    kwargs = {} if adjoint is None else dict(adjoint=adjoint)
    term, slv = diffrax.ODETerm(field), SOLVERS[solver]()
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    dt0 = None
    if dt_resume is not None:
        t_auto, _ = controller.init(term, t0, t1, y0, None, args, slv.func, slv.error_order(term))
        dt0 = jnp.where(dt_resume > 0, dt_resume, t_auto - t0)
    return diffrax.diffeqsolve(
        term, slv, t0=t0, t1=t1, dt0=dt0, y0=y0, args=args, saveat=saveat,
        stepsize_controller=controller, event=event, max_steps=max_steps, throw=False, **kwargs,
    )


def _ok(sol):
    return sol.result == diffrax.RESULTS.successful


def _ok_finite(sol):
    """The solve finished and every saved state is finite (for saves at given times, all filled)."""
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(sol.ys)]))
    return _ok(sol) & finite


@partial(jax.jit, static_argnames=("field", "solver", "max_steps", "forward"))
def solve_at(field, args, y0, ts, rtol, atol, *, solver=DEFAULT_SOLVER, max_steps=DEFAULT_MAX_STEPS,
             forward: bool = True):
    """Integrate ``field`` from t = 0 and save at the finite times ``ts`` (``ts[-1] > 0``).

    Pure, jitted and vmappable. ``forward=False`` keeps diffrax's checkpointed adjoint so the
    solve can be differentiated (the adversarial search).

    Returns:
        ``(ys, num_steps, ok)``: the states at ``ts`` (leading axis T), the accepted + rejected
        steps, and whether the solve finished.
    """
    if solver in FUSED_SOLVERS:
        if not forward:
            raise ValueError(f"solver {solver!r} cannot be differentiated in reverse mode; use 'tsit5'")
        return _fused_rk.solve_at(field, args, y0, ts, rtol, atol, solver=solver, max_steps=max_steps)
    sol = _diffeqsolve(field, args, y0, jnp.zeros((), ts.dtype), ts[-1], rtol, atol, solver=solver,
                       max_steps=max_steps, saveat=diffrax.SaveAt(ts=ts), adjoint=FORWARD if forward else None)
    return sol.ys, sol.stats["num_steps"], _ok_finite(sol)


def _steady_event(field, threshold):
    """The steady-state event of :func:`solve_to_steady` and :func:`solve_steps_to_steady` (field norm <= threshold)."""

    def cond_fn(t, y, args, **kwargs):
        return field_norm(field, args, y) <= threshold

    return diffrax.Event(cond_fn)


@partial(jax.jit, static_argnames=("field", "solver", "max_steps"))
def solve_to_steady(field, args, y0, t0, threshold, rtol, atol, *, solver=DEFAULT_STEADY_SOLVER,
                    max_steps=DEFAULT_MAX_STEPS):
    """Integrate ``field`` from ``(t0, y0)`` until ``field_norm <= threshold`` (the t = ∞ limit).

    Returns:
        ``(y_end, num_steps, reached)``; ``reached`` is False when the horizon
        (:data:`STEADY_STATE_HORIZON`) or the step budget ran out first.
    """

    if solver in ROSENBROCK_SOLVERS:
        y_end, steps, _ = _rosenbrock.to_steady(field, args, y0, t0, threshold, rtol, atol,
                                                horizon=STEADY_STATE_HORIZON, max_steps=max_steps, solver=solver)
        return y_end, steps, field_norm(field, args, y_end) <= threshold
    sol = _diffeqsolve(field, args, y0, t0, t0 + STEADY_STATE_HORIZON, rtol, atol, solver=solver,
                       max_steps=max_steps, saveat=diffrax.SaveAt(t1=True), event=_steady_event(field, threshold),
                       adjoint=FORWARD)
    y_end = jax.tree_util.tree_map(lambda a: a[-1], sol.ys)
    return y_end, sol.stats["num_steps"], field_norm(field, args, y_end) <= threshold


def solve_steps_to_steady(field, args, y0, t0, t1, threshold, rtol, atol, *, solver="kvaerno5",
                          max_steps=8192, dt_resume=None):
    """Integrate ``field`` from ``(t0, y0)`` towards ``t1`` and save the state at **every accepted step**,
    stopping at the first step where ``field_norm <= threshold`` (the steady state); for use inside
    jitted/vmapped code (the observer's certified minimum, :mod:`lpft_theory.theory.observe`).

    ``t1 == t0`` returns no steps. The buffers have length ``max_steps``; entries after the last
    accepted step are ``inf`` (diffrax's fill value). ``dt_resume``: continue an earlier solve that ran
    out of ``max_steps`` with this first step size (its last accepted step; see :func:`_diffeqsolve`),
    instead of selecting the first step afresh, which near a stiff steady state can start with a step
    far too large for the implicit solver.

    Returns:
        ``(ts, ys, n_saved, num_steps, reached, ok, out_of_budget)``: step times (max_steps,), states
        (leading axis max_steps), the number of saved (accepted) steps, accepted + rejected steps, whether
        the steady-state event fired, whether the solve finished without error (budget or step-size
        collapse; an event counts as finished), and whether it stopped only because ``max_steps`` ran out
        (then it can be continued from its last saved state).
    """

    sol = _diffeqsolve(field, args, y0, t0, t1, rtol, atol, solver=solver, max_steps=max_steps,
                       saveat=diffrax.SaveAt(steps=True), event=_steady_event(field, threshold), adjoint=FORWARD,
                       dt_resume=dt_resume)
    reached = sol.result == diffrax.RESULTS.event_occurred
    ok = _ok(sol) | reached
    n_saved = jnp.sum(jnp.isfinite(sol.ts)).astype(jnp.int32)
    budget = sol.result == diffrax.RESULTS.max_steps_reached
    return sol.ts, sol.ys, n_saved, sol.stats["num_steps"], reached, ok, budget


def advance(field, args, y, t0, t1, rtol, atol, *, solver="kvaerno5", max_steps=4096):
    """Integrate from ``(t0, y)`` to ``t1`` (``t1 == t0`` returns ``y``); for use inside jitted code.

    Returns:
        ``(y(t1), num_steps, ok)``.
    """
    if solver in ROSENBROCK_SOLVERS:
        return _rosenbrock.advance(field, args, y, t0, t1, rtol, atol, max_steps=max_steps, solver=solver)
    sol = _diffeqsolve(field, args, y, t0, t1, rtol, atol, solver=solver, max_steps=max_steps,
                       saveat=diffrax.SaveAt(t1=True), adjoint=FORWARD)
    return jax.tree_util.tree_map(lambda x: x[-1], sol.ys), sol.stats["num_steps"], _ok_finite(sol)


def rosenbrock_start(field, args, y0, t0, t1, rtol, atol, obs, *, solver="rodas4_fused", h0=None) -> dict:
    """The carry of a streaming Rosenbrock solve (:func:`lpft_theory._rosenbrock.start`); for jitted code."""
    return _rosenbrock.start(field, args, y0, t0, t1, rtol, atol, obs, solver=solver, h0=h0)


def rosenbrock_run(field, args, template, carry, rtol, atol, on_accept, *, max_steps, solver="rodas4_fused"):
    """At most ``max_steps`` more attempted steps of a streaming Rosenbrock solve, calling ``on_accept`` on
    every accepted step (:func:`lpft_theory._rosenbrock.run`); for jitted code. No state is saved: the
    caller keeps what it needs in its observation state."""
    return _rosenbrock.run(field, args, template, carry, rtol, atol, on_accept, max_steps=max_steps,
                           solver=solver)


#: Whether a streaming Rosenbrock carry goes on (not stopped, not failed, short of its end time).
rosenbrock_unfinished = _rosenbrock.unfinished


def failure_message(what: str, max_steps: int, members=None) -> str:
    """The one message of a failed solve, with the options that fix it."""
    who = "" if members is None else f" for batch member(s) {list(members)[:10]}"
    return (f"{what}: the diffrax solve did not finish{who} (max_steps={max_steps} exhausted or step size "
            "collapsed); raise max_steps (CLI: --max-steps), loosen rtol/atol, or use the stiff solver kvaerno5")


def check_times(times) -> np.ndarray:
    """Validate save times: 1-D, non-negative, strictly increasing, finite except ``inf`` last."""
    t = number_vector(times, "times")
    if np.any(t < 0):
        raise ValueError(f"times must be non-negative, got {t[t < 0][0]:g}")
    if np.any(np.isinf(t[:-1])):
        raise ValueError("times: inf is only allowed as the last time")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t


def _split_times(t):
    """``(finite save times, whether inf is asked for last)``, after :func:`check_times` (diffrax's own
    checks of the save times give NaN, not an error, under the command line: :mod:`lpft_theory._cache`)."""
    t = check_times(t)
    finite = t[np.isfinite(t)]
    return finite, bool(t.size and np.isinf(t[-1]))


def _stack_like(y0, T, lead=()):
    """``y0`` repeated T times along a new time axis (after ``lead`` batch axes)."""
    n = len(lead)
    return jax.tree_util.tree_map(
        lambda a: jnp.broadcast_to(jnp.expand_dims(a, n), a.shape[:n] + (T,) + a.shape[n:]), y0)


def integrate(field: Callable, args, y0, times, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
              gtol: float = DEFAULT_GTOL, solver: str = DEFAULT_SOLVER,
              steady_solver: str = DEFAULT_STEADY_SOLVER, max_steps: int = DEFAULT_MAX_STEPS,
              what: str = "flow", threshold_from=None):
    r"""Save the solution of ``field`` at the validated ``times`` (increasing, ``inf`` allowed last).

    Arguments:
        field: ``field(t, y, args)``, static (a module-level function).
        args: the field's arguments (a pytree; traced).
        y0: the state at t = 0.
        times: save times (validated by :func:`check_times`).
        gtol: relative stop criterion of the t = ∞ search,
            :math:`\|f(y)\| \le g_{tol}\max(1, \|f(y_s)\|)` with :math:`y_s` = ``threshold_from``
            (default ``y0``): the start of the flow the limit belongs to.
        what: the flow's name, for the error message.

    Returns:
        ``(ys, num_steps, converged)``; ``converged`` is None when ``inf`` was not asked for.

    Raises:
        SolverError: a finite-time solve did not finish.
    """
    finite, want_inf = _split_times(times)
    T = finite.size
    if T == 0:
        ys, steps = _stack_like(y0, 0), 0
    elif finite[-1] == 0.0:
        ys, steps = _stack_like(y0, T), 0
    else:
        ys, steps, ok = solve_at(field, args, y0, jnp.asarray(finite), jnp.asarray(rtol), jnp.asarray(atol),
                                 solver=solver, max_steps=int(max_steps))
        if not bool(ok):
            raise SolverError(failure_message(what, max_steps))
        steps = int(steps)
    converged = None
    if want_inf:
        start = jax.tree_util.tree_map(lambda a: a[-1], ys) if T else y0
        t0 = float(finite[-1]) if T else 0.0
        ref = y0 if threshold_from is None else threshold_from
        target = gtol * max(1.0, float(field_norm(field, args, ref)))
        if float(field_norm(field, args, start)) <= target:  # already stationary
            y_inf, more, ok = start, 0, True
        else:
            y_inf, more, ok = solve_to_steady(field, args, start, jnp.asarray(t0), jnp.asarray(target),
                                              jnp.asarray(rtol), jnp.asarray(atol), solver=steady_solver,
                                              max_steps=int(max_steps))
        ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), ys, y_inf)
        steps += int(more)
        converged = bool(ok)
    return ys, steps, converged


# ---------------------------------------------------------------------------
# batched: the same cores, vmapped over a leading axis of (args, y0), in groups


@lru_cache(maxsize=None)
def batched_solve_at(field, solver: str, max_steps: int):
    """The vmapped :func:`solve_at` as ``fn((args, y0), (ts, rtol, atol))`` (cached per field, solver and budget).

    The function :func:`integrate_batch` runs per group; :func:`jit_cached` jits it once.
    """

    def fn(batched, replicated):
        args, y0 = batched
        ts, rtol, atol = replicated
        return jax.vmap(lambda a, y: solve_at(field, a, y, ts, rtol, atol, solver=solver, max_steps=max_steps))(
            args, y0)

    return fn


@lru_cache(maxsize=None)
def _batched_steady(field, solver, max_steps):
    def fn(batched, replicated):
        args, y0, threshold = batched
        t0, rtol, atol = replicated
        return jax.vmap(lambda a, y, g: solve_to_steady(field, a, y, t0, g, rtol, atol, solver=solver,
                                                        max_steps=max_steps))(args, y0, threshold)

    return fn


_jitted: dict = {}


def jit_cached(fn):
    """``jax.jit(fn)``, cached so that every group of every batch reuses one compilation per shape."""
    if fn not in _jitted:
        _jitted[fn] = jax.jit(fn)
    return _jitted[fn]


def run_grouped(fn, batched, replicated, order, group_size: int, mesh=None):
    """Apply ``fn(batched, replicated)`` to groups of members taken in ``order`` (each group padded to
    ``group_size`` by repeating its last member, so all groups share one compilation); un-permute.

    With a ``mesh`` each group is split over its devices (:func:`lpft_theory.scale.sharding.run_sharded`).
    """
    n = len(order)
    outs = []
    for start in range(0, n, group_size):
        idx = order[start : start + group_size]
        idx_p = np.concatenate([idx, np.repeat(idx[-1:], group_size - idx.size)]) if idx.size < group_size else idx
        part = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx_p], batched)
        if mesh is None:
            out = jit_cached(fn)(part, replicated)
        else:
            from .scale import sharding

            out = sharding.run_sharded(fn, part, replicated, mesh=mesh)
        outs.append(jax.tree_util.tree_map(lambda a: a[: idx.size], out))
    cat = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *outs)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return jax.tree_util.tree_map(lambda a: a[inverse], cat)


def lockstep_work(steps, order, group_size: int) -> dict:
    r"""Lockstep accounting of grouped vmapped solves.

    A group :math:`g` costs :math:`|g|\max_{i\in g}s_i` member-steps instead of :math:`\sum_{i\in g}s_i`;
    returns ``member_steps`` (Σ s_i), ``lockstep_steps`` (padding included), ``waste`` (1 − their ratio)
    and ``groups``.
    """
    steps = np.asarray(steps, dtype=np.int64)
    total = int(steps.sum())
    lock = groups = 0
    for start in range(0, steps.size, group_size):
        idx = order[start : start + group_size]
        lock += group_size * int(steps[idx].max()) if idx.size else 0
        groups += 1
    return dict(member_steps=total, lockstep_steps=lock, waste=(1.0 - total / lock) if lock else 0.0, groups=groups)


def integrate_batch(field: Callable, args, y0, times, *, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                    gtol: float = DEFAULT_GTOL, solver: str = DEFAULT_SOLVER,
                    steady_solver: str = DEFAULT_STEADY_SOLVER, max_steps: int = DEFAULT_MAX_STEPS,
                    what: str = "flow", order: Optional[np.ndarray] = None, group_size: Optional[int] = None,
                    mesh=None):
    """:func:`integrate` for every member of a batch (leading axis N of ``args`` and ``y0``).

    Member ``i`` equals ``integrate(field, args[i], y0[i], times)`` to rounding. Members are solved
    in groups of ``group_size`` (default: all at once) taken in ``order`` (default: as given).

    Returns:
        ``(ys, num_steps, converged, work)``: states (N, T, ...), steps (N,), converged (N,) or None,
        and the lockstep accounting (:func:`lockstep_work`).

    Raises:
        SolverError: some member's finite-time solve did not finish.
    """
    N = int(jax.tree_util.tree_leaves(y0)[0].shape[0])
    order = np.arange(N) if order is None else np.asarray(order)
    group_size = N if group_size is None else min(int(group_size), N)
    finite, want_inf = _split_times(times)
    T = finite.size
    steps = np.zeros(N, dtype=np.int64)
    if T == 0:
        ys = _stack_like(y0, 0, lead=(N,))
    elif finite[-1] == 0.0:
        ys = _stack_like(y0, T, lead=(N,))
    else:
        rep = (jnp.asarray(finite), jnp.asarray(rtol), jnp.asarray(atol))
        ys, s, ok = run_grouped(batched_solve_at(field, solver, int(max_steps)), (args, y0), rep, order,
                                group_size, mesh)
        ok = np.asarray(ok)
        if not ok.all():
            raise SolverError(failure_message(what, max_steps, np.flatnonzero(~ok).tolist()))
        steps += np.asarray(s, dtype=np.int64)
    work = lockstep_work(steps, order, group_size)
    converged = None
    if want_inf:
        start = jax.tree_util.tree_map(lambda a: a[:, -1], ys) if T else y0
        t_start = float(finite[-1]) if T else 0.0
        norm = jax.vmap(lambda a, y: field_norm(field, a, y))
        threshold = gtol * jnp.maximum(1.0, norm(args, y0))
        rep = (jnp.asarray(t_start), jnp.asarray(rtol), jnp.asarray(atol))
        y_end, s, reached = run_grouped(_batched_steady(field, steady_solver, int(max_steps)),
                                        (args, start, threshold), rep, order, group_size, mesh)
        still = np.asarray(norm(args, start) <= threshold)  # already stationary: keep the state, no steps
        y_end = jax.tree_util.tree_map(
            lambda a, b: jnp.where(still.reshape((-1,) + (1,) * (a.ndim - 1)), b, a), y_end, start)
        s = np.where(still, 0, np.asarray(s, dtype=np.int64))
        more = lockstep_work(s, order, group_size)
        work = dict(member_steps=work["member_steps"] + more["member_steps"],
                    lockstep_steps=work["lockstep_steps"] + more["lockstep_steps"], groups=work["groups"])
        work["waste"] = 1.0 - work["member_steps"] / work["lockstep_steps"] if work["lockstep_steps"] else 0.0
        steps += s
        converged = still | np.asarray(reached)
        ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[:, None]], axis=1), ys, y_end)
    return ys, steps, converged, work

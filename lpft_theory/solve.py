r"""Integrating the flows: ``simulate(problem, method, times)`` and its pure-JAX core.

``simulate`` is the one entry point. It validates the request, reduces the problem
(O(n·d·m) once), integrates in reduced coordinates with diffrax (adaptive,
error-controlled; float64, rtol 1e-10, atol 1e-12 by default) and returns a
:class:`Trajectory` saved at the requested times. ``t = inf`` (last) asks for the
limit: LP in closed form, FT by integrating until the gradient norm falls below
``gtol`` (the trajectory records whether that happened).

Methods (THEORY.md §2): ``"lp"``, ``"ft"``, ``"lpft"`` (LP for ``lp_time`` — its
limit by default — then FT from :math:`(v_{lp}, B_0)`; times count the FT phase from 0).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Optional, Sequence

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from . import flows
from ._precision import check_x64
from .problem import Problem
from .reduced import ReducedProblem, reduce

METHODS = ("lp", "ft", "lpft")
SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
}
DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-12
#: Stop criterion for t = inf: ||grad L̂|| <= gtol * max(1, ||grad L̂ at the start||).
DEFAULT_GTOL = 1e-10
#: Horizon searched for the steady state when t = inf is requested.
STEADY_STATE_HORIZON = 1e8
DEFAULT_MAX_STEPS = 2**21


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Times and the state at each time, in reduced coordinates.

    Attributes
    ----------
    times : (T,) array, ``inf`` allowed last.
    v : (T, k) head.
    B_S : (T, k, m) S-part of the features, :math:`B_S = BU_S`.
    method, solver : what produced it.
    num_steps : accepted + rejected solver steps (0 for the closed-form LP).
    converged : for ``t = inf`` whether the gradient-norm stop criterion was met
        (None when ``inf`` was not requested).
    rp : the :class:`ReducedProblem` (needed to lift and for metrics).
    initial : ``(v, B_S)`` at the start of the (FT phase of the) flow.
    B_full : (T, k, d) only for ``coords="full"`` simulations (the integrated full
        B, not rebuilt from the reduced state).
    """

    times: np.ndarray
    v: jax.Array
    B_S: jax.Array
    method: str
    solver: str
    num_steps: int
    converged: Optional[bool]
    rp: ReducedProblem
    initial: tuple
    B_full: Optional[jax.Array] = None
    coords: str = "reduced"

    def B(self) -> jax.Array:
        """Full features B(t), shape (T, k, d): the integrated ones for ``coords="full"``,
        else rebuilt as :math:`B_SU_S^\\top + B_\\perp` (memory T·k·d)."""
        if self.B_full is not None:
            return self.B_full
        return self.rp.lift_B(self.B_S)

    def w(self) -> jax.Array:
        """Effective predictor :math:`w(t) = B(t)^\\top v(t)`, shape (T, d)."""
        return jnp.einsum("tkd,tk->td", self.B(), self.v)


def check_times(times) -> np.ndarray:
    """Validate save times: 1-D, non-negative, strictly increasing, finite except ``inf`` last."""
    try:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"times must be a sequence of numbers, got {times!r}") from None
    if t.size == 0:
        raise ValueError("times must contain at least one time")
    if np.any(np.isnan(t)):
        raise ValueError("times contains NaN")
    if np.any(t < 0):
        raise ValueError(f"times must be non-negative, got {t[t < 0][0]:g}")
    if np.any(np.isinf(t[:-1])):
        raise ValueError("times: inf is only allowed as the last time")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t


def check_request(method, times, rtol, atol, gtol, solver, steady_solver, lp_time):
    """Validate the arguments shared by :func:`simulate` and :func:`lpft_theory.scale.batch.simulate_batch`.

    Returns ``(times, rtol, atol, gtol, lp_time)`` as validated numbers.
    """
    check_method(method)
    t = check_times(times)
    rtol, atol, gtol = _check_tol("rtol", rtol), _check_tol("atol", atol), _check_tol("gtol", gtol)
    for name, val in (("solver", solver), ("steady_solver", steady_solver)):
        if val not in SOLVERS:
            raise ValueError(f"{name} must be one of {tuple(SOLVERS)}, got {val!r}")
    lp_time = float(lp_time)
    if math.isnan(lp_time) or lp_time < 0:
        raise ValueError(f"lp_time must be non-negative (inf for the LP limit), got {lp_time}")
    return t, rtol, atol, gtol, lp_time


def resolve_problem(problem, coords: str, who: str) -> ReducedProblem:
    """Check ``coords`` and return the :class:`ReducedProblem` of one (unbatched) problem.

    ``problem`` is a :class:`Problem` (reduced here) or an already reduced problem
    (only with ``coords="reduced"``). ``who`` names the caller in the batch error.
    """
    if coords not in ("reduced", "full"):
        raise ValueError(f"coords must be 'reduced' or 'full', got {coords!r}")
    if isinstance(problem, ReducedProblem):
        if coords == "full":
            raise ValueError("coords='full' needs the full Problem, not a ReducedProblem")
        rp = problem
    elif isinstance(problem, Problem):
        rp = reduce(problem)
    else:
        raise TypeError(f"problem must be a Problem or ReducedProblem, got {type(problem).__name__}")
    if rp.G.ndim != 2:
        raise ValueError(f"{who} takes one problem, not a batch; use lpft_theory.scale.batch / lpft_theory.scale.sweeps")
    return rp


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _check_tol(name, value):
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def simulate(
    problem,
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
    lp_solver: str = "closed",
    coords: str = "reduced",
) -> Trajectory:
    r"""Simulate one flow and save the state at ``times``.

    Parameters
    ----------
    problem : :class:`Problem` or an already reduced :class:`ReducedProblem`.
    method : ``"lp"``, ``"ft"`` or ``"lpft"``.
    times : increasing non-negative times; ``inf`` allowed last (the limit).
    lp_time : LP duration before FT for ``"lpft"`` (default: the LP limit).
    rtol, atol : diffrax PID controller tolerances.
    gtol : stop criterion for ``t = inf``: integrate until
        :math:`\|\nabla\hat L\| \le` ``gtol`` · max(1, ‖∇L̂‖ at the FT start).
    solver : ``"tsit5"`` (default), ``"dopri5"``, ``"dopri8"`` or ``"kvaerno5"``, for finite times.
    steady_solver : solver of the t → ∞ search (default ``"kvaerno5"``: near the minimum the
        flow is stiff, an explicit solver sits at its stability limit and its error floor
        keeps ‖∇L̂‖ above tight ``gtol``; the L-stable implicit solver takes large steps).
    max_steps : step budget of each diffrax solve.
    lp_solver : ``"closed"`` (eigendecomposition + expm1) or ``"ode"`` for LP.
    coords : ``"reduced"`` (default; cost per step independent of d and n) or
        ``"full"`` (integrates the (k + kd)-dimensional flow; for verification).
    """
    check_x64()
    t, rtol, atol, gtol, lp_time = check_request(method, times, rtol, atol, gtol, solver, steady_solver, lp_time)
    if lp_solver not in ("closed", "ode"):
        raise ValueError(f"lp_solver must be 'closed' or 'ode', got {lp_solver!r}")
    rp = resolve_problem(problem, coords, "simulate")

    finite = t[np.isfinite(t)]
    want_inf = bool(np.isinf(t[-1]))
    cfg = dict(rtol=rtol, atol=atol, solver=solver, max_steps=int(max_steps))
    lp_predict = flows.lp_closed_form(rp)

    if method == "lp":
        v0 = rp.v0
        if lp_solver == "closed":
            v = lp_predict(jnp.asarray(t))
            steps = 0
        else:
            v, steps = _solve_lp_ode(rp, v0, finite, cfg)
            if want_inf:
                v = jnp.concatenate([v, lp_predict(jnp.inf)[None]], axis=0)
        B_S = jnp.broadcast_to(rp.B_S0, (t.size,) + rp.B_S0.shape)
        return Trajectory(t, v, B_S, method, "closed-form" if lp_solver == "closed" else solver, int(steps),
                          True if want_inf else None, rp, (v0, rp.B_S0))

    v_start = rp.v0 if method == "ft" else lp_predict(lp_time)
    y0 = (v_start, rp.B_S0)
    if coords == "full":
        return _simulate_full(problem, rp, method, t, y0, cfg, gtol)
    ys, steps = _solve_ft(rp, y0, finite, cfg)
    converged = None
    if want_inf:
        start = (ys[0][-1], ys[1][-1]) if finite.size else y0
        t_start = float(finite[-1]) if finite.size else 0.0
        g0 = float(flows.ft_gradient_norm(rp, *y0))
        y_inf, more, ok = _steady_state(rp, start, t_start, dict(cfg, solver=steady_solver), gtol * max(1.0, g0))
        ys = (jnp.concatenate([ys[0], y_inf[0][None]]), jnp.concatenate([ys[1], y_inf[1][None]]))
        steps += more
        converged = bool(ok)
    return Trajectory(t, ys[0], ys[1], method, solver, int(steps), converged, rp, y0)


# ---------------------------------------------------------------------------
# pure-JAX cores (vmappable over rp / y0)


def _make_solver(name):
    return SOLVERS[name]()


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def ft_solve(rp, y0, ts, rtol, atol, *, solver="tsit5", max_steps=DEFAULT_MAX_STEPS):
    """Integrate the reduced FT flow from t=0 and save at ``ts`` (all finite, ts[-1] > 0).

    Pure and vmappable; tolerances and times are traced arrays (no recompilation when
    they change). Returns ``((v, B_S), num_steps, result_ok)``.
    """
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(flows.ft_field),
        _make_solver(solver),
        t0=jnp.zeros((), ts.dtype),
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=rp,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
    )
    return sol.ys, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def ft_steady_state(rp, y0, t0, gtol, rtol, atol, *, solver="tsit5", max_steps=DEFAULT_MAX_STEPS):
    """Integrate the reduced FT flow from ``(t0, y0)`` until ``‖∇L̂‖ < gtol``.

    Returns ``(y_end, num_steps, reached)``; ``reached`` is False if the horizon
    or the step budget ran out first.
    """

    def cond_fn(t, y, args, **kwargs):
        return flows.ft_gradient_norm(args, y[0], y[1]) <= gtol

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(flows.ft_field),
        _make_solver(solver),
        t0=t0,
        t1=t0 + STEADY_STATE_HORIZON,
        dt0=None,
        y0=y0,
        args=rp,
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event(cond_fn),
        max_steps=max_steps,
        throw=False,
    )
    y_end = jax.tree_util.tree_map(lambda a: a[-1], sol.ys)
    reached = flows.ft_gradient_norm(rp, y_end[0], y_end[1]) <= gtol
    return y_end, sol.stats["num_steps"], reached


def _fail(what, cfg):
    raise RuntimeError(
        f"{what}: the diffrax solve did not finish (max_steps={cfg['max_steps']} exhausted or step size "
        "collapsed); raise max_steps or loosen rtol/atol"
    )


def _solve_ft(rp, y0, finite, cfg):
    if finite.size == 0:
        return (y0[0][None][:0], y0[1][None][:0]), 0
    ts = jnp.asarray(finite)
    if finite[-1] == 0.0:  # only t = 0 requested
        return (jnp.broadcast_to(y0[0], (finite.size,) + y0[0].shape), jnp.broadcast_to(y0[1], (finite.size,) + y0[1].shape)), 0
    ys, steps, ok = ft_solve(rp, y0, ts, jnp.asarray(cfg["rtol"]), jnp.asarray(cfg["atol"]),
                             solver=cfg["solver"], max_steps=cfg["max_steps"])
    if not bool(ok):
        _fail("FT", cfg)
    return ys, int(steps)


def _steady_state(rp, y0, t0, cfg, gtol):
    if float(flows.ft_gradient_norm(rp, *y0)) <= gtol:  # already stationary (e.g. LP-FT with perfect features)
        return y0, 0, True
    y, steps, ok = ft_steady_state(rp, y0, jnp.asarray(t0), jnp.asarray(gtol), jnp.asarray(cfg["rtol"]),
                                   jnp.asarray(cfg["atol"]), solver=cfg["solver"], max_steps=cfg["max_steps"])
    return y, int(steps), bool(ok)


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def _lp_ode(rp, v0, ts, rtol, atol, *, solver, max_steps):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(flows.lp_field), _make_solver(solver), t0=jnp.zeros((), ts.dtype), t1=ts[-1], dt0=None,
        y0=v0, args=rp, saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps, throw=False,
    )
    return sol.ys, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful


def _solve_lp_ode(rp, v0, finite, cfg):
    if finite.size == 0:
        return v0[None][:0], 0
    if finite[-1] == 0.0:
        return jnp.broadcast_to(v0, (finite.size,) + v0.shape), 0
    v, steps, ok = _lp_ode(rp, v0, jnp.asarray(finite), jnp.asarray(cfg["rtol"]), jnp.asarray(cfg["atol"]),
                           solver=cfg["solver"], max_steps=cfg["max_steps"])
    if not bool(ok):
        _fail("LP", cfg)
    return v, int(steps)


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def _ft_full(problem, y0, ts, rtol, atol, *, solver, max_steps):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(flows.ft_field_full), _make_solver(solver), t0=jnp.zeros((), ts.dtype), t1=ts[-1],
        dt0=None, y0=y0, args=problem, saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps, throw=False,
    )
    return sol.ys, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful


def _simulate_full(problem, rp, method, t, y0_red, cfg, gtol):
    if np.isinf(t[-1]):
        raise ValueError("times: t = inf is only supported with coords='reduced'")
    v0 = y0_red[0]
    B0 = problem.B0
    if t[-1] == 0.0:
        v = jnp.broadcast_to(v0, (t.size,) + v0.shape)
        B = jnp.broadcast_to(B0, (t.size,) + B0.shape)
        steps = 0
    else:
        (v, B), steps, ok = _ft_full(problem, (v0, B0), jnp.asarray(t), jnp.asarray(cfg["rtol"]),
                                     jnp.asarray(cfg["atol"]), solver=cfg["solver"], max_steps=cfg["max_steps"])
        if not bool(ok):
            _fail("FT (full coordinates)", cfg)
    B_S = B @ rp.U_S
    return Trajectory(t, v, B_S, method, cfg["solver"], int(steps), None, rp, y0_red, B_full=B, coords="full")

r"""Integrating the flows: ``simulate(problem, method, times)`` and its pure-JAX core.

``simulate`` is the one entry point. It validates the request, reduces the problem
(O(n·d·m) once), integrates in reduced coordinates with the one driver
:mod:`lpft_theory.integrate` (diffrax, adaptive, error-controlled; float64, rtol 1e-10,
atol 1e-12 by default) and returns a :class:`~lpft_theory.trajectory.Trajectory` saved at
the requested times. ``t = inf`` (last) asks for the
limit: LP in closed form, FT by integrating until the gradient norm falls below
``gtol`` (the trajectory records whether that happened).

Methods (``docs/theory.md`` §2): ``"lp"``, ``"ft"``, ``"lpft"`` (LP for ``lp_time`` — its
limit by default — then FT from :math:`(v_{lp}, B_0)`; times count the FT phase from 0).
"""

from __future__ import annotations

import math
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from . import flows
from ._precision import check_x64
from .integrate import (DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_STEADY_SOLVER, check_solver,
                        check_times, integrate)
from .problem import Problem
from .reduced import ReducedProblem, reduce
from .trajectory import Trajectory

#: The paper's three methods: linear probing, fine-tuning, and LP then FT (``docs/theory.md`` §2).
METHODS = ("lp", "ft", "lpft")
#: Initial heads of the variants that can start from the problem's head or from LP's limit.
INITS = ("random", "lp")


def check_request(method, times, rtol, atol, gtol, solver, steady_solver, lp_time):
    """Validate the arguments shared by :func:`simulate` and :func:`lpft_theory.scale.batch.simulate_batch`.

    Returns ``(times, rtol, atol, gtol, lp_time)`` as validated numbers.
    """
    check_method(method)
    t = check_times(times)
    rtol, atol, gtol = check_tol("rtol", rtol), check_tol("atol", atol), check_tol("gtol", gtol)
    check_solver(solver, "solver")
    check_solver(steady_solver, "steady_solver", fused=False, rosenbrock=True)
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
    """``method`` must be one of :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def check_init(init: str) -> str:
    """``init`` must be one of :data:`INITS`."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


def initial_head(rp: ReducedProblem, init: str):
    r"""The head a variant starts from: the problem's :math:`v_0` (``"random"``) or :math:`v_{lp}^\infty` (``"lp"``)."""
    return rp.v0 if check_init(init) == "random" else flows.lp_limit(rp.flow)


def check_tol(name, value):
    """A tolerance must be a positive finite number."""
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
    steady_solver: str = DEFAULT_STEADY_SOLVER,
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
    steady_solver : solver of the t → ∞ search (default ``"rodas4_fused"``, the package's Rosenbrock
        method; ``"kvaerno5"`` or another diffrax solver also work). Near the minimum the flow is stiff:
        an explicit solver sits at its stability limit and its error floor keeps ‖∇L̂‖ above tight
        ``gtol``; the L-stable methods take large steps.
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
    flow = rp.flow
    cfg = dict(rtol=rtol, atol=atol, gtol=gtol, solver=solver, steady_solver=steady_solver, max_steps=int(max_steps))
    lp_predict = flows.lp_closed_form(flow)
    want_inf = bool(np.isinf(t[-1]))

    if method == "lp":
        if lp_solver == "closed":
            v, steps, used = lp_predict(jnp.asarray(t)), 0, "closed-form"
        else:
            finite = t[np.isfinite(t)]
            v, steps, _ = integrate(flows.lp_field, flow, rp.v0, finite, what="LP", **cfg)
            if want_inf:
                v = jnp.concatenate([v, lp_predict(jnp.inf)[None]], axis=0)
            used = solver
        B_S = jnp.broadcast_to(rp.B_S0, (t.size,) + rp.B_S0.shape)
        return Trajectory(t, v, B_S, method, used, int(steps), True if want_inf else None, rp, (rp.v0, rp.B_S0))

    v_start = rp.v0 if method == "ft" else lp_predict(lp_time)
    y0 = (v_start, rp.B_S0)
    if coords == "full":
        if want_inf:
            raise ValueError("times: t = inf is only supported with coords='reduced'")
        (v, B), steps, _ = integrate(flows.ft_field_full, problem, (v_start, problem.B0), t,
                                     what="FT (full coordinates)", **cfg)
        return Trajectory(t, v, B @ rp.U_S, method, solver, steps, None, rp, y0, B_full=B, coords="full")
    (v, B_S), steps, converged = integrate(flows.ft_field, flow, y0, t, what=method.upper(), **cfg)
    return Trajectory(t, v, B_S, method, solver, steps, converged, rp, y0)

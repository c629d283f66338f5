r"""Projected fine-tuning (beyond the paper; follow-up of Tian et al., CVPR 2023, "Trainable Projected
Gradient Method for Robust Fine-tuning", TPGM): FT constrained to the ball :math:`\|B - B_0\|_F \le \gamma`.

TPGM keeps the fine-tuned weights inside a ball around the pretrained ones by *projection*; L2-SP
(:mod:`lpft_theory.variants.l2sp`) pulls them back with a *penalty*. Here the constraint is exact and
the flow is the **projected gradient flow** (a projected dynamical system) of the training loss
:math:`\hat L(v, B) = \|XB^\top v - y\|^2` on the closed convex set
:math:`K_\gamma = \{(v, B) : \|B - B_0\|_F \le \gamma\}` (the head is free):

.. math:: \dot v = -\nabla_v\hat L,\qquad
          \dot B = \Pi_{T_{K}(B)}\big(-\nabla_B\hat L\big) =
          F - \mathbb 1\big[\|D\|_F = \gamma\big]\,\frac{\max(0, \langle F, D\rangle)}{\|D\|_F^2}\,D,

with :math:`D = B - B_0` and :math:`F = -\nabla_B\hat L = -2vr^\top X`: inside the ball it is FT; on
the sphere the outward normal component of the force is removed (an inward-pointing force is kept,
so the flow can leave the sphere again). This is the projection of the force on the tangent cone
:math:`T_K(B)`, the continuous-time limit of projected gradient descent with the Euclidean
projection onto the ball. γ = 0 freezes B (LP); γ = ∞ (or any γ above FT's own distance
:math:`\sup_t\|B_{ft}(t) - B_0\|_F`) is FT.

**Facts** [derived]:

1. *Lemma A.3 survives.* The normal :math:`D` has rows in S whenever :math:`D(0) = 0` and every
   update has rows in S (the force does, since :math:`X\Pi_{S^\perp} = 0`), so
   :math:`B\Pi_{S^\perp} = B_0\Pi_{S^\perp}` along the flow and
   :math:`\|B - B_0\|_F = \|B_S - B_{S,0}\|_F`: the flow runs in the reduced coordinates of
   :mod:`lpft_theory.reduced` (:func:`projected_field`; :func:`projected_field_full` is the same flow on
   full matrices, used to *measure* the S⊥ part).
2. *Training loss non-increasing:* :math:`\tfrac{d}{dt}\hat L = -\|\nabla_v\hat L\|^2 -
   \|\Pi_{T_K}(F)\|^2 \le 0` (the tangent-cone projection is the nearest point of a cone, so
   :math:`\langle F, \Pi_{T_K}F\rangle = \|\Pi_{T_K}F\|^2`).
3. *Stationary points* are the KKT points of :math:`\min\hat L` on :math:`K_\gamma`:
   :math:`\nabla_v\hat L = 0` and either :math:`\nabla_B\hat L = 0` inside or
   :math:`-\nabla_B\hat L = \mu D` with :math:`\mu\ge0` on the sphere. The field vanishes there, so
   the driver's t = ∞ test (field norm below a threshold) finds the limit.

**How it is integrated (exact constraint).** The state is :math:`(v, D)`. The features the field
reads, and the ones saved, are :math:`B = B_0 + P_\gamma(D)` with the radial projection
:math:`P_\gamma(D) = D\min(1, \gamma/\|D\|_F)`, and "on the sphere" means :math:`\|D\|_F \ge \gamma`.
For the exact solution :math:`P_\gamma(D) = D` (it never leaves the ball); for the numerical one the
saved :math:`\|B - B_0\|_F \le \gamma` holds to rounding, and the raw state's overshoot
:math:`\max(0, \|D\|_F/\gamma - 1)` stays at the solver's local error (the corrected field is tangent
to the sphere, so :math:`\tfrac{d}{dt}\|D\|^2 = 0` there): it is recorded in ``info["overshoot"]``.
The switch on the sphere makes the field discontinuous at the first contact; the adaptive step
control resolves it by rejecting steps, so the solve stays error-controlled.

Between the two limits the trade-off is the same as L2-SP's (a constraint instead of a penalty); see
``docs/follow_up/projected.md`` and :mod:`lpft_theory.followup.projected`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import flows
from .._precision import check_x64
from ..integrate import DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, check_solver, integrate
from ..solve import check_times, initial_head, resolve_problem
from ..trajectory import Trajectory


def check_gamma(gamma) -> float:
    """γ must be a number >= 0; ``inf`` is allowed (no constraint: FT).

    Raises:
        TypeError: not a number.
        ValueError: negative or NaN.
    """
    if isinstance(gamma, (str, bytes, bool)):
        raise TypeError(f"gamma must be a number, got {gamma!r}")
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise TypeError(f"gamma must be a number, got {gamma!r}") from None
    if math.isnan(g) or g < 0:
        raise ValueError(f"gamma must be a number >= 0 (inf for no constraint), got {g}")
    return g


def radial_projection(D, gamma):
    r""":math:`P_\gamma(D) = D\min(1, \gamma/\|D\|_F)`: the Euclidean projection of D onto the ball of radius γ."""
    n2 = jnp.sum(D**2)
    safe = jnp.where(n2 > 0, n2, 1.0)
    scale = jnp.where(n2 > gamma**2, gamma / jnp.sqrt(safe), 1.0)
    return D * scale


def tangent_cone_projection(F, D, gamma):
    r"""The force F projected on the tangent cone of the ball :math:`\|D\|_F\le\gamma` at :math:`P_\gamma(D)`.

    Inside (:math:`\|D\|_F < \gamma`): F. On or beyond the sphere: :math:`F - \max(0,\langle F,P\rangle)P/\|P\|^2`
    with :math:`P = P_\gamma(D)`. For γ = 0 the cone is {0}.
    """
    P = radial_projection(D, gamma)
    n2 = jnp.sum(D**2)
    p2 = jnp.sum(P**2)
    on = n2 >= gamma**2
    coef = jnp.where(on & (p2 > 0), jnp.maximum(0.0, jnp.sum(F * P)) / jnp.where(p2 > 0, p2, 1.0), 0.0)
    return jnp.where(gamma > 0, F - coef * P, jnp.zeros_like(F))


def projected_field(t, state, args):
    r"""Reduced projected-FT field, state ``(v, D)`` with :math:`D = B_S - B_{S,0}`, ``args = (flow, gamma)``.

    :math:`\dot v = -2B_Sr`, :math:`\dot D = \Pi_{T_K}(-2vr^\top)` with :math:`B_S = B_{S,0} + P_\gamma(D)`,
    :math:`r = G(B_S^\top v - a_\star)` (``flow`` = ``rp.flow``). Its norm is the projected-gradient norm.
    """
    flow, gamma = args
    v, D = state
    B_S = flow.B_S0 + radial_projection(D, gamma)
    r = flows.residual(flow, v, B_S)
    return (-2.0 * B_S @ r, tangent_cone_projection(-2.0 * jnp.outer(v, r), D, gamma))


def projected_field_full(t, state, args):
    r"""The same flow on full matrices, state ``(v, D)`` with :math:`D = B - B_0` (k, d), ``args = (problem, gamma)``."""
    problem, gamma = args
    v, D = state
    B = problem.B0 + radial_projection(D, gamma)
    r = problem.X @ (B.T @ v) - problem.y
    g = problem.X.T @ r
    return (-2.0 * B @ g, tangent_cone_projection(-2.0 * jnp.outer(v, g), D, gamma))


_project_all = jax.jit(jax.vmap(radial_projection, in_axes=(0, None)))


def _norms(D):
    return np.sqrt(np.sum(np.asarray(D) ** 2, axis=(-2, -1)))


def simulate_projected(problem, gamma, times, *, init: str = "random", rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL,
                       gtol=DEFAULT_GTOL, solver: str = "tsit5", steady_solver: str = "dopri8",
                       max_steps: int = DEFAULT_MAX_STEPS, coords: str = "reduced") -> Trajectory:
    r"""Projected FT on :math:`\|B - B_0\|_F\le\gamma`, saved at ``times`` (``inf`` last = the limit).

    Arguments:
        problem: a :class:`~lpft_theory.problem.Problem` (or a reduced one with ``coords="reduced"``).
        gamma: the radius γ >= 0 (``inf``: FT).
        times: increasing times >= 0, ``inf`` allowed last.
        init: ``"random"`` starts from :math:`(v_0, B_0)`, ``"lp"`` from :math:`(v_{lp}^\infty, B_0)`
            (projected LP-FT).
        rtol, atol, gtol, solver, max_steps: as for :func:`lpft_theory.solve.simulate`.
        steady_solver: solver of the t = ∞ search; default ``"dopri8"`` (explicit): the field is
            discontinuous on the sphere, where the implicit ``kvaerno5`` (the default of FT's search) stalls
            in its Newton iterations (measured: minutes against seconds on a 12-dimensional problem).
        coords: ``"reduced"`` (default) or ``"full"`` (:func:`projected_field_full` on (k + k·d) numbers,
            finite times only; the S⊥ part of B is measured, not assumed).

    Returns:
        A :class:`~lpft_theory.trajectory.Trajectory` with ``method="ft-projected"`` whose B is
        :math:`B_0 + P_\gamma(D)`; ``info`` has ``gamma``, ``init``, ``distance``
        (:math:`\|B - B_0\|_F` at every saved point), ``on_sphere`` (bool per point) and ``overshoot``
        (the raw state's largest :math:`\max(0, \|D\|_F/\gamma - 1)` over the saved points).

    Raises:
        ValueError: bad γ, times, init, coords or solver; :class:`~lpft_theory.integrate.SolverError`
            when a solve does not finish.
    """
    check_x64()
    gamma = check_gamma(gamma)
    t = check_times(times)
    check_solver(solver, "solver")
    check_solver(steady_solver, "steady_solver", fused=False)
    rp = resolve_problem(problem, coords, "simulate_projected")
    v_start = initial_head(rp, init)
    g_a = jnp.asarray(gamma, dtype=rp.G.dtype)
    cfg = dict(rtol=float(rtol), atol=float(atol), gtol=float(gtol), solver=solver, steady_solver=steady_solver,
               max_steps=int(max_steps))
    y0 = (v_start, rp.B_S0)
    if coords == "full":
        if np.isinf(t[-1]):
            raise ValueError("times: t = inf is only supported with coords='reduced'")
        (v, D), steps, converged = integrate(projected_field_full, (problem, g_a), (v_start, jnp.zeros_like(problem.B0)),
                                             t, what="projected FT (full coordinates)", **cfg)
        P = _project_all(D, g_a)
        B = problem.B0 + P
        B_S, B_full = B @ rp.U_S, B
    else:
        (v, D), steps, converged = integrate(projected_field, (rp.flow, g_a), (v_start, jnp.zeros_like(rp.B_S0)), t,
                                             what="projected FT", **cfg)
        P = _project_all(D, g_a)
        B_S, B_full = rp.B_S0 + P, None
    raw = _norms(D)
    dist = _norms(P)
    over = float(np.max(np.maximum(0.0, raw / gamma - 1.0))) if math.isfinite(gamma) and gamma > 0 else 0.0
    on = raw >= gamma * (1.0 - 1e-9) if math.isfinite(gamma) else np.zeros(raw.shape, bool)
    info = dict(gamma=gamma, init=init, distance=dist, on_sphere=on, overshoot=over)
    return Trajectory(t, v, B_S, "ft-projected", solver, steps, converged, rp, y0, B_full=B_full, coords=coords,
                      info=info)

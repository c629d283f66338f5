r"""WiSE-FT (beyond the paper; ``docs/theory.md`` §7): weight-space interpolation of (v, B).

Wortsman et al. (2022, "Robust fine-tuning of zero-shot models") interpolate the
parameters of the initial and the fine-tuned model. Here

.. math:: \theta(\alpha) = (1-\alpha)\theta_0 + \alpha\theta_{ft},\qquad \theta = (v, B),

with two choices of :math:`\theta_0` (``wise_from``):

* ``"init"``: :math:`\theta_0 = (v_0, B_0)` and :math:`\theta_{ft}` = FT at time T;
* ``"lp"``: :math:`\theta_0 = (v_{lp}^\infty, B_0)` and :math:`\theta_{ft}` = LP-FT at time T
  (so α = 0 is LP and α = 1 is LP-FT).

Both endpoints share :math:`B_\perp = B_0\Pi_{S^\perp}` (Lemma A.3), so the
interpolation acts on the reduced state :math:`(v, B_S)` only and every
:math:`\theta(\alpha)` also has its S⊥ part frozen.

**w(α) is quadratic in α** [derived]. With :math:`\Delta v = v_{ft} - v_0` and
:math:`\Delta B = B_{ft} - B_0`:

.. math:: w(\alpha) = B(\alpha)^\top v(\alpha) = c_0 + c_1\alpha + c_2\alpha^2,\quad
          c_0 = B_0^\top v_0,\; c_1 = B_0^\top\Delta v + \Delta B^\top v_0,\; c_2 = \Delta B^\top\Delta v,

equivalently :math:`(1-\alpha)^2B_0^\top v_0 + \alpha(1-\alpha)(B_0^\top v_{ft} + B_{ft}^\top v_0) + \alpha^2 B_{ft}^\top v_{ft}`.
Hence every loss that is a quadratic form in :math:`e(\alpha) = w(\alpha) - w_\star` (ID-subspace,
OOD, training) is a quartic polynomial in α (:func:`loss_polynomial`).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .._checks import number_vector
from ..problem import Problem
from ..reduced import ReducedProblem
from ..solve import simulate
from ..trajectory import Trajectory

WISE_FROM = ("init", "lp")


def check_alphas(alphas) -> np.ndarray:
    """Validate the α grid: a non-empty 1-D sequence of finite numbers (α outside [0, 1] extrapolates)."""
    a = number_vector(alphas, "alpha")
    if not np.all(np.isfinite(a)):
        raise ValueError("alpha must be finite")
    return a


def interpolate(alphas, start, end):
    r"""Reduced states :math:`((1-\alpha)v_0 + \alpha v_1, (1-\alpha)B_{S,0} + \alpha B_{S,1})` for each α.

    ``start``/``end`` are ``(v, B_S)``; returns ``(v (A,k), B_S (A,k,m))``.
    """
    a = jnp.asarray(alphas, dtype=start[0].dtype)
    v = (1.0 - a)[:, None] * start[0] + a[:, None] * end[0]
    B = (1.0 - a)[:, None, None] * start[1] + a[:, None, None] * end[1]
    return v, B


def w_coefficients(v0, B0, v1, B1):
    r"""Coefficients :math:`(c_0, c_1, c_2)` of :math:`w(\alpha) = c_0 + c_1\alpha + c_2\alpha^2` (each shaped like ``B0[0]``).

    Works for full (k, d) or reduced (k, m) feature matrices alike.
    """
    dv, dB = v1 - v0, B1 - B0
    return B0.T @ v0, B0.T @ dv + dB.T @ v0, dB.T @ dv


def loss_polynomial(c, w_target, M):
    r"""Coefficients (degree 0..4) of :math:`(w(\alpha) - w_t)^\top M (w(\alpha) - w_t)` for ``c`` from :func:`w_coefficients`."""
    e = [c[0] - w_target, c[1], c[2]]
    out = [jnp.zeros((), dtype=c[0].dtype)] * 5
    for i in range(3):
        for j in range(3):
            out[i + j] = out[i + j] + e[i] @ (M @ e[j])
    return jnp.stack(out)


def endpoints(problem, wise_from: str = "init", ft_time: float = math.inf, **simulate_kwargs):
    """``(rp, theta0, theta_ft, traj)``: the interpolation endpoints in reduced form and the FT trajectory."""
    if wise_from not in WISE_FROM:
        raise ValueError(f"wise_from must be one of {WISE_FROM}, got {wise_from!r}")
    ft_time = float(ft_time)
    if math.isnan(ft_time) or ft_time < 0:
        raise ValueError(f"ft_time must be >= 0 (inf for the limit), got {ft_time}")
    method = "ft" if wise_from == "init" else "lpft"
    traj = simulate(problem, method, [ft_time], **simulate_kwargs)
    theta0 = traj.initial
    theta1 = (traj.v[-1], traj.B_S[-1])
    return traj.rp, theta0, theta1, traj


def wise_ft(problem, alphas, wise_from: str = "init", ft_time: float = math.inf, **simulate_kwargs):
    r"""WiSE-FT interpolation on the α grid.

    Returns:
        A :class:`~lpft_theory.trajectory.Trajectory` whose ``times`` hold the α values
        (``method="wise-ft"``, ``axis="alpha"``, ``initial`` = θ₀), so
        :func:`~lpft_theory.metrics.trajectory_metrics` gives every metric as a function of α
        (``balancedness_drift`` is measured from θ₀). Its ``info`` has ``wise_from``, ``ft_time``,
        ``converged`` (of the FT endpoint when ``ft_time = inf``), ``num_steps`` and the
        quartic coefficients of the OOD and ID-subspace losses in α.

    ``simulate_kwargs`` go to :func:`~lpft_theory.solve.simulate` for the FT endpoint.
    """
    a = check_alphas(alphas)
    if not isinstance(problem, (Problem, ReducedProblem)):
        raise TypeError(f"problem must be a Problem or ReducedProblem, got {type(problem).__name__}")
    rp, theta0, theta1, ft = endpoints(problem, wise_from, ft_time, **simulate_kwargs)
    v, B_S = interpolate(a, theta0, theta1)
    c = w_coefficients(theta0[0], rp.B_red(theta0[1]), theta1[0], rp.B_red(theta1[1]))
    P_S = jnp.diag(jnp.concatenate([jnp.ones(rp.m), jnp.zeros(rp.w_red.shape[0] - rp.m)]))
    info = dict(
        wise_from=wise_from, ft_time=float(ft_time), converged=ft.converged, num_steps=ft.num_steps,
        ood_loss_poly=np.asarray(loss_polynomial(c, rp.w_red, rp.sigma_red)),
        id_subspace_loss_poly=np.asarray(loss_polynomial(c, rp.w_red, P_S)),
    )
    return Trajectory(a, v, B_S, "wise-ft", ft.solver, ft.num_steps, ft.converged, rp, theta0, axis="alpha", info=info)


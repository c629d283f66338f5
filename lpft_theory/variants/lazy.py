r"""Lazy fine-tuning: the FT flow of the model linearised at its start (beyond the paper; Tomihari & Sato,
NeurIPS 2024, read LP-FT through the neural tangent kernel).

**The linearised model.** Around :math:`\theta_0 = (v_0, B_0)` the prediction map :math:`f(x;v,B) = v^\top Bx`
is replaced by its first-order Taylor expansion

.. math:: f_{lin}(x;\theta) = f(x;\theta_0) + \nabla_\theta f(x;\theta_0)\cdot(\theta - \theta_0)
          = w_{lin}^\top x,\qquad w_{lin} = B_0^\top v + (B - B_0)^\top v_0,

and gradient flow runs on :math:`\hat L_{lin}(\theta) = \|Xw_{lin} - y\|^2`:
:math:`\dot v = -2B_0X^\top r`, :math:`\dot B = -2v_0r^\top X`, :math:`r = Xw_{lin} - y` (a linear ODE in θ).

**The tangent kernel** [derived]. :math:`\nabla_vf(x) = B_0x` and :math:`\nabla_Bf(x) = v_0x^\top`, so
:math:`K(x, x') = \nabla_\theta f(x)\cdot\nabla_\theta f(x') = x^\top B_0^\top B_0x' + \|v_0\|^2x^\top x'`
(:func:`tangent_kernel`): :math:`w_{lin}` follows preconditioned linear regression,
:math:`\dot w_{lin} = -2PX^\top r` with :math:`P = B_0^\top B_0 + \|v_0\|^2I`.

**Closed form** [derived] (:func:`closed_form`). In reduced coordinates (``docs/theory.md`` §3) let
:math:`u = U_S^\top w_{lin} - a_\star`, :math:`P_S = B_{S,0}^\top B_{S,0} + \|v_0\|^2I_m`; then
:math:`\dot u = -2P_SGu`. With :math:`z = G^{1/2}u` and :math:`H = G^{1/2}P_SG^{1/2} = V\Lambda V^\top`,
:math:`z(t) = Ve^{-2\Lambda t}V^\top z_0`, and the parameters are

.. math:: v(t) = v_0 - 2B_{S,0}J(t),\qquad B_S(t) = B_{S,0} - 2v_0J(t)^\top,\qquad
          J(t) = \int_0^tGu = G^{1/2}V\,\mathrm{diag}\Big(\frac{1 - e^{-2\lambda_it}}{2\lambda_i}\Big)V^\top z_0,

(expm1 for accuracy at small t; at t = ∞ the factor is :math:`1/(2\lambda_i)`). Directions with
:math:`\lambda_i = 0` (only when :math:`v_0 = 0`) contribute nothing to the parameters. B's S⊥ part never moves
(Lemma A.3 holds here too), and the t = ∞ limit is the minimum-norm change of θ that fits the training data
through the Jacobian (gradient flow of a linear least-squares problem started at :math:`\delta\theta = 0`).

**What a Trajectory of this method holds.** The *parameters* :math:`(v(t), B_S(t))`; the metrics of
:func:`lpft_theory.metrics.trajectory_metrics` evaluate the bilinear model :math:`B(t)^\top v(t)` at them, which
differs from the linearised model's predictor by :math:`(B - B_0)^\top(v - v_0)`. :func:`linear_predictor` and
:func:`linear_metrics` give the linearised model's own predictor and losses.

**Against true FT** [derived]. Both flows start with the same velocity, so they agree to first order:
:math:`\theta_{ft}(t) - \theta_{lazy}(t) = \tfrac12\Delta t^2 + O(t^3)` with
:math:`\Delta = (4\|g\|^2v_0,\; 4B_0gg^\top)`, :math:`g = X^\top r(0)` (:func:`second_order_gap`): the head part
of the gap is proportional to ‖v₀‖ at a fixed initial residual, the feature part does not depend on it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._precision import check_x64
from ..integrate import (DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_STEADY_SOLVER, check_solver,
                         integrate)
from ..solve import check_times, initial_head, resolve_problem
from ..trajectory import Trajectory

#: The method name of :func:`simulate_lazy` (``simulate --method ft-lazy``).
METHOD = "ft-lazy"


def tangent_kernel(B0, v0, X1, X2):
    r"""Tangent kernel matrix :math:`K_{ij} = x_i^\top B_0^\top B_0x'_j + \|v_0\|^2x_i^\top x'_j` of :math:`f = v^\top Bx`
    at :math:`(v_0, B_0)`.

    Arguments:
        B0: features (k, d). v0: head (k,). X1: inputs (n1, d). X2: inputs (n2, d).

    Returns:
        (n1, n2) array.
    """
    return (X1 @ B0.T) @ (X2 @ B0.T).T + (v0 @ v0) * (X1 @ X2.T)


def _predict(params, Z):
    v, B_S = params
    return Z @ (B_S.T @ v)


def lazy_field(t, state, args):
    r"""Gradient field of the linearised loss, built with ``jax.jvp`` of the prediction map (reduced coordinates).

    ``state = (v, B_S)``; ``args = (Z, v0, B_S0, a_star)``. The linear model is
    :math:`f_{lin}(\theta) = f(\theta_0) + J_{\theta_0}(\theta - \theta_0)` on the training inputs (:math:`J` applied
    by ``jax.jvp``), the loss :math:`\|f_{lin} - Za_\star\|^2` (equal to :math:`\hat L_{lin}` up to the constant
    :math:`\|y - Za_\star\|^2`), and the field is minus its gradient.
    """
    Z, v0, B_S0, a_star = args
    theta0 = (v0, B_S0)
    target = Z @ a_star

    def loss(theta):
        delta = jax.tree_util.tree_map(lambda a, b: a - b, theta, theta0)
        f0, df = jax.jvp(lambda p: _predict(p, Z), (theta0,), (delta,))
        r = f0 + df - target
        return r @ r

    g = jax.grad(loss)(state)
    return jax.tree_util.tree_map(lambda x: -x, g)


def _sqrt_psd(G):
    lam, U = jnp.linalg.eigh(0.5 * (G + G.T))
    return (U * jnp.sqrt(jnp.maximum(lam, 0.0))) @ U.T


@jax.jit
def _closed_form(rp, v_init, t):
    return _closed_form_impl(rp, v_init, t)


def closed_form(rp, v_init, times):
    r"""Exact lazy-FT parameters at ``times`` (``inf`` allowed) from :math:`(v_{init}, B_{S,0})`; see the module docstring.

    One eigendecomposition of :math:`H = G^{1/2}P_SG^{1/2}`, then O(m²) per time.

    Arguments:
        rp: a :class:`~lpft_theory.reduced.ReducedProblem`. v_init: the head the model is linearised at (k,).
        times: 1-D times (non-negative; ``inf`` allowed).

    Returns:
        ``(v, B_S)`` of shapes (T, k) and (T, k, m).
    """
    return _closed_form(rp, jnp.asarray(v_init), jnp.asarray(times, dtype=rp.G.dtype).reshape(-1))


def _closed_form_impl(rp, v_init, t):
    B0 = rp.B_S0
    m = rp.G.shape[-1]
    Gh = _sqrt_psd(rp.G)
    P = B0.T @ B0 + (v_init @ v_init) * jnp.eye(m, dtype=rp.G.dtype)
    H = Gh @ P @ Gh
    lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
    tol = m * jnp.finfo(lam.dtype).eps * jnp.maximum(jnp.max(jnp.abs(lam)), 1.0)
    pos = lam > tol
    safe = jnp.where(pos, lam, 1.0)
    z0 = Gh @ (B0.T @ v_init - rp.a_star)
    c = V.T @ z0
    finite = jnp.where(jnp.isinf(t), 0.0, t)
    phi = -jnp.expm1(-2.0 * jnp.outer(finite, safe)) / (2.0 * safe)  # (1 - e^{-2λt}) / (2λ)
    phi = jnp.where(jnp.isinf(t)[:, None], 1.0 / (2.0 * safe), phi)
    phi = jnp.where(pos, phi, 0.0)
    J = (phi * c) @ V.T @ Gh  # (T, m): rows J(t)^T (Gh symmetric)
    v = v_init[None] - 2.0 * J @ B0.T
    B_S = B0[None] - 2.0 * v_init[None, :, None] * J[:, None, :]
    return v, B_S


def linear_predictor(rp, v, B_S, v_init, B_S_init):
    r"""The linearised model's predictor :math:`w_{lin} = B_0^\top v + (B - B_0)^\top v_0` in Q-coordinates (m + r,).

    Arguments:
        rp: the reduced problem; ``(v, B_S)`` the state; ``(v_init, B_S_init)`` the linearisation point.
    """
    B0_red = rp.B_red(B_S_init)
    return B0_red.T @ v + (rp.B_red(B_S) - B0_red).T @ v_init


def linear_metrics(traj) -> dict:
    r"""Training loss, ID-subspace loss and OOD loss of the *linearised* model along a lazy trajectory.

    Arguments:
        traj: a :class:`~lpft_theory.trajectory.Trajectory` of :func:`simulate_lazy` (unbatched).

    Returns:
        dict of (T,) numpy arrays ``train_loss``, ``id_subspace_loss``, ``ood_loss`` (:math:`e^\top\Sigma e`,
        :math:`e = w_{lin} - w_\star`).
    """
    v0, B0 = traj.initial
    out = _linear_metrics(traj.rp, traj.v, traj.B_S, v0, B0)
    return {k: np.asarray(v) for k, v in out.items()}


@jax.jit
def _linear_metrics(rp, vs, B_Ss, v0, B0):
    def one(v, B_S):
        w = linear_predictor(rp, v, B_S, v0, B0)
        e = w - rp.w_red
        u = w[: rp.m] - rp.a_star
        return dict(train_loss=u @ (rp.G @ u) + rp.label_offset, id_subspace_loss=jnp.sum(e[: rp.m] ** 2),
                    ood_loss=e @ (rp.sigma_red @ e))

    return jax.vmap(one)(vs, B_Ss)


def second_order_gap(rp, v_init):
    r""":math:`\Delta/2` with :math:`\Delta = (4\|g\|^2v_0, 4B_{S,0}gg^\top)`, :math:`g = G(B_{S,0}^\top v_0 - a_\star)`:
    the :math:`t^2` coefficient of :math:`\theta_{ft}(t) - \theta_{lazy}(t)` [derived, module docstring].

    Returns:
        ``(dv, dB_S)`` of shapes (k,) and (k, m).
    """
    g = rp.G @ (rp.B_S0.T @ v_init - rp.a_star)
    return 2.0 * (g @ g) * v_init, 2.0 * jnp.outer(rp.B_S0 @ g, g)


def simulate_lazy(problem, times, *, init: str = "random", solver: str = "closed", rtol=DEFAULT_RTOL,
                  atol=DEFAULT_ATOL, gtol=DEFAULT_GTOL, steady_solver: str = DEFAULT_STEADY_SOLVER,
                  max_steps: int = DEFAULT_MAX_STEPS) -> Trajectory:
    r"""Lazy FT linearised at :math:`(v_h, B_0)`, saved at ``times`` (``inf`` allowed last).

    Arguments:
        problem: a :class:`~lpft_theory.problem.Problem` or :class:`~lpft_theory.reduced.ReducedProblem`.
        times: increasing non-negative times.
        init: ``"random"`` (the problem's :math:`v_0`) or ``"lp"`` (:math:`v_{lp}^\infty`: lazy LP-FT).
        solver: ``"closed"`` (default, :func:`closed_form`) or a diffrax solver name, which integrates
            :func:`lazy_field` through :mod:`lpft_theory.integrate` (the check of the closed form).

    Returns:
        A :class:`~lpft_theory.trajectory.Trajectory` with ``method="ft-lazy"``; ``info["init"]``.

    Raises:
        ValueError: bad times, an unknown ``init`` or solver.
    """
    check_x64()
    t = check_times(times)
    if solver != "closed":
        check_solver(solver, "solver ('closed' or a diffrax solver)")
    rp = resolve_problem(problem, "reduced", "simulate_lazy")
    v_h = initial_head(rp, init)
    y0 = (v_h, rp.B_S0)
    if solver == "closed":
        v, B_S = closed_form(rp, v_h, t)
        return Trajectory(t, v, B_S, METHOD, "closed-form", 0, True if np.isinf(t[-1]) else None, rp, y0,
                          info=dict(init=init))
    cfg = dict(rtol=float(rtol), atol=float(atol), gtol=float(gtol), solver=solver, steady_solver=steady_solver,
               max_steps=int(max_steps))
    (v, B_S), steps, converged = integrate(lazy_field, (rp.Z, v_h, rp.B_S0, rp.a_star), y0, t, what="lazy FT",
                                           **cfg)
    return Trajectory(t, v, B_S, METHOD, solver, steps, converged, rp, y0, info=dict(init=init))

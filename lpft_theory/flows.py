r"""Gradient-flow vector fields and the closed-form linear probe.

Training loss (paper's normalisation, no 1/n, no 1/2) [printed]:

.. math:: \hat L(v,B) = \|XB^\top v - y\|_2^2,\qquad
          \nabla_v\hat L = 2BX^\top r,\quad \nabla_B\hat L = 2vr^\top X,\quad r = XB^\top v - y.

* **LP**: :math:`\dot v = -\nabla_v\hat L(v,B_0)`, :math:`\dot B = 0`.
* **FT**: :math:`\dot v = -\nabla_v\hat L`, :math:`\dot B = -\nabla_B\hat L`.

Fields take ``(t, state, flow)`` (diffrax's signature) with ``flow`` the
:class:`~lpft_theory.reduced.FlowView` of a reduced problem (``rp.flow``); they are solved by the
one driver :mod:`lpft_theory.integrate`. :func:`ft_field_full` takes the full-dimensional
:class:`~lpft_theory.problem.Problem` and is used for verification (Lemma A.3 is only testable
there) and benchmarks. See ``docs/theory.md`` §2–3.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from .integrate import field_norm


def residual(flow, v, B_S):
    r"""S-space residual :math:`r = G(B_S^\top v - a_\star)` (equals :math:`Z^\top(XB^\top v - y)`)."""
    return flow.G @ (B_S.T @ v - flow.a_star)


def lp_field(t, v, flow):
    r"""LP vector field in reduced coordinates: :math:`\dot v = -2B_{S,0}\,r`."""
    B = flow.B_S0
    return -2.0 * B @ residual(flow, v, B)


def ft_field(t, state, flow):
    r"""FT vector field in reduced coordinates: :math:`(\dot v, \dot B_S) = (-2B_Sr, -2vr^\top)`."""
    v, B_S = state
    r = residual(flow, v, B_S)
    return (-2.0 * B_S @ r, -2.0 * jnp.outer(v, r))


def ft_field_full(t, state, problem):
    r"""FT vector field on the full (k + k·d)-dimensional state, straight from the gradients."""
    v, B = state
    r = problem.X @ (B.T @ v) - problem.y
    g = problem.X.T @ r
    return (-2.0 * B @ g, -2.0 * jnp.outer(v, g))


def ft_gradient_norm(flow, v, B_S):
    r"""Euclidean norm of the full FT gradient :math:`(\nabla_v\hat L, \nabla_B\hat L)` at a reduced state.

    Exact in reduced coordinates: :math:`\nabla_B\hat L` has rows in S, so its norm equals that of
    :math:`\nabla_{B_S}`. It is the norm of :func:`ft_field`, the quantity the t = ∞ test of
    :mod:`lpft_theory.integrate` compares with its threshold.
    """
    return field_norm(ft_field, flow, (v, B_S))


def lp_closed_form(flow) -> Callable:
    r"""Exact LP flow :math:`v(t) = v_\infty + e^{-tA}(v_0 - v_\infty)` as a ``predict(t)`` closure.

    :math:`A = 2B_0X^\top XB_0^\top = 2B_{S,0}GB_{S,0}^\top` and
    :math:`b = 2B_0X^\top y = 2B_{S,0}Ga_\star` (``docs/theory.md`` §2). With
    :math:`A = V\Lambda V^\top` the coordinates :math:`\alpha = V^\top v` evolve as
    :math:`\alpha_i(t) = \alpha_i(0) - \operatorname{expm1}(-\lambda_it)(\beta_i/\lambda_i - \alpha_i(0))`
    (accurate at small t). Directions with :math:`\lambda_i = 0` (XB₀ᵀ not injective)
    keep their initial coordinate, so :math:`v_\infty` is the least-squares solution
    nearest :math:`v_0`. ``predict(jnp.inf)`` returns :math:`v_\infty`.

    The eigendecomposition is computed once; ``predict`` accepts a scalar or an
    array of times (returns shape ``times.shape + (k,)``).

    Arguments:
        flow: a :class:`~lpft_theory.reduced.FlowView` (``rp.flow``) or a
            :class:`~lpft_theory.reduced.ReducedProblem` (both have ``G``, ``a_star``, ``B_S0``, ``v0``).

    Raises:
        TypeError: ``flow`` is neither (for example a full :class:`~lpft_theory.problem.Problem`:
            reduce it first with :func:`lpft_theory.reduce`).
    """
    from .reduced import FlowView, ReducedProblem

    if not isinstance(flow, (FlowView, ReducedProblem)):
        raise TypeError(f"lp_closed_form takes a ReducedProblem (lpft_theory.reduce(problem)) or its .flow view, "
                        f"got {type(flow).__name__}")
    B = flow.B_S0
    A = 2.0 * B @ flow.G @ B.T
    A = 0.5 * (A + A.T)
    b = 2.0 * B @ (flow.G @ flow.a_star)
    lam, V = jnp.linalg.eigh(A)
    tol = lam.shape[-1] * jnp.finfo(lam.dtype).eps * jnp.max(jnp.abs(lam))
    pos = lam > tol
    safe = jnp.where(pos, lam, 1.0)
    alpha0 = V.T @ flow.v0
    beta = V.T @ b
    target = jnp.where(pos, beta / safe, alpha0)  # limit of each eigen-coordinate

    def predict(t):
        t = jnp.asarray(t, dtype=lam.dtype)
        decay = -jnp.expm1(-jnp.multiply.outer(t, jnp.where(pos, lam, 0.0)))  # 1 - e^{-λt}; inf -> 1
        decay = jnp.where(jnp.isinf(t)[..., None], jnp.where(pos, 1.0, 0.0), decay)
        alpha = alpha0 + decay * (target - alpha0)
        return alpha @ V.T

    return predict


def lp_limit(flow):
    r""":math:`v_{lp}^\infty`: the least-squares head nearest :math:`v_0` (unique when XB₀ᵀ is injective)."""
    return lp_closed_form(flow)(jnp.inf)


# ---------------------------------------------------------------------------
# Logistic loss (follow-up, issue 15; docs/follow_up/logistic.md). The squared loss above stays the default.


def logistic_labels(rp):
    r"""Labels :math:`s = \operatorname{sign}(Xw_\star)` in reduced coordinates: :math:`Xw_\star = Z\,U_S^\top w_\star`.

    Arguments:
        rp: a :class:`~lpft_theory.reduced.ReducedProblem`.

    Returns:
        (n,) array of ±1.

    Raises:
        ValueError: some :math:`x_i^\top w_\star` is 0 to rounding (its label would be undefined).
    """
    z = rp.Z @ rp.w_red[: rp.m]
    scale = jnp.max(jnp.abs(z))
    if bool(jnp.any(jnp.abs(z) <= 1e-12 * jnp.where(scale > 0, scale, 1.0))):
        raise ValueError("problem: some training input has x·w* = 0, so the logistic label sign(x·w*) is undefined")
    return jnp.sign(z)


def logistic_loss(Z, s, v, B_S):
    r"""Logistic training loss :math:`\sum_i\log(1 + e^{-s_iz_i})`, :math:`z = ZB_S^\top v` (no 1/n, like the squared loss)."""
    return jnp.sum(jnp.logaddexp(0.0, -s * (Z @ (B_S.T @ v))))


def logistic_gradient_factor(Z, s, v, B_S):
    r""":math:`g = \partial\hat L/\partial z` with :math:`g_i = -s_i\,\sigma(-s_iz_i)` (σ the logistic function).

    Every loss of the form :math:`\ell(XB^\top v)` has :math:`\nabla_v = BX^\top g`, :math:`\nabla_B = vg^\top X`:
    the rows of :math:`\nabla_B` lie in S = rowspace(X), so Lemma A.3 (S⊥ features frozen) and balancedness
    (:math:`vv^\top - BB^\top` constant) hold for it as for the squared loss.
    """
    return -s * jax.nn.sigmoid(-s * (Z @ (B_S.T @ v)))


def logistic_field(t, state, args):
    r"""Logistic-loss gradient flow in reduced coordinates, ``args = (Z, s, feature_rate)``.

    :math:`\dot v = -B_SZ^\top g`, :math:`\dot B_S = -\rho\,v(Z^\top g)^\top` with g from
    :func:`logistic_gradient_factor`: ``feature_rate`` ρ = 1 is FT, ρ = 0 is LP (features fixed at their
    initial value; 0·x = 0 exactly, so B does not move). One field for both, so LP, FT and LP-FT share one
    compiled solve.
    """
    Z, s, rate = args
    v, B_S = state
    q = Z.T @ logistic_gradient_factor(Z, s, v, B_S)
    return (-B_S @ q, -rate * jnp.outer(v, q))


def logistic_field_full(t, state, args):
    r"""The same flow on full matrices, ``args = (X, s, feature_rate)``: :math:`(-BX^\top g,\ -\rho\,v(X^\top g)^\top)`,
    g from :math:`z = XB^\top v` (to measure the S⊥ part of B instead of assuming it)."""
    X, s, rate = args
    v, B = state
    q = X.T @ logistic_gradient_factor(X, s, v, B)
    return (-B @ q, -rate * jnp.outer(v, q))

r"""Losses, feature distances, distortion and invariants, from reduced states.

Every function takes a :class:`~lpft_theory.reduced.ReducedProblem` ``rp`` and a state
``(v, B_S)`` for one time and returns a scalar; :func:`trajectory_metrics` maps them
over a :class:`~lpft_theory.trajectory.Trajectory` (any method, batched or not). Notation of
``docs/theory.md`` §1: :math:`e = B^\top v - w_\star`, S = rowspace(X).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import geometry


def train_loss(rp, v, B_S):
    r"""Training loss :math:`\hat L = \|XB^\top v - y\|^2 = u^\top Gu + \|y - Za_\star\|^2`, :math:`u = B_S^\top v - a_\star`."""
    u = B_S.T @ v - rp.a_star
    return u @ (rp.G @ u) + rp.label_offset


def ood_error(rp, v, B_S):
    r"""The error :math:`e = B^\top v - w_\star` in the reduced coordinates :math:`Q^\top e` (length m + r)."""
    return rp.B_red(B_S).T @ v - rp.w_red


def id_subspace_loss(rp, v, B_S):
    r"""ID-subspace loss :math:`\|\Pi_S e\|^2` = the largest squared error over unit x in S [printed, in words]."""
    e = ood_error(rp, v, B_S)
    return jnp.sum(e[: rp.m] ** 2)


def ood_loss(rp, v, B_S):
    r"""OOD loss :math:`L_{ood} = e^\top\Sigma e` [final] (Σ = ``sigma_ood``; identity if unset)."""
    e = ood_error(rp, v, B_S)
    return e @ (rp.sigma_red @ e)


def ood_loss_identity(rp, v, B_S):
    r"""Worst-case OOD loss :math:`\max_{\|x\|\le1}((w-w_\star)^\top x)^2 = \|e\|^2` [printed] (the Σ = I case)."""
    e = ood_error(rp, v, B_S)
    return jnp.sum(e**2)


def feature_distance_upper(rp, B_S, target_red):
    r"""Procrustes value :math:`\|B - U_\star B'\|_2` (see :func:`geometry.procrustes_distance`).

    Equal to :math:`d(B, B')` when B has orthonormal rows, an upper bound on it otherwise.
    ``target_red`` is B' in Q-coordinates (e.g. ``rp.Bstar_red`` or ``rp.B0_red``).
    """
    return geometry.procrustes_distance(rp.B_red(B_S), target_red)


def feature_distance_lower(rp, B_S, target_red):
    """Lower bound on :math:`d(B, B')` valid for any B (see :func:`geometry.feature_distance_lower_bound`)."""
    return geometry.feature_distance_lower_bound(rp.B_red(B_S), target_red)


def distortion_id(rp, B_S):
    r"""Mean feature change :math:`\frac1n\sum_i\|(B-B_0)x_i\|` over the training inputs."""
    dB = B_S - rp.B_S0
    return jnp.mean(jnp.linalg.norm(rp.Z @ dB.T, axis=-1))


def distortion_ood(rp, B_S):
    r"""Mean feature change :math:`\mathbb{E}\|(B-B_0)x\|`, x ~ N(0, Σ), over the fixed draws ``rp.ood_S``.

    Exact per draw in reduced coordinates because :math:`(B-B_0)x = (B_S - B_{S,0})U_S^\top x`
    when B's S⊥ part is frozen (Lemma A.3).
    """
    dB = B_S - rp.B_S0
    return jnp.mean(jnp.linalg.norm(rp.ood_S @ dB.T, axis=-1))


def balancedness(v, B_S):
    r"""The S-dependent part of :math:`vv^\top - BB^\top` (the :math:`B_\perp B_\perp^\top` part is constant)."""
    return jnp.outer(v, v) - B_S @ B_S.T


def balancedness_drift(v, B_S, v_init, B_S_init):
    r"""Lemma A.4: :math:`\|(vv^\top - BB^\top)(t) - (vv^\top - BB^\top)(0)\|_F`."""
    return jnp.linalg.norm(balancedness(v, B_S) - balancedness(v_init, B_S_init))


def perp_drift(B, B0, U_S):
    r"""Lemma A.3: :math:`\|(B - B_0)\Pi_{S^\perp}\|_2` for full matrices B (k, d).

    The spectral norm of the k×d matrix :math:`P = (B-B_0)\Pi_{S^\perp}` is computed as
    :math:`\sqrt{\lambda_{\max}(PP^\top)}` from its k×k Gram matrix: O(k·d) memory, never d×d.
    """
    D = B - B0
    P = D - (D @ U_S) @ U_S.T
    return jnp.sqrt(jnp.maximum(jnp.linalg.eigvalsh(P @ P.T)[-1], 0.0))


def head_alignment_error(v0, v_star, absolute: bool = True):
    r"""Head alignment error :math:`\varphi^2 = |(v_0^\top v_\star)^2 - \|v_\star\|^4|` [final].

    Returns :math:`\varphi` (the square root). With ``absolute=False`` the printed
    submission's expression without |·| is used; it can be negative, and then
    :math:`\varphi` is NaN (the printed statement is undefined there).
    """
    xp = geometry._xp(v0, v_star)  # host callers skip JAX's dispatch
    v0 = xp.asarray(v0)
    v_star = xp.asarray(v_star)
    phi2 = (v0 @ v_star) ** 2 - (v_star @ v_star) ** 2
    if absolute:
        phi2 = xp.abs(phi2)
    return xp.where(phi2 >= 0, xp.sqrt(xp.maximum(phi2, 0.0)), xp.nan)


def principal_angle_cosines(rp):
    r"""Cosines of the principal angles between :math:`R_0` = rowspace(B₀) and S, and S⊥.

    Returns ``(cos_S, cos_perp)`` in decreasing order (``[-1]`` is cos θ_max; the
    submission's :math:`\cos\theta_k` is entry k−1 of ``cos_perp``). Computed from
    :math:`B_0Q` since :math:`B_0`'s S⊥ part lies in span(W).
    """
    B = rp.B0_red
    k = B.shape[-2]
    cos_S = jnp.linalg.svd(B[:, : rp.m], compute_uv=False)[: min(k, rp.m)]
    cos_perp = jnp.linalg.svd(B[:, rp.m :], compute_uv=False)[: min(k, rp.d - rp.m)]
    return jnp.clip(cos_S, 0.0, 1.0), jnp.clip(cos_perp, 0.0, 1.0)


METRIC_NAMES = (
    "train_loss",
    "id_subspace_loss",
    "ood_loss",
    "ood_loss_identity",
    "feature_distance",
    "feature_distance_lower",
    "feature_distance_to_B0",
    "distortion_id",
    "distortion_ood",
    "balancedness_drift",
    "perp_drift",
)


def _state_metrics(rp, v, B_S, v_init, B_S_init):
    return dict(
        train_loss=train_loss(rp, v, B_S),
        id_subspace_loss=id_subspace_loss(rp, v, B_S),
        ood_loss=ood_loss(rp, v, B_S),
        ood_loss_identity=ood_loss_identity(rp, v, B_S),
        feature_distance=feature_distance_upper(rp, B_S, rp.Bstar_red),
        feature_distance_lower=feature_distance_lower(rp, B_S, rp.Bstar_red),
        feature_distance_to_B0=feature_distance_upper(rp, B_S, rp.B0_red),
        distortion_id=distortion_id(rp, B_S),
        distortion_ood=distortion_ood(rp, B_S),
        balancedness_drift=balancedness_drift(v, B_S, v_init, B_S_init),
    )


_state_metrics_t = jax.vmap(_state_metrics, in_axes=(None, 0, 0, None, None))


@jax.jit
def _metrics(rp, v, B_S, v_init, B_init):
    return _state_metrics_t(rp, v, B_S, v_init, B_init)


@jax.jit
def _metrics_batched(rp, v, B_S, v_init, B_init):
    return jax.vmap(_state_metrics_t)(rp, v, B_S, v_init, B_init)


def _perp_one(rp, B):
    r""":func:`perp_drift` of every saved B (T, k, d) of one member; O(k·d) memory per time (a k×k Gram matrix)."""
    B0 = rp.lift_B(rp.B_S0)
    return jax.vmap(perp_drift, in_axes=(0, None, None))(B, B0, rp.U_S)


def trajectory_metrics(traj, perp: bool = True) -> dict:
    r"""All metrics at every saved point of a :class:`~lpft_theory.trajectory.Trajectory`, as numpy arrays:
    shape (T,), or (N, T) for a batched trajectory.

    * ``feature_distance``: Procrustes value to B* (= d(B, B*) for orthonormal rows, an
      upper bound otherwise; NaN when B* is unknown); ``feature_distance_lower`` a lower
      bound; ``feature_distance_to_B0`` the Procrustes value to B₀.
    * ``balancedness_drift``: absolute Frobenius drift (Lemma A.4), from the flow's start.
    * ``perp_drift``: :math:`\|(B(t) - B_0)\Pi_{S^\perp}\|_2` (Lemma A.3). For
      ``coords="full"`` trajectories it is measured on the integrated B; for reduced
      ones B's S⊥ part is frozen by construction and the value only shows rounding.
      It needs the lifted B (memory T·k·d per member); ``perp=False`` leaves it out.
    * For ``coords="full"``, the OOD losses are evaluated on the full B too.
    """
    rp = traj.rp
    fn = _metrics_batched if traj.batched else _metrics
    out = {k: np.asarray(v) for k, v in fn(rp, traj.v, traj.B_S, traj.initial[0], traj.initial[1]).items()}
    names = [n for n in METRIC_NAMES if perp or n != "perp_drift"]
    if perp:
        B = traj.B()
        out["perp_drift"] = np.asarray(jax.vmap(_perp_one)(rp, B) if traj.batched else _perp_one(rp, B))
    if traj.coords == "full":
        Q = rp.basis
        w = jnp.einsum("tkd,tk->td", traj.B(), traj.v)
        e_red = w @ Q - rp.w_red  # Q^T e; exact if e in span(Q)
        e_full = w - rp.w_red @ Q.T
        out["ood_loss_identity"] = np.asarray(jnp.sum(e_full**2, axis=-1))
        out["ood_loss"] = np.asarray(jnp.einsum("ti,ij,tj->t", e_red, rp.sigma_red, e_red))
    return {name: out[name] for name in names}

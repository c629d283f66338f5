r"""Discrete gradient descent with layer-wise step sizes (beyond the paper; ``docs/theory.md`` §7).

The paper analyses gradient *flow* and names layer-wise learning rates as an open
question. Here, on the same loss :math:`\hat L = \|XB^\top v - y\|^2`,

.. math:: v_{s+1} = v_s - \eta_v\nabla_v\hat L(v_s,B_s),\qquad B_{s+1} = B_s - \eta_B\nabla_B\hat L(v_s,B_s),

from :math:`(v_0, B_0)` (``init="random"``: the problem's head) or from
:math:`(v_{lp}^\infty, B_0)` (``init="lp"``, an LP-FT variant). Because
:math:`\nabla_B\hat L = 2vr^\top X` has rows in S, every step leaves :math:`B\Pi_{S^\perp}`
unchanged (the discrete Lemma A.3), so GD runs in the reduced coordinates:

.. math:: v \leftarrow v - 2\eta_v B_Sr,\quad B_S \leftarrow B_S - 2\eta_B vr^\top,\quad r = G(B_S^\top v - a_\star).

(:func:`gd_full` runs the same iteration on full matrices to *measure* that.)

**Flow limit.** With :math:`(\eta_v, \eta_B) = \eta(a, b)` and ``steps`` = T/η, GD is the
explicit Euler method for the rate-weighted flow :math:`\dot v = -a\nabla_v\hat L`,
:math:`\dot B = -b\nabla_B\hat L` at time T, so it converges to it at first order as η → 0
(a = b = 1 is the FT flow of :mod:`lpft_theory.solve`). ``tests/test_gd.py`` measures the rate.

**Stability limit** [derived]. At a global minimum of :math:`\hat L` the S-residual
vanishes (:math:`B_S^\top v = a_\star`, also with noisy labels), so the Hessian is its
Gauss–Newton part :math:`H = 2J^\top GJ` with :math:`J(\delta v, \delta B_S) = B_S^\top\delta v + \delta B_S^\top v`.
GD with the step-size matrix :math:`P = \operatorname{diag}(\eta_vI_k, \eta_BI_{km})` is linearly
stable there iff :math:`\lambda_{\max}(P^{1/2}HP^{1/2}) < 2`, i.e. iff

.. math:: \rho(v, B_S) = \lambda_{\max}\big(G^{1/2}(\eta_vB_S^\top B_S + \eta_B\|v\|^2I_m)G^{1/2}\big) < 1

(using :math:`JPJ^\top = \eta_vB_S^\top B_S + \eta_B\|v\|^2I_m`). :func:`stability_ratio` computes ρ;
GD can only settle at a minimum with ρ ≤ 1. For :math:`\eta_B = 0` the iteration is linear
(GD on LP) and the limit is exact and global: it converges iff
:math:`\eta_v < 1/\lambda_{\max}(B_{S,0}GB_{S,0}^\top)` (:func:`lp_stability_limit`).

**Divergence** is detected, not raised: once the state is non-finite or its squared norm
exceeds :data:`BLOWUP` × (1 + its initial value), the iteration stops updating, the
step is recorded (``diverged_at``), the saved states from then on are NaN and a
:class:`DivergenceWarning` is issued.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import flows
from .._checks import nonnegative_number
from .._precision import check_x64
from ..solve import check_init, initial_head, resolve_problem
from ..trajectory import Trajectory
#: Divergence threshold on ‖v‖² + ‖B_S‖²_F relative to 1 + its initial value.
BLOWUP = 1e12
#: Default number of saved states (evenly spaced steps, first and last included).
DEFAULT_SAVES = 101


class DivergenceWarning(UserWarning):
    """A GD run left the stable region and blew up; the result records where."""


#: The facts a GD run records in ``Trajectory.info``.
INFO_KEYS = ("lr_v", "lr_B", "steps", "init", "diverged", "diverged_at", "stability_ratio_start",
             "stability_ratio_end", "lp_stability_limit", "grad_norm_end", "converged_at")


def check_rates(lr_v, lr_B, steps) -> tuple:
    """Step sizes finite and >= 0 (not both 0); ``steps`` an integer >= 1."""
    out = [nonnegative_number(lr_v, "lr_v"), nonnegative_number(lr_B, "lr_B")]
    if out[0] == 0 and out[1] == 0:
        raise ValueError("lr_v and lr_B are both 0: nothing would move")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return out[0], out[1], int(steps)


def stability_ratio(rp, v, B_S, lr_v, lr_B):
    r"""ρ = :math:`\lambda_{\max}(G^{1/2}(\eta_vB_S^\top B_S + \eta_B\|v\|^2I)G^{1/2})`; GD is linearly stable at a global minimum iff ρ < 1."""
    M = lr_v * (B_S.T @ B_S) + lr_B * (v @ v) * jnp.eye(B_S.shape[-1], dtype=B_S.dtype)
    lam, V = jnp.linalg.eigh(rp.G)
    Gh = (V * jnp.sqrt(jnp.clip(lam, 0.0, None))) @ V.T
    K = Gh @ M @ Gh
    return jnp.linalg.eigvalsh(0.5 * (K + K.T))[-1]


def lp_stability_limit(rp) -> float:
    r"""Exact GD limit for :math:`\eta_B = 0`: :math:`1/\lambda_{\max}(B_{S,0}GB_{S,0}^\top)` (the Hessian of LP is :math:`2B_{S,0}GB_{S,0}^\top`)."""
    A = rp.B_S0 @ rp.G @ rp.B_S0.T
    return float(1.0 / jnp.linalg.eigvalsh(0.5 * (A + A.T))[-1])


def save_steps(steps: int, n_saves: int = DEFAULT_SAVES, every: Optional[int] = None) -> np.ndarray:
    """Step indices to save: ``0, every, 2·every, …, steps`` or ``n_saves`` evenly spaced (0 and ``steps`` included)."""
    if every is not None:
        if isinstance(every, bool) or int(every) != every or every < 1:
            raise ValueError(f"save_every must be an integer >= 1, got {every!r}")
        s = np.arange(0, steps + 1, int(every))
        return np.unique(np.append(s, steps))
    return np.unique(np.round(np.linspace(0, steps, min(n_saves, steps + 1))).astype(np.int64))


def _gd_step(flow, v, B_S, lr_v, lr_B):
    """One reduced step; also returns the squared norm of the gradient being followed at the old state."""
    r = flows.residual(flow, v, B_S)
    gv, gB = 2.0 * (B_S @ r), 2.0 * jnp.outer(v, r)
    g2 = jnp.where(lr_v > 0, jnp.sum(gv**2), 0.0) + jnp.where(lr_B > 0, jnp.sum(gB**2), 0.0)
    return v - lr_v * gv, B_S - lr_B * gB, g2


#: Length of the inner ``lax.scan``; the number of steps is a traced argument (no recompilation per ``steps``).
CHUNK = 256


def _run(step_fn, data, v, B, lr_v, lr_B, save_at, steps, gtol):
    """At most ``steps`` (traced) updates as a ``lax.while_loop`` over ``lax.scan`` chunks of :data:`CHUNK`
    steps (steps beyond ``steps`` are masked). It stops early when the followed gradient's norm is
    <= ``gtol`` (converged) or when the state blows up (diverged). The state after step s is saved
    for s in ``save_at`` (sorted, 0 = the initial state); saves after a stop are left NaN.
    """
    size0 = jnp.sum(v**2) + jnp.sum(B**2)
    limit = BLOWUP * (1.0 + size0)
    n_save = save_at.shape[0]
    buf_v = jnp.full((n_save,) + v.shape, jnp.nan, v.dtype)
    buf_B = jnp.full((n_save,) + B.shape, jnp.nan, B.dtype)
    first = save_at[0] == 0
    buf_v = buf_v.at[0].set(jnp.where(first, v, buf_v[0]))
    buf_B = buf_B.at[0].set(jnp.where(first, B, buf_B[0]))
    ptr = jnp.where(first, 1, 0).astype(save_at.dtype)
    steps = jnp.asarray(steps, dtype=save_at.dtype)
    never = jnp.asarray(-1, dtype=save_at.dtype)

    def body(carry, s):
        v, B, dead, dead_at, done, done_at, ptr, buf_v, buf_B = carry
        v1, B1, g2 = step_fn(data, v, B, lr_v, lr_B)
        live = (s < steps) & ~dead & ~done
        conv = live & (g2 <= gtol**2)  # the state after s steps is stationary: stop before stepping
        done_at = jnp.where(conv, s, done_at)
        done = done | conv
        size = jnp.sum(v1**2) + jnp.sum(B1**2)
        bad = live & ~conv & (~jnp.isfinite(size) | (size > limit))
        dead_at = jnp.where(bad, s + 1, dead_at)
        dead = dead | bad
        move = live & ~conv & ~bad
        v = jnp.where(move, v1, v)
        B = jnp.where(move, B1, B)
        idx = jnp.minimum(ptr, n_save - 1)
        hit = move & (ptr < n_save) & (save_at[idx] == s + 1)
        buf_v = buf_v.at[idx].set(jnp.where(hit, v, buf_v[idx]))
        buf_B = buf_B.at[idx].set(jnp.where(hit, B, buf_B[idx]))
        ptr = ptr + hit.astype(ptr.dtype)
        return (v, B, dead, dead_at, done, done_at, ptr, buf_v, buf_B), None

    def chunk(state):
        c, carry = state
        carry, _ = jax.lax.scan(body, carry, c * CHUNK + jnp.arange(CHUNK, dtype=save_at.dtype))
        return c + 1, carry

    def more(state):
        c, carry = state
        return (c * CHUNK < steps) & ~carry[2] & ~carry[4]

    init = (v, B, jnp.asarray(False), never, jnp.asarray(False), never, ptr, buf_v, buf_B)
    _, (v, B, dead, dead_at, done, done_at, _, buf_v, buf_B) = jax.lax.while_loop(
        more, chunk, (jnp.zeros((), save_at.dtype), init))
    return buf_v, buf_B, v, B, dead, dead_at, done, done_at


@jax.jit
def gd_reduced(flow, v0, B_S0, lr_v, lr_B, save_at, steps, gtol):
    """Pure GD core in reduced coordinates (vmappable over ``flow``/starts/rates; ``steps``, ``gtol`` traced).

    Returns ``(v_saved, B_S_saved, v_last, B_S_last, diverged, diverged_at, converged, converged_at)``;
    ``v_last``/``B_S_last`` is the last state before divergence (or the stationary state reached).
    """
    return _run(_gd_step, flow, v0, B_S0, lr_v, lr_B, save_at, steps, gtol)


def _gd_step_full(problem, v, B, lr_v, lr_B):
    r = problem.X @ (B.T @ v) - problem.y
    g = problem.X.T @ r
    gv, gB = 2.0 * (B @ g), 2.0 * jnp.outer(v, g)
    g2 = jnp.where(lr_v > 0, jnp.sum(gv**2), 0.0) + jnp.where(lr_B > 0, jnp.sum(gB**2), 0.0)
    return v - lr_v * gv, B - lr_B * gB, g2


@jax.jit
def gd_full(problem, v0, B0, lr_v, lr_B, save_at, steps, gtol):
    """The same GD on full (k, d) matrices straight from the gradients (for verifying the S⊥ part)."""
    return _run(_gd_step_full, problem, v0, B0, lr_v, lr_B, save_at, steps, gtol)


def simulate_gd(problem, lr_v, lr_B, steps, *, init: str = "random", save_at=None, save_every=None,
                gtol: float = 0.0, coords: str = "reduced", warn: bool = True) -> Trajectory:
    r"""Run ``steps`` GD updates with step sizes ``lr_v`` (head) and ``lr_B`` (features).

    ``save_at``: step indices to save (sorted, within [0, steps]); default
    :func:`save_steps`. ``gtol > 0`` stops early once the norm of the gradient being followed
    (of the parameters with a positive step size) is <= ``gtol`` · max(1, its initial value);
    ``converged_at`` records the step and the later saved states repeat the stationary one.
    ``coords="full"`` iterates on full matrices (``B_full``).
    Divergence gives a :class:`DivergenceWarning` (unless ``warn=False``) and a result with
    ``info["diverged"]``; it never raises.

    Returns:
        A :class:`~lpft_theory.trajectory.Trajectory` with ``method="gd"``, ``axis="step"`` (``times``
        holds the saved step indices; NaN states after divergence) and ``info`` with the keys
        :data:`INFO_KEYS`: the rates, ``diverged``/``diverged_at`` (the first step whose state was
        non-finite or blown up, else None), ρ (:func:`stability_ratio`) at the start and at the last finite
        state, the exact LP limit, the norm of the followed gradient at the end (``grad_norm_end``) and
        the step the ``gtol`` criterion was met (``converged_at``, None if not asked for or not met).
    """
    check_x64()
    lr_v, lr_B, steps = check_rates(lr_v, lr_B, steps)
    check_init(init)
    rp = resolve_problem(problem, coords, "simulate_gd")
    if save_at is None:
        save = save_steps(steps, every=save_every)
    else:
        save = np.asarray(save_at).reshape(-1)
        if save.size == 0 or not np.issubdtype(save.dtype, np.integer) or np.any(np.diff(save) <= 0) \
                or save[0] < 0 or save[-1] > steps:
            raise ValueError(f"save_at must be increasing integer steps within [0, {steps}], got {save_at!r}")
    gtol = float(gtol)
    if not (math.isfinite(gtol) and gtol >= 0):
        raise ValueError(f"gtol must be a finite number >= 0, got {gtol}")
    v_start = initial_head(rp, init)
    flow = rp.flow
    dt = rp.G.dtype
    a, b = jnp.asarray(lr_v, dtype=dt), jnp.asarray(lr_B, dtype=dt)
    # pad the save list to a power of two with a step that never comes (one compile per size bucket)
    n_save = save.size
    padded = np.full(1 << max(1, int(np.ceil(np.log2(n_save)))), steps + 1, dtype=np.int64)
    padded[:n_save] = save
    save_j = jnp.asarray(padded, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)
    args = (a, b, save_j, jnp.asarray(steps, dtype=save_j.dtype))
    g0 = float(jnp.sqrt(_gd_step(flow, v_start, rp.B_S0, a, b)[2]))
    thr = jnp.asarray(gtol * max(1.0, g0), dtype=dt)
    if coords == "full":
        vs, Bs, v_end, B_end, dead, dead_at, done, done_at = gd_full(problem, v_start, problem.B0, *args, thr)
        B_S_end = B_end @ rp.U_S
    else:
        vs, Bs, v_end, B_S_end, dead, dead_at, done, done_at = gd_reduced(flow, v_start, rp.B_S0, *args, thr)
    vs, Bs = np.array(vs[:n_save]), np.array(Bs[:n_save])
    converged_at = int(done_at) if bool(done) else None
    if converged_at is not None:  # saves after the stop repeat the stationary state
        later = save > converged_at
        vs[later] = np.asarray(v_end)
        Bs[later] = np.asarray(B_end if coords == "full" else B_S_end)
    vs, Bs = jnp.asarray(vs), jnp.asarray(Bs)
    diverged = bool(dead)
    at = int(dead_at) if diverged else None
    rho0 = float(stability_ratio(rp, v_start, rp.B_S0, lr_v, lr_B))
    rho1 = float(stability_ratio(rp, v_end, B_S_end, lr_v, lr_B))
    g_end = float(jnp.sqrt(_gd_step(flow, v_end, B_S_end, a, b)[2]))
    lp_lim = lp_stability_limit(rp)
    if diverged and warn:
        warnings.warn(
            f"GD diverged at step {at} (lr_v={lr_v:g}, lr_B={lr_B:g}): a step size is beyond the stability limit "
            f"(stability ratio rho={rho0:.3g} at the start, {rho1:.3g} at the last finite state; stable minima need "
            f"rho < 1; for lr_B=0 the exact limit is lr_v < {lp_lim:.3g}). Saved states from then on are NaN.",
            DivergenceWarning, stacklevel=2,
        )
    info = dict(zip(INFO_KEYS, (lr_v, lr_B, steps, init, diverged, at, rho0, rho1, lp_lim, g_end, converged_at)))
    if coords == "full":
        return Trajectory(save.astype(np.float64), vs, Bs @ rp.U_S, "gd", "gd-full", steps, None, rp,
                          (v_start, rp.B_S0), B_full=Bs, coords="full", axis="step", info=info)
    return Trajectory(save.astype(np.float64), vs, Bs, "gd", "gd", steps, None, rp, (v_start, rp.B_S0), axis="step",
                      info=info)

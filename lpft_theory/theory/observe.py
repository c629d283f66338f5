r"""The observed side of the FT lower bound: a certified :math:`\min_{t\in[0,\infty]}\sqrt{L_{ood}(FT(t))}`, batched.

For each problem (``docs/theory.md`` §4.4) the reduced FT flow (``docs/theory.md`` §3,
:func:`lpft_theory.flows.ft_field`) is integrated from :math:`(v_0, B_0)` in **one adaptive solve**
(:func:`lpft_theory.integrate.solve_steps_to_steady`, the L-stable implicit Kvaerno5 at rtol 1e-10 /
atol 1e-12: FT is stiff near its minimum) that saves the state at every accepted step and stops at the
steady state :math:`\|\nabla\hat L\| \le g_{tol}\max(1,\|\nabla\hat L(0)\|)` (or at the horizon
:math:`10^9\tau`, :math:`\tau = 1/(2\lambda_{\max}(G)(\max(\|v_0\|^2,\|w_\star\|)+k+1))`). For both
losses, :math:`L = e^\top We` with W = I (worst case) or W = Σ, in closed form along the flow

.. math:: \dot L = 2e^\top W\dot e,\qquad \dot e = \dot B^\top v + B^\top\dot v,\qquad
          \ddot L = \tfrac{d}{dt}\dot L \ \ (\text{a Jacobian-vector product along the field}),

1. **every accepted step is a bracket.** On each step :math:`[t_j, t_{j+1}]` the cubic Hermite
   interpolant of L (values and the exact :math:`\dot L` at both ends) is tested for an interior
   local minimum; this catches every sign change :math:`\dot L(t_j) < 0 \le \dot L(t_{j+1})` and also a
   min/max pair inside one step when the cubic resolves it;
2. **refinement on the true trajectory.** The :data:`CANDIDATES` brackets with the lowest estimated
   minimum are refined by :data:`NEWTON_ITERS` Newton iterations on :math:`\dot L = 0`
   (:math:`s \leftarrow s - \dot L/\ddot L`, kept inside the bracket), each iterate obtained by
   integrating from the bracket's left step (``integrate.advance``, same tolerances), so every
   refined value is √L at a time the trajectory passes through;
3. **the t = ∞ limit.** The steady state is polished by :data:`LIMIT_NEWTON` Newton steps on
   :math:`\nabla\hat L = 0` with the minimum-norm (pseudo-inverse, relative cut-off
   :data:`LIMIT_RCOND`) correction. For a gradient flow in its final linear regime
   :math:`y - y_\infty` lies in the range of the Hessian H, so :math:`y_\infty = y - H^+\nabla\hat L(y)`
   up to second order in the distance [derived]; the polish is kept only when it lowers
   :math:`\|\nabla\hat L\|`, and its size is reported (``limit_correction``) as the error estimate of the
   limit state. This removes the bias of a stop at a small but finite gradient when the last mode is slow.

The minimum per loss is the smallest of L(0), every step value, every refined value and the limit; its
place is reported as ``where_*`` = 0 (``t=0``), 1 (``interior``) or 2 (``infinity``) (:data:`WHERE`).

**What is certified.** The sign of :math:`\dot L` (exact closed form, not a difference quotient) is
checked at every accepted step of the adaptive rtol-1e-10 solve, and every step whose Hermite cubic
has an interior minimum is a candidate; interior values are achieved states of the integrated
trajectory (up to the solver's local error), so they can only over-estimate the true minimum.
**Not certified:** a min/max pair inside one accepted step that the cubic does not resolve (its depth
is then below the cubic's interpolation error, O(h⁴)); candidates beyond the :data:`CANDIDATES`
lowest estimates per loss (they cannot hold the global minimum unless two estimates agree to that
error); the limit's polish is a second-order extrapolation, not an achieved value.

**Batching.** Problems of different k and m are padded to one shape (K, M): a zero row of
B with a zero head entry and zero columns of G are exact fixed points of the flow
(:math:`\dot v_{pad} = -2B_{pad}r = 0`, :math:`\dot B_{pad} = -2v_{pad}r^\top = 0`, and
:math:`r_{pad} = 0`), so padding changes no trajectory; it only changes the RMS norm
diffrax uses for step control (slightly looser steps). One compilation serves a whole
campaign (one per padded shape); the batch is ``jax.vmap``-ed.

**Chunks and phases** (:func:`observe_arrays`). The solve runs in chunks of :data:`CHUNK_STEPS` accepted
or rejected steps with one compiled kernel; after each chunk only the members that have not reached the
steady state go on, re-batched densely, so a batch never waits long for its slowest member (lockstep
waste was 36 % in random batches of 8 with one long solve). The refinement is a second kernel that runs
only on the active brackets of all problems, packed densely.

**Streaming with Rodas4** (``solver="rodas4_fused"``, what the bound campaign uses). The same certificate
without a save buffer: the package's Rodas4 loop (:mod:`lpft_theory._rosenbrock`, via
:func:`lpft_theory.integrate.rosenbrock_run`) hands every accepted step to the observer, which keeps in the
loop's carry the last point's (L, L') per loss, the best step value, and the :data:`CANDIDATES` lowest
Hermite-bracket estimates per loss with their left states; the solve stops at the same steady-state test.
Phase 2 and the limit are unchanged (the refinement integrates with the same solver). The carry is small,
so the solve runs in chunks of :data:`STREAM_CHUNK_STEPS` attempted steps and only unfinished members go on,
re-batched. Rodas4 is L-stable and stiffly accurate, with one Jacobian and one inverse per step instead of
Kvaerno5's Newton iterations: about 5× less time per campaign trial at the screen's rtol 1e-7 and 3.5× at
rtol 1e-10, with minima within 1.8e-7 × max(1, |value|) of Kvaerno5's at rtol 1e-10 on 512 campaign trials
(``BENCHMARKS.md``, fifth pass). The default stays Kvaerno5 (the figures, claims and
:func:`~lpft_theory.theory.bounds.check_problem`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from .. import flows, integrate
from ..reduced import FlowView, reduce

RTOL = 1e-10
ATOL = 1e-12
GTOL = 1e-10
#: Problems per vmapped batch (measured on 2 CPU cores: 8 is ~2x faster per problem than 64).
BATCH_SIZE = 8


def pack(problems, K=None, M=None) -> dict:
    """Reduce each problem and pad to a common (K, M); returns a dict of stacked numpy arrays.

    Fields: ``G`` (M,M), ``a`` (M,), ``v0`` (K,), ``BS0`` (K,M), ``Bp`` (K,R) the frozen S⊥ part
    in W-coordinates, ``e_off`` (M+R,) = −Q^T w*, ``sig`` (M+R, M+R) = Q^T Σ Q, ``tau`` time unit,
    with R = 2K+1. Padded entries are zero.
    """
    rps = [reduce(p, n_ood=1, host=True) for p in problems]
    ks = [int(rp.k) for rp in rps]
    ms = [int(rp.m) for rp in rps]
    K = max(ks) if K is None else K
    M = max(ms) if M is None else M
    if max(ks) > K or max(ms) > M:
        raise ValueError(f"pack: K={K}, M={M} smaller than the problems' k={max(ks)}, m={max(ms)}")
    R = 2 * K + 1
    B = len(rps)
    out = dict(G=np.zeros((B, M, M)), a=np.zeros((B, M)), v0=np.zeros((B, K)), BS0=np.zeros((B, K, M)),
               Bp=np.zeros((B, K, R)), e_off=np.zeros((B, M + R)), sig=np.zeros((B, M + R, M + R)),
               tau=np.zeros(B))
    for i, (rp, p) in enumerate(zip(rps, problems)):
        k, m = ks[i], ms[i]
        r = 2 * k + 1
        idx = np.concatenate([np.arange(m), M + np.arange(r)])
        out["G"][i, :m, :m] = rp.G
        out["a"][i, :m] = rp.a_star
        out["v0"][i, :k] = rp.v0
        B0r = np.asarray(rp.B0_red)
        out["BS0"][i, :k, :m] = B0r[:, :m]
        out["Bp"][i, :k, :r] = B0r[:, m:]
        out["e_off"][i, idx] = -np.asarray(rp.w_red)
        out["sig"][i][np.ix_(idx, idx)] = rp.sigma_red
        lam = float(np.linalg.eigvalsh(np.asarray(rp.G))[-1])
        scale = max(float(np.sum(np.asarray(rp.v0) ** 2)), float(np.linalg.norm(np.asarray(rp.w_red)))) + k + 1.0
        out["tau"][i] = 1.0 / (2.0 * lam * scale)
    return out


def _flow(G, a):
    """The :class:`~lpft_theory.reduced.FlowView` the FT field reads (only ``G`` and ``a_star`` enter it)."""
    return FlowView(G=G, a_star=a, B_S0=jnp.zeros((0, G.shape[0]), G.dtype), v0=jnp.zeros((0,), G.dtype))


def _grad_norm(y, G, a):
    return flows.ft_gradient_norm(_flow(G, a), y[0], y[1])


_INT = jnp.int32

#: Brackets refined per loss (the lowest estimated minima).
CANDIDATES = 3
#: Newton iterations per refined bracket.
NEWTON_ITERS = 3
#: Newton polish steps of the t = inf limit and the relative cut-off of the pseudo-inverse.
LIMIT_NEWTON = 2
LIMIT_RCOND = 1e-12
#: Horizon of the solve, in units of tau.
HORIZON = 1e9
#: Step budget of the whole solve, over all its chunks.
SOLVE_MAX_STEPS = 8192
#: Step budget of each refinement segment (inside one accepted step).
REFINE_MAX_STEPS = 256
#: Steps per chunk of the solve (the save buffer of one call); a solve continues chunk by chunk up to
#: SOLVE_MAX_STEPS with the same compiled kernel, from its last accepted state and with its last accepted
#: step as the first step (``integrate.solve_steps_to_steady(dt_resume=...)``). Small chunks keep the
#: per-step work on the save buffer and the step values small and re-batch the unfinished members densely
#: (256: 13.8 ms per campaign trial against 24.6 ms with one 8192-step chunk; BENCHMARKS.md). An earlier
#: continuation that re-selected the first step stalled Kvaerno5 on stiff trials; resuming with the
#: last step does not.
CHUNK_STEPS = 256
#: Attempted steps per chunk of the streaming (Rosenbrock) solve; unfinished members are re-batched after each.
STREAM_CHUNK_STEPS = 128
#: A bracket is refined only if its estimated minimum is below (1 - REFINE_MARGIN) x the lowest known value.
REFINE_MARGIN = 1e-12
#: Brackets per vmapped refinement batch.
REFINE_BATCH = 8
#: Codes of ``where_*``.
WHERE = {0: "t=0", 1: "interior", 2: "infinity"}


def _threshold(y_start, G, a, gtol):
    """The steady-state threshold gtol · max(1, ‖∇L̂(start)‖) and whether the start already meets it."""
    g0 = _grad_norm(y_start, G, a)
    thresh = gtol * jnp.maximum(1.0, g0)
    return thresh, g0 <= thresh


def _loss_weights(sig):
    """W of the two losses, stacked: (identity, Σ)."""
    return jnp.stack([jnp.eye(sig.shape[0], dtype=sig.dtype), sig])


def _err(y, Bp, e_off):
    v, B_S = y
    return jnp.concatenate([B_S.T @ v, Bp.T @ v]) + e_off


def _loss_rate(y, fy, Bp, e_off, W):
    """(L, dL/dt) for L = eᵀWe at the state y with field value fy = (v̇, Ḃ_S): dL/dt = 2eᵀW ė,
    ė = [Ḃ_Sᵀv + B_Sᵀv̇; B_pᵀv̇]. ``W`` may carry a leading axis (several losses at once)."""
    v, B_S = y
    dv, dB = fy
    e = _err(y, Bp, e_off)
    de = jnp.concatenate([dB.T @ v + B_S.T @ dv, Bp.T @ dv])
    We = W @ e
    return We @ e, 2.0 * (We @ de)


def _dloss(y, G, a, Bp, e_off, W):
    """(L, dL/dt) for L = eᵀWe along the FT field (:func:`_loss_rate` with the field evaluated at y)."""
    return _loss_rate(y, flows.ft_field(0.0, y, _flow(G, a)), Bp, e_off, W)


def _d2loss(y, G, a, Bp, e_off, W):
    """(L, L', L'') with L'' the derivative of L' along the field (a Jacobian-vector product)."""
    f = flows.ft_field(0.0, y, _flow(G, a))
    (L, d1), (_, d2) = jax.jvp(lambda z: _dloss(z, G, a, Bp, e_off, W), (y,), (f,))
    return L, d1, d2


def _hermite_min(L0, L1, d0, d1, h):
    """Interior local minimum of the cubic Hermite interpolant on [0, h]: (found, s*, p(s*))."""
    hs = jnp.where(h > 0, h, 1.0)
    dL = (L1 - L0) / hs
    c2 = (3.0 * dL - 2.0 * d0 - d1) / hs
    c3 = (d0 + d1 - 2.0 * dL) / hs**2
    A, Bq, C = 3.0 * c3, 2.0 * c2, d0  # p'(s) = A s^2 + Bq s + C
    disc = Bq * Bq - 4.0 * A * C
    sq = jnp.sqrt(jnp.maximum(disc, 0.0))
    qq = -0.5 * (Bq + jnp.where(Bq >= 0, sq, -sq))
    r1 = jnp.where(A != 0, qq / jnp.where(A != 0, A, 1.0), jnp.inf)
    r2 = jnp.where(qq != 0, C / jnp.where(qq != 0, qq, 1.0), jnp.where(Bq != 0, -C / jnp.where(Bq != 0, Bq, 1.0), jnp.inf))
    p = lambda s: L0 + s * (d0 + s * (c2 + s * c3))  # noqa: E731
    best_found, best_s, best_p = jnp.array(False), 0.5 * hs, jnp.inf
    for r in (r1, r2):
        ok = (disc >= 0) & jnp.isfinite(r) & (r > 0) & (r < hs) & (2.0 * c2 + 6.0 * c3 * r > 0) & (h > 0)
        pv = jnp.where(ok, p(jnp.where(ok, r, 0.0)), jnp.inf)
        take = ok & (pv < best_p)
        best_found, best_s, best_p = best_found | ok, jnp.where(take, r, best_s), jnp.where(take, pv, best_p)
    return best_found, best_s, best_p


def _tree_idx(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _limit_polish(y, G, a, ok):
    """Minimum-norm Newton steps on ∇L̂ = 0 from the steady state; (y∞, ‖correction‖)."""
    K, M = y[1].shape

    def loss(z):
        v, B = z[:K], z[K:].reshape(K, M)
        r = B.T @ v - a
        return r @ (G @ r)

    z = jnp.concatenate([y[0], y[1].ravel()])
    z0 = z
    for _ in range(LIMIT_NEWTON):
        g = jax.grad(loss)(z)
        H = jax.hessian(loss)(z)
        lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
        cut = LIMIT_RCOND * jnp.max(jnp.abs(lam))
        inv = jnp.where(lam > cut, 1.0 / jnp.where(lam > cut, lam, 1.0), 0.0)
        zn = z - V @ (inv * (V.T @ g))
        better = ok & jnp.all(jnp.isfinite(zn)) & (jnp.linalg.norm(jax.grad(loss)(zn)) < jnp.linalg.norm(g))
        z = jnp.where(better, zn, z)
    return (z[:K], z[K:].reshape(K, M)), jnp.linalg.norm(z - z0)


def _scan_one(G, a, v0, BS0, Bp, e_off, sig, tau, t0, yv, yB, h0, rtol, atol, gtol, max_steps, solver):
    """Phase 1 for one problem: one chunk of at most ``max_steps`` steps of the solve to the steady state,
    started at ``(t0, (yv, yB))`` (the start ``(0, (v0, BS0))`` for the first chunk) with first step ``h0``
    (0: diffrax's initial-step selection; a continuation passes the last accepted step, ``h_last``); its
    step values, its brackets, and the limit if the steady state was reached. The threshold and ``done0``
    always come from the true start ``(v0, BS0)``."""
    y_start = (v0, BS0)
    y0 = (yv, yB)
    fl = _flow(G, a)
    thresh, done0 = _threshold(y_start, G, a, gtol)
    t1 = jnp.where(done0, t0, jnp.maximum(HORIZON * tau, t0))
    ts, ys, n, steps, reached, ok, budget = integrate.solve_steps_to_steady(
        flows.ft_field, fl, y0, t0, t1, thresh, rtol, atol, solver=solver, max_steps=max_steps, dt_resume=h0)
    # all points: t0 then every accepted step (inf-filled beyond n)
    T = jnp.concatenate([t0[None], ts])
    Y = jax.tree_util.tree_map(lambda u, w: jnp.concatenate([u[None], w]), y0, ys)
    N = T.shape[0]
    valid = jnp.arange(N, dtype=_INT) <= n
    y_end = _tree_idx(Y, n)
    finite = jnp.all(jnp.isfinite(y_end[0])) & jnp.all(jnp.isfinite(y_end[1]))
    ok = (ok | done0) & finite
    more = budget & finite & ~done0  # stopped by the chunk's budget only: continue from (T[n], y_end)
    converged = (reached | done0) & ok
    Y = jax.tree_util.tree_map(lambda u, w: jnp.where(valid.reshape((-1,) + (1,) * (u.ndim - 1)), u, w[None]), Y,
                               y_end)  # freeze the tail at the last state (finite values)
    t_end = T[n]
    h_last = jnp.where(n >= 1, t_end - T[jnp.maximum(n - 1, 0)], 0.0)
    y_inf, corr = _limit_polish(y_end, G, a, converged & ~done0)
    out = dict(t_last=t_end, h_last=h_last, v_last=y_end[0], B_last=y_end[1], more=more, t_end=jnp.where(converged, t_end, jnp.inf),
               converged=converged, ok=ok, steps=steps.astype(_INT), limit_correction=corr, n_steps_saved=n,
               done0=done0)
    e_inf = _err(y_inf, Bp, e_off)
    e_S = e_inf[: G.shape[0]]  # Π_S e in U_S coordinates (padded entries are 0)
    out["limit_id_subspace"] = jnp.sum(e_S**2)
    Ws = _loss_weights(sig)
    h = T[1:] - T[:-1]
    bvalid = valid[1:] & (h > 0)

    def scan_loss(W):
        """Step values, the best step point and the CANDIDATES best brackets of one loss."""
        Lv, dLv = jax.vmap(lambda y: _dloss(y, G, a, Bp, e_off, W))(Y)
        Lv = jnp.where(valid, Lv, jnp.inf)
        found, s_est, p_est = jax.vmap(_hermite_min)(Lv[:-1], Lv[1:], dLv[:-1], dLv[1:], jnp.where(bvalid, h, 0.0))
        found = found & bvalid
        _, cand = jax.lax.top_k(-jnp.where(found, p_est, jnp.inf), CANDIDATES)
        jbest = jnp.argmin(Lv)
        return Lv[jbest], T[jbest], cand, found[cand], s_est[cand], jnp.where(found[cand], p_est[cand], jnp.inf), \
            e_inf @ (W @ e_inf)

    best0, tbest0, cand, found, s0, p_est, L_inf = jax.vmap(scan_loss)(Ws)  # (2,), (2,), (2, C) ...
    out.update(best0=best0, tbest0=tbest0, L_inf=L_inf, found=found, p_est=p_est, s0=s0, t_br=T[cand],
               h_br=h[cand], v_br=Y[0][cand], B_br=Y[1][cand])
    return out


def _stream_obs(Lv, dL, t0, C, y_flat):
    """The observation state of the streaming solve at its start: the last point's (L, L') per loss, the
    best point so far, and the CANDIDATES lowest bracket estimates per loss with their left end."""
    inf = jnp.full((2, C), jnp.inf, Lv.dtype)
    return dict(L=Lv, dL=dL, best=Lv, tbest=jnp.full((2,), t0, Lv.dtype), bp=inf, bs=jnp.zeros_like(inf),
                bt=jnp.zeros_like(inf), bh=jnp.zeros_like(inf), bfound=jnp.zeros((2, C), bool),
                by=jnp.zeros((2, C, y_flat.shape[0]), y_flat.dtype))


def _stream_on_accept(unravel, Bp, e_off, Ws, thresh):
    """``on_accept`` of the streaming solve: the accepted step [t, t_new] is a bracket (Hermite cubic of L
    from the exact L' at both ends, :func:`_hermite_min`); it replaces the worst kept bracket when its
    estimate is lower; the step's end value updates the best point; the solve stops at the steady state."""

    def on_accept(obs, t, y, fy, t_new, y_new, fy_new):
        L1, d1 = _loss_rate(unravel(y_new), unravel(fy_new), Bp, e_off, Ws)
        h = t_new - t
        found, s_est, p_est = jax.vmap(_hermite_min, in_axes=(0, 0, 0, 0, None))(obs["L"], L1, obs["dL"], d1, h)
        kept = jnp.where(obs["bfound"], obs["bp"], jnp.inf)
        worst = jnp.argmax(kept, axis=1)  # (2,): an empty slot (inf) first
        take = found & (p_est < jnp.take_along_axis(kept, worst[:, None], 1)[:, 0])
        slot = (jnp.arange(kept.shape[1])[None, :] == worst[:, None]) & take[:, None]  # (2, C)
        obs = dict(obs)
        obs["bt"] = jnp.where(slot, t, obs["bt"])
        obs["bh"] = jnp.where(slot, h, obs["bh"])
        obs["bp"] = jnp.where(slot, p_est[:, None], obs["bp"])
        obs["bs"] = jnp.where(slot, s_est[:, None], obs["bs"])
        obs["bfound"] = obs["bfound"] | slot
        obs["by"] = jnp.where(slot[:, :, None], y[None, None, :], obs["by"])
        lower = L1 < obs["best"]
        obs["best"] = jnp.where(lower, L1, obs["best"])
        obs["tbest"] = jnp.where(lower, t_new, obs["tbest"])
        obs["L"], obs["dL"] = L1, d1
        return obs, jnp.sqrt(jnp.sum(fy_new * fy_new)) <= thresh

    return on_accept


def _stream_setup(G, a, v0, BS0, sig, gtol):
    """What every stage of the streaming solve of one problem derives from its arrays: the start, the flow,
    the steady-state threshold (:func:`_threshold`), the two loss weights and the state's ravel map."""
    y_start = (v0, BS0)
    thresh, done0 = _threshold(y_start, G, a, gtol)
    return y_start, _flow(G, a), thresh, done0, _loss_weights(sig), jax.flatten_util.ravel_pytree(y_start)


def _stream_start_one(G, a, v0, BS0, Bp, e_off, sig, tau, rtol, atol, gtol, solver):
    """The carry of the streaming solve of one problem at t = 0 (flat dict of arrays)."""
    y_start, fl, thresh, done0, Ws, (y_flat, _) = _stream_setup(G, a, v0, BS0, sig, gtol)
    L0, d0 = _loss_rate(y_start, flows.ft_field(0.0, y_start, fl), Bp, e_off, Ws)
    t1 = jnp.where(done0, 0.0, HORIZON * tau)
    carry = integrate.rosenbrock_start(flows.ft_field, fl, y_start, 0.0, t1, rtol, atol,
                                       _stream_obs(L0, d0, 0.0, CANDIDATES, y_flat), solver=solver)
    carry["stopped"] = done0
    return _flat_carry(carry)


def _flat_carry(carry):
    """The carry as one flat dict (the observation's fields prefixed ``obs_``): host code indexes it per key."""
    return {**{k: v for k, v in carry.items() if k != "obs"}, **{"obs_" + k: v for k, v in carry["obs"].items()}}


def _split_carry(flat):
    carry = {k: v for k, v in flat.items() if not k.startswith("obs_")}
    carry["obs"] = {k[4:]: v for k, v in flat.items() if k.startswith("obs_")}
    return carry


def _stream_run_one(G, a, v0, BS0, Bp, e_off, sig, tau, flat, rtol, atol, gtol, max_steps, solver):
    """At most ``max_steps`` more attempted steps of one problem's streaming solve."""
    y_start, fl, thresh, done0, Ws, (_, unravel) = _stream_setup(G, a, v0, BS0, sig, gtol)
    carry = integrate.rosenbrock_run(flows.ft_field, fl, y_start, _split_carry(flat), rtol, atol,
                                     _stream_on_accept(unravel, Bp, e_off, Ws, thresh), max_steps=max_steps,
                                     solver=solver)
    return _flat_carry(carry)


def _stream_finish_one(G, a, v0, BS0, Bp, e_off, sig, tau, flat, gtol):
    """Phase 1's outputs (those of :func:`_scan_one`) from a finished streaming solve, with the limit."""
    y_start, fl, thresh, done0, Ws, (_, unravel) = _stream_setup(G, a, v0, BS0, sig, gtol)
    c = _split_carry(flat)
    o = c["obs"]
    y_end = unravel(c["y"])
    finite = jnp.all(jnp.isfinite(c["y"]))
    going = integrate.rosenbrock_unfinished(c)
    ok = ((~c["failed"] & ~going) | done0) & finite
    converged = (c["stopped"] | done0) & ok
    y_inf, corr = _limit_polish(y_end, G, a, converged & ~done0)
    e_inf = _err(y_inf, Bp, e_off)
    found = o["bfound"]
    by = jax.vmap(jax.vmap(unravel))(o["by"])
    return dict(t_end=jnp.where(converged, c["t"], jnp.inf), converged=converged, ok=ok, more=going & finite,
                steps=c["steps"].astype(_INT), limit_correction=corr, n_steps_saved=c["accepted"].astype(_INT),
                done0=done0, limit_id_subspace=jnp.sum(e_inf[: G.shape[0]] ** 2), L_inf=(Ws @ e_inf) @ e_inf,
                best0=o["best"], tbest0=o["tbest"], found=found, p_est=jnp.where(found, o["bp"], jnp.inf),
                s0=o["bs"], t_br=o["bt"], h_br=o["bh"], v_br=by[0], B_br=by[1])


_PROBLEM_AXES = (0,) * 8


@partial(jax.jit, static_argnames=("solver",))
def stream_start_packed(G, a, v0, BS0, Bp, e_off, sig, tau, rtol, atol, gtol, *, solver="rodas4_fused"):
    """The streaming phase 1 (a Rosenbrock solver) for a packed batch: the carries at t = 0."""
    return jax.vmap(_stream_start_one, in_axes=_PROBLEM_AXES + (None,) * 4)(G, a, v0, BS0, Bp, e_off, sig, tau,
                                                                           rtol, atol, gtol, solver)


@partial(jax.jit, static_argnames=("max_steps", "solver"))
def stream_run_packed(G, a, v0, BS0, Bp, e_off, sig, tau, carry, rtol, atol, gtol, *, max_steps, solver="rodas4_fused"):
    """At most ``max_steps`` more steps of the streaming phase 1 for a packed batch of carries."""
    return jax.vmap(_stream_run_one, in_axes=_PROBLEM_AXES + (0,) + (None,) * 5)(
        G, a, v0, BS0, Bp, e_off, sig, tau, carry, rtol, atol, gtol, max_steps, solver)


@jax.jit
def stream_finish_packed(G, a, v0, BS0, Bp, e_off, sig, tau, carry, gtol):
    """Phase 1's outputs for a packed batch of finished (or abandoned) streaming solves."""
    return jax.vmap(_stream_finish_one, in_axes=_PROBLEM_AXES + (0, None))(G, a, v0, BS0, Bp, e_off, sig, tau,
                                                                         carry, gtol)


def _refine_one(G, a, Bp, e_off, W, v, B, tj, hj, s_init, rtol, atol, refine_steps, solver):
    """Phase 2 for one bracket: NEWTON_ITERS Newton iterations on dL/dt = 0 inside [tj, tj + hj], each
    iterate integrated from the bracket's left step; the best achieved (L, t) and the steps."""
    fl = _flow(G, a)
    yj = (v, B)

    def body(_, c):
        s, best, tb, nst = c
        y_s, st, okr = integrate.advance(flows.ft_field, fl, yj, tj, tj + s, rtol, atol, solver=solver,
                                         max_steps=refine_steps)
        Ls, d1, d2 = _d2loss(y_s, G, a, Bp, e_off, W)
        good = okr & jnp.isfinite(Ls)
        take = good & (Ls < best)
        s_new = jnp.where(d2 > 0, s - d1 / jnp.where(d2 > 0, d2, 1.0), s)
        s_next = jnp.clip(jnp.where(good & jnp.isfinite(s_new), s_new, s), 0.0, hj)
        return s_next, jnp.where(take, Ls, best), jnp.where(take, tj + s, tb), nst + st.astype(_INT)

    init = (s_init, jnp.asarray(jnp.inf, tj.dtype), jnp.asarray(jnp.inf, tj.dtype), jnp.zeros((), _INT))
    _, best, tb, nst = jax.lax.fori_loop(0, NEWTON_ITERS, body, init)
    return best, tb, nst


@partial(jax.jit, static_argnames=("max_steps", "solver"))
def scan_packed(G, a, v0, BS0, Bp, e_off, sig, tau, t0, yv, yB, h0, rtol, atol, gtol, *, max_steps=CHUNK_STEPS,
                solver="kvaerno5"):
    """Phase 1 of the observation for a packed batch (leading axis): one chunk of the solve, its step
    values and brackets, and the limit (see :func:`_scan_one`)."""
    run = jax.vmap(_scan_one, in_axes=(0,) * 12 + (None, None, None, None, None))
    return run(G, a, v0, BS0, Bp, e_off, sig, tau, t0, yv, yB, h0, rtol, atol, gtol, max_steps, solver)


@partial(jax.jit, static_argnames=("refine_steps", "solver"))
def refine_packed(G, a, Bp, e_off, W, v, B, tj, hj, s_init, rtol, atol, *, refine_steps=REFINE_MAX_STEPS,
                  solver="kvaerno5"):
    """Phase 2 for a packed batch of brackets (leading axis): refined (L, t, steps) per bracket."""
    run = jax.vmap(_refine_one, in_axes=(0,) * 10 + (None, None, None, None))
    best, t, steps = run(G, a, Bp, e_off, W, v, B, tj, hj, s_init, rtol, atol, refine_steps, solver)
    return dict(best=best, t=t, steps=steps)


def observe(problems, *, K=None, M=None, batch_size: int = BATCH_SIZE, rtol: float = RTOL, atol: float = ATOL,
            gtol: float = GTOL, progress=None, solver: str = "kvaerno5") -> dict:
    r"""min over t ≥ 0 of √L_ood(FT(t)) for each problem (both losses); numpy arrays of length len(problems).

    Keys: ``min_identity``/``tmin_identity``/``where_identity`` (worst-case loss, Σ = I; ``where`` codes in
    :data:`WHERE`), the same for ``sigma`` (Σ-weighted), ``at_limit_*`` (minimum at the steady state, t_min is
    then its time), ``limit_*`` (√L at the polished limit), ``min_finite_*`` (minimum over the finite times
    only), ``limit_id_subspace`` (ID-subspace loss :math:`\|\Pi_Se\|^2` at the limit), ``limit_correction``
    (norm of the limit's Newton polish), ``t_end`` (time the steady state was reached, inf if not),
    ``converged``, ``ok`` (no solver failure), ``steps`` (solve + refinement) and ``n_steps_saved``.
    Problems are padded to (K, M) (default: K = max(2, largest k), M = the largest m rounded up to a
    power of two ≥ 4, so that small problems share compilations); see :func:`observe_arrays` for the batching.
    ``progress`` is an optional callable ``progress(n_done)``. ``solver``: ``"kvaerno5"`` (diffrax, every
    accepted step saved) or ``"rodas4_fused"`` (the package's Rodas4 loop, streamed; module docstring).
    """
    problems = list(problems)
    if not problems:
        raise ValueError("observe: problems is empty")
    if solver not in integrate.SOLVERS and solver not in integrate.ROSENBROCK_SOLVERS:
        raise ValueError(f"observe: solver must be one of {sorted(integrate.SOLVERS) + sorted(integrate.ROSENBROCK_SOLVERS)}"
                         f", got {solver!r}")
    if K is None:
        K = max(2, max(int(p.k) for p in problems))
    if M is None:  # round up to a power of two >= 4 so that small problems share one compilation
        m_max = max(int(np.linalg.matrix_rank(np.asarray(p.X))) for p in problems)
        M = max(4, 1 << (m_max - 1).bit_length())
    packed = pack(problems, K=K, M=M)
    r = observe_arrays(packed, batch_size=batch_size, rtol=rtol, atol=atol, gtol=gtol, progress=progress,
                       solver=solver)
    stalled = np.flatnonzero(~r["converged"] & ~r["ok"])
    if stalled.size:  # out of steps: the same flows padded wider (another step-control norm), once
        again = observe_arrays(pack([problems[i] for i in stalled], K=K + 1, M=2 * M), batch_size=batch_size,
                               rtol=rtol, atol=atol, gtol=gtol, solver=solver)
        for key in r:
            r[key][stalled] = again[key]
    return r


def _batches(n: int, bs: int):
    """Index arrays of the batches of ``range(n)``, the last one padded by repeating its last member."""
    for start in range(0, n, bs):
        idx = np.arange(start, min(start + bs, n))
        yield idx, np.concatenate([idx, np.full(bs - idx.size, idx[-1])])


def _run_batches(fn, arrays: dict, bs: int, progress=None) -> dict:
    """``fn(**batch)`` over fixed-size batches of ``arrays`` (leading axis; one compilation), concatenated numpy.

    Batches run one after the other: concurrent calls from host threads can deadlock XLA's CPU runtime
    (seen with jax 0.10 on 2 cores), so parallelism is by processes (:mod:`lpft_theory.theory.campaign`).
    """
    n = next(iter(arrays.values())).shape[0]
    chunks = []
    for idx, pad in _batches(n, bs):
        res = fn(**{k: jnp.asarray(v[pad]) for k, v in arrays.items()})
        chunks.append({k: np.asarray(v)[: idx.size] for k, v in res.items()})
        if progress is not None:
            progress(idx.size)
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def observe_arrays(packed: dict, *, batch_size: int = BATCH_SIZE, rtol=RTOL, atol=ATOL, gtol=GTOL, progress=None,
                   solver="kvaerno5", max_steps=None) -> dict:
    """:func:`observe` on already packed arrays (see :func:`pack`); ``max_steps`` defaults to :data:`SOLVE_MAX_STEPS`.

    Two phases, each in fixed-size batches (one compilation per padded shape):

    1. :func:`scan_packed`: the adaptive solve to the steady state in chunks of :data:`CHUNK_STEPS` steps
       (a member whose chunk ran out of steps continues from its last accepted step, up to ``max_steps``
       in all, with its last accepted step as the first step of the next chunk, so the solution is one
       valid adaptive solution at the same tolerances), every step value, the brackets and the limit. Brackets are merged over
       chunks: the :data:`CANDIDATES` lowest estimates per loss.
    2. :func:`refine_packed`: only the active brackets (in a campaign about one per problem and loss; none
       where the minimum is at t = 0 or t = ∞), packed densely, so no problem waits in lockstep for
       another's refinement. A bracket is active if its estimate is below every value already known
       (step values and the limit) by more than :data:`REFINE_MARGIN` relative.
    """
    n = packed["G"].shape[0]
    bs = int(batch_size)
    max_steps = SOLVE_MAX_STEPS if max_steps is None else int(max_steps)
    tol = dict(rtol=jnp.asarray(float(rtol)), atol=jnp.asarray(float(atol)))
    if solver in integrate.ROSENBROCK_SOLVERS:
        res, br = _phase1_stream(packed, bs, tol, gtol, solver, max_steps, progress)
    else:
        res, br = _phase1_saved(packed, bs, tol, gtol, solver, max_steps, progress)
    return _phase2(packed, res, br, tol, solver)


_KEYS = ("G", "a", "v0", "BS0", "Bp", "e_off", "sig", "tau")
_BRACKET_KEYS = ("found", "p_est", "s0", "t_br", "h_br", "v_br", "B_br")


def _phase1_stream(packed, bs, tol, gtol, solver, max_steps, progress):
    """Phase 1 with a Rosenbrock solver (:func:`stream_start_packed`, :func:`stream_run_packed`): no saved
    steps; chunks of :data:`STREAM_CHUNK_STEPS` attempted steps, the unfinished members re-batched densely
    after each."""
    n = packed["G"].shape[0]
    arrays = {k: packed[k] for k in _KEYS}
    gtol = jnp.asarray(float(gtol))
    carry = _run_batches(partial(stream_start_packed, **tol, gtol=gtol, solver=solver), arrays, bs)
    chunk = min(max_steps, STREAM_CHUNK_STEPS)
    run = partial(stream_run_packed, **tol, gtol=gtol, max_steps=chunk, solver=solver)
    used = 0
    while used < max_steps:
        idx = np.flatnonzero(integrate.rosenbrock_unfinished(carry))
        if not idx.size:
            break
        sub = {k: arrays[k][idx] for k in _KEYS}
        nxt = _run_carry(run, sub, {k: v[idx] for k, v in carry.items()}, bs)
        for k, v in nxt.items():
            carry[k][idx] = v
        used += chunk
    res = _run_carry(partial(stream_finish_packed, gtol=gtol), arrays, carry, bs)
    if progress is not None:
        progress(n)
    return res, {k: [res[k]] for k in _BRACKET_KEYS}


def _run_carry(fn, arrays, carry, bs):
    """:func:`_run_batches` for a function of the problem arrays and a flat carry dict (``fn(..., carry)``)."""
    keys = list(carry)
    both = dict(arrays, **{"carry__" + k: v for k, v in carry.items()})
    return _run_batches(lambda **kw: fn(**{k: v for k, v in kw.items() if not k.startswith("carry__")},
                                        carry={k: kw["carry__" + k] for k in keys}), both, bs)


def _phase1_saved(packed, bs, tol, gtol, solver, max_steps, progress):
    """Phase 1 with a diffrax solver (:func:`scan_packed`): every accepted step saved, in chunks."""
    n = packed["G"].shape[0]
    keys = _KEYS
    chunk = min(max_steps, CHUNK_STEPS)
    scan = partial(scan_packed, **tol, gtol=jnp.asarray(float(gtol)), solver=solver, max_steps=chunk)
    arrays = {k: packed[k] for k in keys}
    arrays.update(t0=np.zeros(n), yv=packed["v0"], yB=packed["BS0"], h0=np.zeros(n))
    res = _run_batches(scan, arrays, bs, progress)
    br = {k: [res[k]] for k in _BRACKET_KEYS}
    total = res["steps"].astype(np.int64)
    saved = res["n_steps_saved"].astype(np.int64)
    used = chunk
    while used + chunk <= max_steps and res["more"].any():  # continue the members out of steps
        idx = np.flatnonzero(res["more"])
        sub = {k: packed[k][idx] for k in keys}
        sub.update(t0=res["t_last"][idx], yv=res["v_last"][idx], yB=res["B_last"][idx], h0=res["h_last"][idx])
        nxt = _run_batches(scan, sub, bs, None)
        for k in ("t_last", "h_last", "v_last", "B_last", "more", "t_end", "converged", "ok", "limit_correction",
                  "limit_id_subspace", "L_inf"):
            res[k][idx] = nxt[k]
        lower = nxt["best0"] < res["best0"][idx]
        res["best0"][idx] = np.where(lower, nxt["best0"], res["best0"][idx])
        res["tbest0"][idx] = np.where(lower, nxt["tbest0"], res["tbest0"][idx])
        for k in br:
            extra = np.zeros_like(br[k][0]) if k != "p_est" else np.full_like(br[k][0], np.inf)
            extra[idx] = nxt[k]
            br[k].append(extra)
        total[idx] += nxt["steps"]
        saved[idx] += nxt["n_steps_saved"]
        used += chunk
    res["steps"], res["n_steps_saved"] = total, saved
    return res, br


def _phase2(packed, res, br, tol, solver):
    """The brackets to refine (the CANDIDATES lowest estimates per loss over all chunks, active if below
    every known value), refined by :func:`refine_packed`, and the minimum per loss (:func:`_combine`)."""
    n = packed["G"].shape[0]
    res["ok"] = res["ok"] & ~res["more"]  # still out of steps after max_steps in all
    # the CANDIDATES lowest estimates per problem and loss over all chunks, active if below what is known
    br = {k: np.concatenate(v, axis=2) for k, v in br.items()}  # (n, 2, C * chunks, ...)
    C = CANDIDATES
    order = np.argsort(np.where(br["found"], br["p_est"], np.inf), axis=2, kind="stable")[:, :, :C]
    pick = {k: np.take_along_axis(v, order.reshape(order.shape + (1,) * (v.ndim - 3)), axis=2) for k, v in br.items()}
    known = np.minimum(res["best0"], np.where((res["converged"] & ~res["done0"])[:, None], res["L_inf"], np.inf))
    act = pick["found"] & (pick["p_est"] < known[:, :, None] * (1.0 - REFINE_MARGIN))
    items = np.argwhere(act)
    rb = np.full((n, 2, C), np.inf)
    rt = np.full((n, 2, C), np.inf)
    rsteps = np.zeros(n, np.int64)
    if items.size:
        i, l, c = items.T
        eye = np.eye(packed["sig"].shape[-1])
        W = np.where((l == 0)[:, None, None], eye[None], packed["sig"][i])
        bb = dict(G=packed["G"][i], a=packed["a"][i], Bp=packed["Bp"][i], e_off=packed["e_off"][i], W=W,
                  v=pick["v_br"][i, l, c], B=pick["B_br"][i, l, c], tj=pick["t_br"][i, l, c],
                  hj=pick["h_br"][i, l, c], s_init=pick["s0"][i, l, c])
        ref = _run_batches(partial(refine_packed, **tol, solver=solver), bb, REFINE_BATCH, None)
        rb[i, l, c], rt[i, l, c] = ref["best"], ref["t"]
        np.add.at(rsteps, i, ref["steps"])
    return _combine(res, rb, rt, rsteps)


def _combine(res: dict, rb, rt, rsteps) -> dict:
    """The minimum per loss: L(0), the step values, the refined brackets and the limit (host side, numpy)."""
    out = {k: res[k] for k in ("t_end", "converged", "ok", "limit_correction", "n_steps_saved", "limit_id_subspace")}
    out["steps"] = (res["steps"] + rsteps).astype(np.int32)
    converged, done0 = res["converged"], res["done0"]
    for li, key in enumerate(("identity", "sigma")):
        best0, tbest0, L_inf = res["best0"][:, li], res["tbest0"][:, li], res["L_inf"][:, li]
        jr = np.argmin(rb[:, li], axis=1)
        rbest = np.take_along_axis(rb[:, li], jr[:, None], 1)[:, 0]
        rtime = np.take_along_axis(rt[:, li], jr[:, None], 1)[:, 0]
        take = rbest < best0
        best = np.where(take, rbest, best0)
        tbest = np.where(take, rtime, tbest0)
        at_inf = converged & ~done0 & (L_inf <= best)  # a stationary start is "t=0"
        L_fin = best
        best = np.where(at_inf, L_inf, best)
        out[f"min_{key}"] = np.sqrt(np.maximum(best, 0.0))
        out[f"tmin_{key}"] = np.where(at_inf, res["t_end"], tbest)
        out[f"where_{key}"] = np.where(at_inf, 2, np.where(tbest == 0.0, 0, 1)).astype(np.int32)
        out[f"at_limit_{key}"] = at_inf
        out[f"limit_{key}"] = np.sqrt(np.maximum(L_inf, 0.0))
        out[f"min_finite_{key}"] = np.sqrt(np.maximum(L_fin, 0.0))
    return out

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
"""

from __future__ import annotations

from functools import partial

import jax
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
    rps = [reduce(p, n_ood=1) for p in problems]
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
#: Step budget of the whole solve (every accepted step is saved).
SOLVE_MAX_STEPS = 8192
#: Step budget of each refinement segment (inside one accepted step).
REFINE_MAX_STEPS = 256
#: Codes of ``where_*``.
WHERE = {0: "t=0", 1: "interior", 2: "infinity"}


def _err(y, Bp, e_off):
    v, B_S = y
    return jnp.concatenate([B_S.T @ v, Bp.T @ v]) + e_off


def _dloss(y, G, a, Bp, e_off, W):
    """(L, dL/dt) for L = eᵀWe along the FT field: dL/dt = 2eᵀW ė, ė = [Ḃ_Sᵀv + B_Sᵀv̇; B_pᵀv̇]."""
    v, B_S = y
    dv, dB = flows.ft_field(0.0, y, _flow(G, a))
    e = _err(y, Bp, e_off)
    de = jnp.concatenate([dB.T @ v + B_S.T @ dv, Bp.T @ dv])
    We = W @ e
    return e @ We, 2.0 * (We @ de)


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


def _observe_one(G, a, v0, BS0, Bp, e_off, sig, tau, rtol, atol, gtol, max_steps, refine_steps, solver):
    y0 = (v0, BS0)
    fl = _flow(G, a)
    thresh = gtol * jnp.maximum(1.0, _grad_norm(y0, G, a))
    done0 = _grad_norm(y0, G, a) <= thresh
    t1 = jnp.where(done0, 0.0, HORIZON * tau)
    ts, ys, n, steps, reached, ok = integrate.solve_steps_to_steady(
        flows.ft_field, fl, y0, jnp.zeros((), tau.dtype), t1, thresh, rtol, atol, solver=solver, max_steps=max_steps)
    # all points: t = 0 then every accepted step (inf-filled beyond n)
    T = jnp.concatenate([jnp.zeros((1,), ts.dtype), ts])
    Y = jax.tree_util.tree_map(lambda u, w: jnp.concatenate([u[None], w]), y0, ys)
    N = T.shape[0]
    valid = jnp.arange(N, dtype=_INT) <= n
    y_end = _tree_idx(Y, n)
    ok = (ok | done0) & jnp.all(jnp.isfinite(y_end[0])) & jnp.all(jnp.isfinite(y_end[1]))
    converged = (reached | done0) & ok
    Y = jax.tree_util.tree_map(lambda u, w: jnp.where(valid.reshape((-1,) + (1,) * (u.ndim - 1)), u, w[None]), Y,
                               y_end)  # freeze the tail at the last state (finite values)
    t_end = T[n]
    y_inf, corr = _limit_polish(y_end, G, a, converged & ~done0)
    out = dict(t_end=jnp.where(converged, t_end, jnp.inf), converged=converged, ok=ok, steps=steps.astype(_INT),
               limit_correction=corr, n_steps_saved=n)
    e_inf = _err(y_inf, Bp, e_off)
    e_S = e_inf[: G.shape[0]]  # Π_S e in U_S coordinates (padded entries are 0)
    out["limit_id_subspace"] = jnp.sum(e_S**2)
    Ws = jnp.stack([jnp.eye(sig.shape[0], dtype=sig.dtype), sig])  # (identity, sigma)
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
        return Lv[jbest], T[jbest], cand, found[cand], s_est[cand]

    best0, tbest0, cand, active, s0 = jax.vmap(scan_loss)(Ws)  # (2,), (2,), (2, C) ...

    def refine(W, j, act, s_init):
        """NEWTON_ITERS Newton iterations on dL/dt = 0 inside bracket j; the best achieved (L, t) and steps."""
        yj, tj = _tree_idx(Y, j), T[j]
        hj = jnp.where(act, h[j], 0.0)

        def body(_, c):
            s, best, tb, nst = c
            y_s, st, okr = integrate.advance(flows.ft_field, fl, yj, tj, tj + s, rtol, atol, solver=solver,
                                             max_steps=refine_steps)
            Ls, d1, d2 = _d2loss(y_s, G, a, Bp, e_off, W)
            good = act & okr & jnp.isfinite(Ls)
            take = good & (Ls < best)
            s_new = jnp.where(d2 > 0, s - d1 / jnp.where(d2 > 0, d2, 1.0), s)
            s_next = jnp.clip(jnp.where(good & jnp.isfinite(s_new), s_new, s), 0.0, hj)
            return (s_next, jnp.where(take, Ls, best), jnp.where(take, tj + s, tb),
                    nst + jnp.where(act, st, 0).astype(_INT))

        init = (jnp.where(act, s_init, 0.0), jnp.asarray(jnp.inf, T.dtype), jnp.asarray(jnp.inf, T.dtype),
                jnp.zeros((), _INT))
        _, best, tb, nst = jax.lax.fori_loop(0, NEWTON_ITERS, body, init)
        return best, tb, nst

    C = CANDIDATES
    rb, rt, rs = jax.vmap(refine)(jnp.repeat(Ws, C, axis=0), cand.reshape(-1), active.reshape(-1), s0.reshape(-1))
    rb, rt = rb.reshape(2, C), rt.reshape(2, C)
    out["steps"] = out["steps"] + jnp.sum(rs).astype(_INT)
    for i, key in enumerate(("identity", "sigma")):
        W = Ws[i]
        jr = jnp.argmin(rb[i])
        take = rb[i, jr] < best0[i]
        best = jnp.where(take, rb[i, jr], best0[i])
        tbest = jnp.where(take, rt[i, jr], tbest0[i])
        L_inf = e_inf @ (W @ e_inf)
        at_inf = converged & ~done0 & (L_inf <= best)  # a stationary start is "t=0"
        L_fin = best
        best = jnp.where(at_inf, L_inf, best)
        where = jnp.where(at_inf, 2, jnp.where(tbest == 0.0, 0, 1)).astype(_INT)
        out[f"min_{key}"] = jnp.sqrt(jnp.maximum(best, 0.0))
        out[f"tmin_{key}"] = jnp.where(at_inf, t_end, tbest)
        out[f"where_{key}"] = where
        out[f"at_limit_{key}"] = at_inf
        out[f"limit_{key}"] = jnp.sqrt(jnp.maximum(L_inf, 0.0))
        out[f"min_finite_{key}"] = jnp.sqrt(jnp.maximum(L_fin, 0.0))
    return out


@partial(jax.jit, static_argnames=("max_steps", "refine_steps", "solver"))
def observe_packed(G, a, v0, BS0, Bp, e_off, sig, tau, rtol, atol, gtol, *, max_steps=SOLVE_MAX_STEPS,
                   refine_steps=REFINE_MAX_STEPS, solver="kvaerno5"):
    r"""The whole observation for a packed batch (leading axis); pure, jitted, vmapped.

    Returns per problem ``min_identity``, ``tmin_identity``, ``where_identity`` (0 t=0, 1 interior,
    2 infinity: :data:`WHERE`), the same for ``sigma``; ``at_limit_*`` (minimum at t = ∞; ``tmin`` is
    then the time the steady state was reached), ``limit_*`` (√L at the polished limit), ``min_finite_*`` (minimum over the finite times
    only), ``limit_id_subspace`` (ID-subspace loss :math:`\|\Pi_Se\|^2` at the limit),
    ``limit_correction`` (norm of the limit's Newton polish), ``t_end`` (time the steady state was
    reached, inf if not), ``converged``, ``ok`` (no solver failure), ``steps`` and ``n_steps_saved``.
    """
    run = jax.vmap(_observe_one, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, None, None, None, None, None, None))
    return run(G, a, v0, BS0, Bp, e_off, sig, tau, rtol, atol, gtol, max_steps, refine_steps, solver)


def observe(problems, *, K=None, M=None, batch_size: int = BATCH_SIZE, rtol: float = RTOL, atol: float = ATOL,
            gtol: float = GTOL, progress=None) -> dict:
    r"""min over t ≥ 0 of √L_ood(FT(t)) for each problem (both losses); numpy arrays of length len(problems).

    Keys: ``min_identity``/``tmin_identity`` (worst-case loss, Σ = I), ``min_sigma``/``tmin_sigma``
    (Σ-weighted), ``at_limit_*`` (minimum at the steady state, t_min is then its time),
    ``limit_*``, ``t_end`` (time the steady state was reached), ``converged``, ``steps``.
    Problems are padded to (K, M) (default: K = max(2, largest k), M = the largest m rounded up to a
    power of two ≥ 4, so that small problems share compilations) and processed ``batch_size`` at a
    time; the last batch is padded by repeating a member, so every batch has the same shape
    (one compilation per (K, M)). Small batches are fastest on CPU: the implicit solver's
    batched LU runs member by member, and a batch runs as long as its slowest member. ``progress`` is an optional callable ``progress(n_done)``.
    """
    problems = list(problems)
    if not problems:
        raise ValueError("observe: problems is empty")
    if K is None:
        K = max(2, max(int(p.k) for p in problems))
    if M is None:  # round up to a power of two >= 4 so that small problems share one compilation
        m_max = max(int(np.linalg.matrix_rank(np.asarray(p.X))) for p in problems)
        M = max(4, 1 << (m_max - 1).bit_length())
    packed = pack(problems, K=K, M=M)
    return observe_arrays(packed, batch_size=batch_size, rtol=rtol, atol=atol, gtol=gtol, progress=progress)


def observe_arrays(packed: dict, *, batch_size: int = BATCH_SIZE, rtol=RTOL, atol=ATOL, gtol=GTOL, progress=None,
                   solver="kvaerno5", max_steps=SOLVE_MAX_STEPS) -> dict:
    """:func:`observe` on already packed arrays (see :func:`pack`)."""
    n = packed["G"].shape[0]
    bs = int(batch_size)
    tol = [jnp.asarray(float(x)) for x in (rtol, atol, gtol)]
    keys = ("G", "a", "v0", "BS0", "Bp", "e_off", "sig", "tau")
    chunks = []
    for start in range(0, n, bs):
        idx = np.arange(start, min(start + bs, n))
        pad = np.concatenate([idx, np.full(bs - idx.size, idx[-1])])
        args = [jnp.asarray(packed[k][pad]) for k in keys]
        res = observe_packed(*args, *tol, solver=solver, max_steps=max_steps)
        chunks.append({k: np.asarray(v)[: idx.size] for k, v in res.items()})
        if progress is not None:
            progress(idx.size)
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

r"""The observed side of the FT lower bound: :math:`\min_{t\ge0}\sqrt{L_{ood}(FT(t))}`, batched.

For each problem (docs/theory.md §4) we integrate the reduced FT flow (docs/theory.md §3,
:func:`lpft_theory.flows.ft_field`) from :math:`(v_0, B_0)` with the L-stable implicit
solver Kvaerno5 (FT is stiff near its minimum: explicit Tsit5 needs ~2.5e5 steps to
t = 1e4 where Kvaerno5 needs ~1.4e3), at rtol 1e-10 / atol 1e-12, and

1. save the state on a dense log grid :math:`t_j = \tau\cdot 10^{a_j}`, with 20 points per
   decade over 12 decades (plus t = 0), where
   :math:`\tau = 1/(2\lambda_{\max}(G)(\max(\|v_0\|^2,\|w_\star\|) + k + 1))` is the problem's
   fastest time scale, until the **steady state** is reached (event
   :math:`\|\nabla\hat L\| \le g_{tol}\max(1,\|\nabla\hat L(0)\|)`): its state stands for
   :math:`t=\infty`;
2. take the minimum of √L_ood over the grid and the limit, for both losses
   (worst case Σ = I: :math:`\|e\|`, and Σ-weighted: :math:`\sqrt{e^\top\Sigma e}`);
3. **refine**: when the minimum is at a grid point :math:`t_j` (not the limit), integrate
   again from :math:`t_{j-1}` over :math:`[t_{j-1}, t_{j+1}]` saving 65 equispaced points
   and take the minimum there.

Every reported value is √L_ood at a time the trajectory actually passes through, so
it can only over-estimate the true minimum (grid error never fabricates a violation).

**Batching.** Problems of different k and m are padded to one shape (K, M): a zero row of
B with a zero head entry and zero columns of G are exact fixed points of the flow
(:math:`\dot v_{pad} = -2B_{pad}r = 0`, :math:`\dot B_{pad} = -2v_{pad}r^\top = 0`, and
:math:`r_{pad} = 0`), so padding changes no trajectory; it only changes the RMS norm
diffrax uses for step control (slightly looser steps). One compilation serves a whole
campaign; the batch is ``jax.vmap``-ed.
"""

from __future__ import annotations

from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .. import flows
from ..reduced import reduce

RTOL = 1e-10
ATOL = 1e-12
GTOL = 1e-10
#: log10 of the grid (in units of τ): 20 points per decade from 1e-3 τ to 1e9 τ.
GRID_DECADES = (-2.0, 9.0)
GRID_PER_DECADE = 10
REFINE_POINTS = 33
REFINE_LEVELS = 2
#: Step budget of each grid segment (bounded work per trial: at most 241 + 2·64 segments).
SEGMENT_MAX_STEPS = 4096
#: Problems per vmapped batch (measured on 2 CPU cores: 8 is ~2x faster per problem than 64).
BATCH_SIZE = 8


def base_grid(decades=GRID_DECADES, per_decade=GRID_PER_DECADE) -> np.ndarray:
    """The dimensionless grid: 0 followed by log-spaced points."""
    lo, hi = decades
    num = int(round((hi - lo) * per_decade)) + 1
    return np.concatenate([[0.0], np.logspace(lo, hi, num)])


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


class _Flow(dict):
    """Minimal args object for :func:`flows.ft_field` (needs ``G`` and ``a_star``)."""

    __getattr__ = dict.__getitem__


def _field(t, y, args):
    return flows.ft_field(t, y, _Flow(G=args[0], a_star=args[1]))


def _grad_norm(y, G, a):
    dv, dB = _field(0.0, y, (G, a))
    return jnp.sqrt(jnp.sum(dv**2) + jnp.sum(dB**2))


def _losses(v, B_S, Bp, e_off, sig):
    """(‖e‖, √(eᵀΣe)) with e = Q^T(Bᵀv − w*) = [B_Sᵀv; B_pᵀv] + e_off."""
    e = jnp.concatenate([B_S.T @ v, Bp.T @ v]) + e_off
    li = jnp.sqrt(jnp.sum(e**2))
    ls = jnp.sqrt(jnp.maximum(e @ (sig @ e), 0.0))
    return li, ls


_INT = jnp.int32
#: Forward-only solves use a plain ``lax.while_loop`` (no checkpointing): much cheaper under vmap.
ADJOINT = diffrax.ForwardMode()
SOLVERS = {"kvaerno5": diffrax.Kvaerno5, "tsit5": diffrax.Tsit5, "dopri8": diffrax.Dopri8}


def _segment(y, t0, t1, G, a, rtol, atol, max_steps, solver="kvaerno5"):
    """Integrate from (t0, y) to t1 (t1 == t0 returns y); returns (y(t1), steps, ok)."""
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_field), SOLVERS[solver](), t0=t0, t1=t1, dt0=None, y0=y, args=(G, a),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps, throw=False,
        adjoint=ADJOINT,
    )
    y1 = jax.tree_util.tree_map(lambda x: x[-1], sol.ys)
    return y1, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful


def _scan_min(y0, ts, G, a, Bp, e_off, sig, thresh, rtol, atol, max_steps, stop_at_steady: bool, solver):
    """March over the save times ``ts`` (ts[0] = start) one segment at a time, keeping the running
    minimum of both losses, the index where it was attained and the state one save time before it
    (for refinement). Only O(state) is carried, so ``vmap`` stays cheap (no saved-trajectory buffer).
    With ``stop_at_steady`` the march freezes (zero-length segments) once ‖∇L̂‖ ≤ thresh."""
    li0, ls0 = _losses(y0[0], y0[1], Bp, e_off, sig)
    done0 = (_grad_norm(y0, G, a) <= thresh) & stop_at_steady
    carry0 = dict(y=y0, best_i=li0, best_s=ls0, idx_i=jnp.zeros((), _INT), idx_s=jnp.zeros((), _INT),
                  left_i=y0, left_s=y0, done=done0, idx_end=jnp.where(done0, 0, -1).astype(_INT),
                  steps=jnp.zeros((), _INT), ok=jnp.array(True))

    def body(c, j):
        t_cur, t_next = ts[j - 1], ts[j]
        t1 = jnp.where(c["done"], t_cur, t_next)
        y1, steps, ok = _segment(c["y"], t_cur, t1, G, a, rtol, atol, max_steps, solver)
        ok = ok & jnp.all(jnp.isfinite(y1[0])) & jnp.all(jnp.isfinite(y1[1]))
        li, ls = _losses(y1[0], y1[1], Bp, e_off, sig)
        live = ~c["done"] & ok
        new = dict(c)
        bi = live & (li < c["best_i"])
        bs = live & (ls < c["best_s"])
        sel = lambda p, x, z: jax.tree_util.tree_map(lambda u, w: jnp.where(p, u, w), x, z)  # noqa: E731
        new["best_i"] = jnp.where(bi, li, c["best_i"])
        new["best_s"] = jnp.where(bs, ls, c["best_s"])
        new["idx_i"] = jnp.where(bi, j, c["idx_i"])
        new["idx_s"] = jnp.where(bs, j, c["idx_s"])
        new["left_i"] = sel(bi, c["y"], c["left_i"])
        new["left_s"] = sel(bs, c["y"], c["left_s"])
        new["y"] = sel(live, y1, c["y"])
        reached = (_grad_norm(y1, G, a) <= thresh) & stop_at_steady
        new["idx_end"] = jnp.where(live & reached & (c["idx_end"] < 0), j, c["idx_end"])
        new["done"] = c["done"] | ~ok | (live & reached)
        new["steps"] = c["steps"] + steps.astype(_INT)
        new["ok"] = c["ok"] & ok
        return new, None

    c, _ = jax.lax.scan(body, carry0, jnp.arange(1, ts.shape[0], dtype=_INT))
    return c


def _observe_one(G, a, v0, BS0, Bp, e_off, sig, tau, grid, rtol, atol, gtol, max_steps, solver):
    y0 = (v0, BS0)
    ts = tau * grid
    thresh = gtol * jnp.maximum(1.0, _grad_norm(y0, G, a))
    c = _scan_min(y0, ts, G, a, Bp, e_off, sig, thresh, rtol, atol, max_steps, True, solver)
    converged = (c["idx_end"] >= 0) & c["ok"]
    last = ts.shape[0] - 1
    idx_end = jnp.where(c["idx_end"] >= 0, c["idx_end"], last)
    out = dict(t_end=jnp.where(converged, ts[idx_end], jnp.inf), converged=converged, ok=c["ok"], steps=c["steps"])
    li_end, ls_end = _losses(c["y"][0], c["y"][1], Bp, e_off, sig)
    e_S = c["y"][1].T @ c["y"][0] + e_off[: G.shape[0]]  # Π_S e in U_S coordinates (padded entries are 0)
    out["limit_id_subspace"] = jnp.sum(e_S**2)
    for key, lim in (("identity", li_end), ("sigma", ls_end)):
        idx, best, left = c[f"idx_{key[0]}"], c[f"best_{key[0]}"], c[f"left_{key[0]}"]
        at_limit = converged & (idx >= idx_end)
        # refine twice: on [t_{j-1}, t_{j+1}] (t_{j+1} capped at the steady-state time), then on the
        # two fine intervals around the fine minimum. A zero-width (dummy) window when the minimum is
        # at the limit or the previous level found nothing lower.
        grid_ts, j, j_max = ts, idx, idx_end
        active = ~at_limit
        tmin = jnp.where(at_limit, out["t_end"], ts[idx])
        for _ in range(REFINE_LEVELS):
            jl = jnp.maximum(j - 1, 0)
            jr = jnp.minimum(j + 1, j_max)
            width = jnp.where(active, grid_ts[jr] - grid_ts[jl], 0.0)
            fine_ts = grid_ts[jl] + width * jnp.linspace(0.0, 1.0, REFINE_POINTS)
            r = _scan_min(left, fine_ts, G, a, Bp, e_off, sig, thresh, rtol, atol, max_steps, False, solver)
            fbest = r[f"best_{key[0]}"]
            jf = r[f"idx_{key[0]}"]
            better = active & r["ok"] & (fbest < best)
            tmin = jnp.where(better, fine_ts[jf], tmin)
            best = jnp.where(better, fbest, best)
            left = jax.tree_util.tree_map(lambda u, w: jnp.where(better, u, w), r[f"left_{key[0]}"], left)
            grid_ts, j, j_max, active = fine_ts, jf, REFINE_POINTS - 1, better
            out["steps"] = out["steps"] + r["steps"]
        out[f"min_{key}"] = best
        out[f"tmin_{key}"] = tmin
        out[f"at_limit_{key}"] = at_limit
        out[f"limit_{key}"] = lim
    return out


@partial(jax.jit, static_argnames=("max_steps", "solver"))
def observe_packed(G, a, v0, BS0, Bp, e_off, sig, tau, grid, rtol, atol, gtol, *, max_steps=SEGMENT_MAX_STEPS,
                   solver="kvaerno5"):
    r"""The whole observation for a packed batch (leading axis); pure, jitted, vmapped.

    Returns per problem ``min_identity``, ``tmin_identity``, ``min_sigma``, ``tmin_sigma``,
    ``at_limit_*``, ``limit_*`` (values at the steady state), ``limit_id_subspace`` (ID-subspace loss
    :math:`\|\Pi_Se\|^2` at the steady state), ``t_end`` (time the steady state was reached, inf if
    not), ``converged``, ``ok`` (no solver failure) and ``steps``.
    """
    run = jax.vmap(_observe_one, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, None, None, None, None, None, None))
    return run(G, a, v0, BS0, Bp, e_off, sig, tau, grid, rtol, atol, gtol, max_steps, solver)


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
                   solver="kvaerno5", max_steps=SEGMENT_MAX_STEPS) -> dict:
    """:func:`observe` on already packed arrays (see :func:`pack`)."""
    n = packed["G"].shape[0]
    bs = int(batch_size)
    grid = jnp.asarray(base_grid())
    tol = [jnp.asarray(float(x)) for x in (rtol, atol, gtol)]
    keys = ("G", "a", "v0", "BS0", "Bp", "e_off", "sig", "tau")
    chunks = []
    for start in range(0, n, bs):
        idx = np.arange(start, min(start + bs, n))
        pad = np.concatenate([idx, np.full(bs - idx.size, idx[-1])])
        args = [jnp.asarray(packed[k][pad]) for k in keys]
        res = observe_packed(*args, grid, *tol, solver=solver, max_steps=max_steps)
        chunks.append({k: np.asarray(v)[: idx.size] for k, v in res.items()})
        if progress is not None:
            progress(idx.size)
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

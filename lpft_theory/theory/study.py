r"""Tightness of the FT lower bound: the exact k = 1 map and the empirical constant for general k.

* :func:`k1_maps` — observed/bound for k = 1, ε = 0, Σ = I on a grid of (v₀/v*, log₁₀|v*|) at fixed
  s = ‖Π_S b₀‖: at t = ∞ (closed form, :func:`lpft_theory.theory.k1.ratio_inf`) and min over t for
  isotropic inputs (:func:`lpft_theory.theory.k1.arc_min_ratio`), with the failure region (ratio < 1)
  (``docs/theory.md`` §9.3–9.4).
* :func:`k1_worst` — the smallest min-over-t ratio found by Nelder–Mead over a bounded domain
  (numerical; the t = ∞ infimum 1/2 is analytic, §9.3), and :func:`k1_problem` builds that case as
  a Problem so that it can be confirmed by :mod:`lpft_theory.theory.reference`.
* :func:`empirical_constant` — from a campaign (:func:`lpft_theory.theory.campaign.run_campaign`): the
  largest c with observed ≥ c·bound in every applicable, non-vacuous trial, per statement, and the
  worst ratio per bin of ε, ‖w*‖, cos θ, φ and k. An **empirical finding, not a theorem** (§9.6).

Arrays in, arrays out (dicts of floats / lists); no I/O, no plotting.
"""

from __future__ import annotations

import math

import numpy as np

from . import bounds as theory
from . import k1

#: k = 1 search domain: |v*| in [W_MIN, W_MAX], s in [S_MIN, S_MAX], |v0/v*| in [1e-3, 1e3] with
#: ||v0/v*| - 1| >= X_GAP. Bounded so that √L_ood stays ≳ 1e-6 ‖w*‖ and the reference integrator (rtol 1e-11)
#: can confirm the value to 1e-8; the infimum 1/2 itself lies at the edge |v*| → 0, s → 1, v0/v* → 1.
W_MIN, W_MAX = 0.05, 1e2
S_MIN, S_MAX = 0.01, 0.99
X_GAP = 0.05
MAP_S = (0.6, 0.95, 0.99)


def k1_maps(quick: bool = False, s_values=MAP_S) -> dict:
    r"""Ratio maps for k = 1, ε = 0, Σ = I, v* > 0, over x = v₀/v* ∈ [−3, 3] and log₁₀ v* ∈ [−3, 1].

    Returns:
        dict with ``x`` (nx,), ``log10_w`` (nw,), ``s`` (ns,), ``ratio_inf`` and ``ratio_min_t``
        (ns, nw, nx) lists (NaN where φ = 0 or the start is on the saddle's stable set), and ``params``.
    """
    nx, nw = (25, 13) if quick else (121, 61)
    arc = dict(grid=801, zoom=1) if quick else {}
    x = np.linspace(-3.0, 3.0, nx)
    lw = np.linspace(-3.0, 1.0, nw)
    r_inf = np.full((len(s_values), nw, nx), np.nan)
    r_min = np.full_like(r_inf, np.nan)
    for a, s in enumerate(s_values):
        for b, l in enumerate(lw):
            w = 10.0**l
            v0 = x * w
            sign = k1.sign_rule(v0, w, s, True)
            with np.errstate(divide="ignore", invalid="ignore"):
                ri = k1.ratio_inf(v0, w, s, np.where(sign == 0, 1.0, sign))
            ok = (sign != 0) & np.isfinite(ri) & (np.abs(np.abs(x) - 1) > 1e-9)
            r_inf[a, b] = np.where(ok, ri, np.nan)
            if ok.any():  # min over t for every head of the row in one pass (same values as arc_min_ratio)
                r = k1.arc_min_ood_batch(v0[ok], w, s, **arc)
                r_min[a, b, ok] = r["min"] / (np.sqrt(max(1.0 - float(s) ** 2, 0.0)) * k1.bound_over_c(v0[ok], w))
    return dict(x=x.tolist(), log10_w=lw.tolist(), s=list(map(float, s_values)),
                ratio_inf=np.where(np.isfinite(r_inf), r_inf, np.nan).tolist(),
                ratio_min_t=r_min.tolist(),
                params=dict(k=1, eps=0.0, sigma="identity", inputs="isotropic (min over t)", v_star_sign="+",
                            grid=[nx, nw]))


def _decode(z):
    lw, lx, sx, sg = z
    w = 10.0 ** float(np.clip(lw, math.log10(W_MIN), math.log10(W_MAX)))
    x = (1.0 if sg >= 0 else -1.0) * 10.0 ** float(np.clip(lx, -3.0, 3.0))
    s = S_MIN + (S_MAX - S_MIN) / (1.0 + math.exp(-float(sx)))
    return x * w, w, s


def k1_worst(quick: bool = False, seed: int = 0) -> dict:
    r"""Smallest min-over-t ratio observed/bound (k = 1, ε = 0, isotropic inputs, Σ = I) found by
    Nelder–Mead from random starts over the bounded domain (numerical). Also returns the smallest
    t = ∞ ratio in the same domain (closed form) and the analytic infimum 1/2.

    Returns:
        dict: ``worst_ratio``, ``argmin`` (v0, v_star, s, c, at_limit, t_inf_ratio), ``worst_ratio_inf``
        and ``argmin_inf`` over the same domain, ``infimum_inf`` = 0.5, ``starts``.
    """
    import scipy.optimize

    rng = np.random.default_rng(seed)
    starts = 6 if quick else 40

    def f_min(z):
        v0, w, s = _decode(z)
        if abs(abs(v0) - w) < X_GAP * w or abs(abs(v0) - s) < 1e-6:
            return 1e9
        try:
            r = k1.arc_min_ratio(v0, w, s)[0]
        except ValueError:
            return 1e9
        return r if np.isfinite(r) else 1e9

    def f_inf(z):
        v0, w, s = _decode(z)
        if abs(abs(v0) - w) < X_GAP * w:
            return 1e9
        sign = float(k1.sign_rule(v0, w, s, True))
        r = float(k1.ratio_inf(v0, w, s, sign)) if sign != 0 else np.inf
        return r if np.isfinite(r) else 1e9

    out = {}
    for key, f in (("", f_min), ("_inf", f_inf)):
        best = (np.inf, None)
        for _ in range(starts):
            z0 = [rng.uniform(-3, 1), rng.uniform(-1, 1), rng.uniform(-3, 5), rng.choice([-1.0, 1.0])]
            sg = z0[3]
            res = scipy.optimize.minimize(lambda z: f(np.append(z, sg)), z0[:3], method="Nelder-Mead",
                                          options=dict(maxiter=150 if quick else 500, xatol=1e-10, fatol=1e-13))
            if res.fun < best[0]:
                best = (float(res.fun), np.append(res.x, sg))
        v0, w, s = _decode(best[1])
        arg = dict(v0=v0, v_star=w, s=s, c=math.sqrt(1 - s * s))
        if key == "":
            r, info = k1.arc_min_ratio(v0, w, s)
            arg["at_limit"] = bool(info["at_limit"])
            arg["t_inf_ratio"] = float(k1.ratio_inf(v0, w, s, k1.sign_rule(v0, w, s, True)))
        out["worst_ratio" + key] = best[0]
        out["argmin" + key] = arg
    out["infimum_inf"] = 0.5
    out["starts"] = starts
    out["domain"] = dict(w=[W_MIN, W_MAX], s=[S_MIN, S_MAX], v0_over_v_star=[1e-3, 1e3], min_gap_abs_x_minus_1=X_GAP)
    return out


def k1_problem(v0, v_star, s, g: float = 2.0, d: int = 10, m: int = 3):
    r"""The k = 1, ε = 0 Problem with isotropic inputs G = gI (S = first m axes, n = 2m), Σ = I,
    b₀ = s e₁ + c e_{m+1}, w* = v* b₀ and head v₀; in both statements' regimes (k < n < d, m + k < d)."""
    from ..problem import Problem

    b0 = np.zeros(d)
    b0[0], b0[m] = s, math.sqrt(max(1.0 - s * s, 0.0))
    X = math.sqrt(g / 2.0) * np.concatenate([np.eye(m, d), np.eye(m, d)])
    w = v_star * b0
    return Problem.from_arrays(X, X @ w, b0[None], np.array([float(v0)]), w, B_star=b0[None],
                               v_star=np.array([float(v_star)]))


def k1_confirm(worst: dict) -> dict:
    r"""Confirm :func:`k1_worst`'s case with the independent full-dimensional reference (DOP853,
    rtol 1e-11, steady state at gtol 1e-12): the reference's min over t against the arc value, and both
    statements' verdicts. Returns ``reference_min``, ``arc_min``, ``relative_difference``, ``bound``
    (final statement), ``reference_ratio``, ``problem``."""
    from . import reference

    a = worst["argmin"]
    p = k1_problem(a["v0"], a["v_star"], a["s"])
    ref = reference.reference_min_ood(p, gtol=1e-12)
    arc = k1.arc_min_ood(a["v0"], a["v_star"], a["s"])["min"]
    b = theory.ft_lower_bound(p, "final-thm-3.3").value
    return dict(reference_min=ref["min_identity"], reference_t_min=ref["tmin_identity"], arc_min=arc,
                relative_difference=abs(ref["min_identity"] - arc) / arc, bound=b,
                reference_ratio=ref["min_identity"] / b, problem=p)


# ---------------------------------------------------------------------------
# general k, from a campaign

BIN_KEYS = dict(eps="ing_eps", w_star_norm="ing_w_star_norm", cos_theta="ing_cos_theta_max", phi="ing_phi_final",
                k="ing_k")


def ratios_of_campaign(result: dict) -> dict:
    r"""Per statement, arrays over the applicable non-vacuous trials: ``ratio`` = observed/bound (the
    reference's value where a violation was re-integrated) and the ingredients of :data:`BIN_KEYS`."""
    out = {}
    for st in theory.STATEMENTS:
        rows = [r for r in result["rows"] if r[st]["applies"] and not r[st]["vacuous"] and r[st]["bound"] is not None]
        obs = [r[st].get("reference_observed", r[st]["observed"]) for r in rows]
        d = dict(ratio=np.array([o / r[st]["bound"] for o, r in zip(obs, rows)], dtype=np.float64))
        for name, key in BIN_KEYS.items():
            d[name] = np.array([r[key] for r in rows], dtype=np.float64)
        out[st] = d
    return out


def empirical_constant(result: dict, bins: int = 4) -> dict:
    r"""The largest c with observed ≥ c·bound in every applicable, non-vacuous campaign trial (the minimum
    ratio), per statement, with the trial count, and the minimum ratio in ``bins`` quantile bins of each
    of ε, ‖w*‖, cos θ, φ (and per k). **Empirical, not a theorem.**"""
    rat = ratios_of_campaign(result)
    out = dict(trials=len(result["rows"]), seed=result.get("seed"), statements={},
               label="empirical finding, not a theorem")
    for st, d in rat.items():
        r = d["ratio"]
        entry = dict(non_vacuous=int(r.size), constant=float(r.min()) if r.size else None,
                     below_one=int(np.sum(r < 1.0)), tightness={})
        if r.size:
            i = int(np.argmin(r))
            entry["argmin"] = {name: float(d[name][i]) for name in BIN_KEYS}
            for name in BIN_KEYS:
                vals = d[name]
                if name == "k":
                    edges = np.unique(vals)
                    entry["tightness"][name] = [dict(value=float(e), n=int(np.sum(vals == e)),
                                                     min_ratio=float(r[vals == e].min())) for e in edges]
                    continue
                qs = np.unique(np.quantile(vals, np.linspace(0, 1, bins + 1)))
                rows = []
                for lo, hi in zip(qs[:-1], qs[1:]):
                    sel = (vals >= lo) & (vals <= hi)
                    if sel.any():
                        rows.append(dict(lo=float(lo), hi=float(hi), n=int(sel.sum()), min_ratio=float(r[sel].min())))
                entry["tightness"][name] = rows
        out["statements"][st] = entry
    return out

r"""Projected FT against L2-SP at the same feature change (follow-up: Tian et al., CVPR 2023, TPGM).

For each radius γ (a fraction of FT's own distance :math:`\|B_{ft}^\infty - B_0\|_F`) this runs projected
FT (:mod:`lpft_theory.variants.projected`) to its limit, then finds the L2-SP penalty λ whose limit has the
*same* final distance :math:`\|B_\infty - B_0\|_F` (a 1-D root find in log λ, :func:`matched_lambda`) and
compares the two OOD losses. γ = 0 is LP (λ = ∞), γ ≥ FT's distance is FT (λ = 0).

The claim checked: a hard constraint on the distance to the pretrained weights beats an L2 penalty of
the same strength out of distribution. "Same strength" is made exact here as the same final distance.
"""

from __future__ import annotations

import math

import numpy as np

NAME = "projected"
TITLE = "Projected FT (TPGM) against L2-SP at the same distance ‖B − B₀‖_F"
CLAIM = ("Tian et al. (CVPR 2023, TPGM): fine-tuning inside a hard projection ball ‖B − B₀‖ ≤ γ is more robust "
         "OOD than FT, and a projection constraint beats an L2-SP-style penalty.")
CAPTION = ("**Projected FT against L2-SP** (d = 50, k = 2, m = 10, n = 20, ε = 0.05, random head): OOD loss of the "
           "t = ∞ limit against the radius γ of ‖B − B₀‖_F ≤ γ, and of L2-SP at the λ with the same final distance.\n"
           "γ = 0 is LP, γ ≥ FT's own distance is FT; between them the verdict line gives which of the two is lower.")

#: The experiment's problem and grids.
CONFIG = dict(seed=0, d=50, k=2, m=10, n=20, eps=0.05, head_scale=1.0,
              fractions_full=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2),
              fractions_quick=(0.0, 0.1, 0.5, 1.0),
              horizon=100.0, lambda_xtol=1e-6, gtol=1e-10, small_lambda=1e-4)


def problem(seed: int = 0):
    """The experiment's :class:`~lpft_theory.problem.Problem` for ``seed``."""
    from ..problem import Problem, regime_warnings_silenced

    c = CONFIG
    with regime_warnings_silenced():
        return Problem.random(seed=int(seed), d=c["d"], k=c["k"], m=c["m"], n=c["n"], eps=c["eps"],
                              head_scale=c["head_scale"])


def _limit(traj):
    from ..metrics import ood_loss, train_loss

    v, B_S = traj.v[-1], traj.B_S[-1]
    dist = float(np.linalg.norm(np.asarray(B_S) - np.asarray(traj.rp.B_S0)))
    return dict(ood=float(ood_loss(traj.rp, v, B_S)), train=float(train_loss(traj.rp, v, B_S)), distance=dist,
                converged=None if traj.converged is None else bool(traj.converged))


def l2sp_at(rp, lam, horizon, gtol=CONFIG["gtol"]) -> dict:
    """L2-SP with penalty ``lam`` (from the problem's head) at time ``horizon`` (``inf``: the limit): OOD, train
    loss, distance ‖B − B₀‖_F."""
    from ..variants import l2sp

    return _limit(l2sp.simulate_l2sp(rp, lam, [horizon], gtol=gtol))


def matched_lambda(rp, target: float, horizon: float, *, xtol: float = CONFIG["lambda_xtol"],
                   gtol: float = CONFIG["gtol"]):
    r"""The λ whose L2-SP state at ``horizon`` has :math:`\|B - B_0\|_F` = ``target``.

    At a finite horizon T the distance runs from FT's (λ → 0) to 0 (λ → ∞), so every target below FT's
    distance at T is matched. At T = ∞ it is not: the λ → 0⁺ limit of L2-SP is the interpolating solution
    nearest B₀, not FT's limit, so only targets below that distance are reached.

    Brent's method on :math:`\log_{10}\lambda`, the bracket grown by factors of 10 from λ = 1 until the
    distance changes sign; ``xtol`` is the tolerance in :math:`\log_{10}\lambda`. The distance of the limit
    decreases with λ on the problems tried (it is checked: the bracket must straddle the target).

    Returns:
        ``(lam, limit_dict, evaluations)``.

    Raises:
        RuntimeError: no bracket was found in :math:`[10^{-8}, 10^{8}]`.
    """
    from scipy.optimize import brentq

    cache = {}

    def gap(log_lam):
        if log_lam not in cache:
            cache[log_lam] = l2sp_at(rp, 10.0**log_lam, horizon, gtol)
        return cache[log_lam]["distance"] - target

    lo = hi = 0.0
    if gap(0.0) > 0:  # distance too large: raise lambda
        while gap(hi) > 0:
            lo, hi = hi, hi + 1.0
            if hi > 8:
                raise RuntimeError(f"no L2-SP lambda <= 1e8 reaches distance {target:g}")
    else:
        while gap(lo) < 0:
            lo, hi = lo - 1.0, lo
            if lo < -8:
                raise RuntimeError(f"no L2-SP lambda >= 1e-8 reaches distance {target:g}")
    x = brentq(gap, lo, hi, xtol=xtol)
    lam = 10.0**x
    return lam, l2sp_at(rp, lam, horizon, gtol), len(cache) + 1


def run(quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """Projected FT and L2-SP at the matched λ over the γ grid, at the horizon T; JSON-able.

    Also (quick=False only) the t = ∞ limit of L2-SP at a small λ (``CONFIG["small_lambda"]``): the distance
    L2-SP's limit cannot exceed, with its OOD loss.
    """
    from ..reduced import reduce
    from ..variants import projected

    c = CONFIG
    T = float(c["horizon"])
    rp = reduce(problem(seed))
    # FT and LP through the same compiled field: gamma = inf is FT, gamma = 0 is LP (both tested against
    # lpft_theory.solve.simulate in tests/variants/test_projected_flow.py)
    ft = _limit(projected.simulate_projected(rp, math.inf, [T]))
    lp = _limit(projected.simulate_projected(rp, 0.0, [T]))
    fractions = c["fractions_quick"] if quick else c["fractions_full"]
    rows = []
    it = fractions
    if progress:
        from tqdm import tqdm

        it = tqdm(fractions, desc="projected", leave=False)
    for f in it:
        gamma = f * ft["distance"]
        tr = projected.simulate_projected(rp, gamma, [T])
        pr = _limit(tr)
        pr["overshoot"] = float(tr.info["overshoot"])
        if pr["distance"] <= 0.0:
            lam, l2, evals = math.inf, dict(lp), 0
        elif pr["distance"] >= ft["distance"] * (1.0 - 1e-9):
            lam, l2, evals = 0.0, dict(ft), 0
        else:
            lam, l2, evals = matched_lambda(rp, pr["distance"], T)
        rows.append(dict(fraction=float(f), gamma=float(gamma), projected=pr,
                         l2sp=dict(l2, lam=lam, evaluations=evals)))
    small = None
    if not quick:
        small = dict(l2sp_at(rp, c["small_lambda"], math.inf, c["gtol"]), lam=c["small_lambda"])
    data = dict(
        params=dict(problem=f"Problem.random(seed={seed}, d={c['d']}, k={c['k']}, m={c['m']}, n={c['n']}, "
                    f"eps={c['eps']}, head_scale={c['head_scale']})", seed=int(seed), d=c["d"], k=c["k"], m=c["m"],
                    n=c["n"], eps=c["eps"], head_scale=c["head_scale"], init="random", sigma_ood="identity",
                    fractions=list(map(float, fractions)), horizon=T, gtol=c["gtol"],
                    lambda_search=f"brentq on log10(lambda), xtol={c['lambda_xtol']:g}, same distance at t = T",
                    small_lambda=c["small_lambda"], quick=bool(quick),
                    ft_lp="simulate_projected with gamma = inf (FT) and gamma = 0 (LP), same compiled field"),
        ft=ft, lp=lp, rows=rows, l2sp_small_lambda_limit=small,
        gamma=[r["gamma"] for r in rows],
        ood_projected=[r["projected"]["ood"] for r in rows],
        ood_l2sp=[r["l2sp"]["ood"] for r in rows],
        lam=[r["l2sp"]["lam"] for r in rows],
    )
    worse = [i for i in _interior(data) if rows[i]["projected"]["ood"] > rows[i]["l2sp"]["ood"]]
    data["case"] = None
    if worse:
        i = worse[0]
        data["case"] = dict(npz_name=f"followup_projected_seed{seed}", seed=int(seed), gamma=rows[i]["gamma"],
                            lam=rows[i]["l2sp"]["lam"], horizon=T,
                            why="projected FT has a larger OOD loss than L2-SP at the same distance ‖B − B₀‖_F at t = T")
    return data


def _interior(data):
    """Indices of the γ with 0 < distance < FT's (where the two methods differ)."""
    return [i for i, r in enumerate(data["rows"])
            if 0.0 < r["projected"]["distance"] < data["ft"]["distance"] * (1.0 - 1e-9)]


def verdict(data: dict) -> dict:
    """Agrees when projected FT is below L2-SP OOD at every interior γ and below FT at every γ < FT's distance."""
    rows = data["rows"]
    inter = _interior(data)
    better = [i for i in inter if rows[i]["projected"]["ood"] <= rows[i]["l2sp"]["ood"]]
    beats_ft = [i for i in inter if rows[i]["projected"]["ood"] < data["ft"]["ood"]]
    ratios = [rows[i]["projected"]["ood"] / rows[i]["l2sp"]["ood"] for i in inter]
    if not inter:
        return dict(agrees="partly", line="no γ strictly between 0 and FT's distance was run")
    agrees = "yes" if len(better) == len(inter) and len(beats_ft) == len(inter) else (
        "no" if not better else "partly")
    lo, hi = (min(ratios), max(ratios))
    line = (f"projected FT has OOD ≤ L2-SP at the same ‖B−B₀‖_F for {len(better)}/{len(inter)} radii "
            f"(ratio projected/L2-SP {lo:.3g}–{hi:.3g}); below FT ({data['ft']['ood']:.3g}) at {len(beats_ft)}/"
            f"{len(inter)}; LP {data['lp']['ood']:.3g}")
    return dict(agrees=agrees, line=line)


def case_problem(data: dict):
    """The problem where projected FT is worse than L2-SP (None when it never is)."""
    if not data.get("case"):
        return None
    return problem(data["case"]["seed"])


def plot(data: dict):
    """OOD loss of the limit against γ: projected FT and L2-SP at the matched λ; FT and LP as lines."""
    from matplotlib.figure import Figure

    from ..figures import plots

    with plots.style():
        fig = Figure(figsize=(8.0, 3.3), layout="constrained")
        ax, ax2 = fig.subplots(1, 2)
        g = np.asarray(data["gamma"], dtype=float)
        ax.plot(g, data["ood_projected"], "o-", color=plots.METHOD_COLORS["ft"], label="projected FT, ‖B−B₀‖ ≤ γ")
        ax.plot(g, data["ood_l2sp"], "s--", color=plots.METHOD_COLORS["lpft"], label="L2-SP, same final distance")
        ax.axhline(data["ft"]["ood"], color="0.3", lw=0.8, ls=":", label="FT")
        ax.axhline(data["lp"]["ood"], color="0.6", lw=0.8, ls="-.", label="LP")
        ax.set_yscale("log")
        ax.set_xlabel("radius γ")
        ax.set_ylabel("OOD loss at t = ∞")
        ax.legend(fontsize=7)
        lam = np.asarray(data["lam"], dtype=float)
        ok = np.isfinite(lam) & (lam > 0)
        ax2.plot(g[ok], lam[ok], "s-", color=plots.METHOD_COLORS["lpft"])
        ax2.set_yscale("log")
        ax2.set_xlabel("radius γ (= L2-SP's final distance)")
        ax2.set_ylabel("matched L2-SP λ")
        p = data["params"]
        fig.suptitle(f"Projected FT vs L2-SP (d={p['d']}, k={p['k']}, m={p['m']}, ε={p['eps']}, seed {p['seed']})",
                     fontsize=10)
        fig.draw_without_rendering()
    return fig

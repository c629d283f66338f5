r"""Figures of the beyond-the-paper methods, listed in :mod:`lpft_theory.figures.registry`.

``wise_ft``   ID-subspace and OOD loss against α for WiSE-FT interpolation from (v₀, B₀) to FT
              and from (v_lp^∞, B₀) to LP-FT (:mod:`lpft_theory.variants.wise`).
``lr_ratio``  OOD loss at convergence of discrete GD against the feature/head step-size ratio
              lr_B/lr_v, with the LP, LP-FT and FT (flow) levels as lines (:mod:`lpft_theory.variants.gd`).

Each figure has a ``compute_*(quick) -> dict`` (simulations; JSON-able data with its ``params``) and a
``plot_*(data) -> Figure`` (drawing only), as :class:`~lpft_theory.figures.registry.FigureSpec` requires.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from .paper import SHAPE, progress, random_problem

WISE = dict(eps=0.05, head_scale=1.0, seeds_full=8, seeds_quick=2, n_alpha_full=21, n_alpha_quick=11)
LR_RATIO = dict(eps=0.05, head_scale=1.0, seeds_full=4, seeds_quick=1, lr_v_fraction=0.03,
                ratios_full=tuple(np.logspace(-3, 1, 9).tolist()), ratios_quick=(1e-2, 1e-1, 1.0, 10.0),
                step_budget=3.0e4, max_steps=5_000_000, gtol=1e-9)
#: Floor for log axes (losses that are exactly 0 up to rounding).
LOG_FLOOR = 1e-16


# ---------------------------------------------------------------------------
# wise_ft


def compute_wise_ft(quick: bool = False) -> dict:
    """Losses along θ(α) = (1−α)θ₀ + αθ_ft (t = ∞ endpoints) for several seeds, from init and from LP."""
    from ..variants import wise
    from ..metrics import trajectory_metrics

    c = WISE
    seeds = tuple(range(c["seeds_quick"] if quick else c["seeds_full"]))
    alphas = np.linspace(0.0, 1.0, c["n_alpha_quick"] if quick else c["n_alpha_full"])
    out = {f: dict(id_subspace_loss=[], ood_loss=[], converged=[], best_alpha_ood=[]) for f in wise.WISE_FROM}
    fine = np.linspace(0.0, 1.0, 2001)
    for seed in progress(seeds, "wise_ft"):
        p = random_problem(seed, c["eps"], head_scale=c["head_scale"])
        for f in wise.WISE_FROM:
            traj = wise.wise_ft(p, alphas, f, ft_time=math.inf)
            info = traj.info
            m = trajectory_metrics(traj)
            out[f]["id_subspace_loss"].append(m["id_subspace_loss"])
            out[f]["ood_loss"].append(m["ood_loss"])
            out[f]["converged"].append(bool(info["converged"]))
            out[f]["best_alpha_ood"].append(float(fine[np.argmin(np.polyval(info["ood_loss_poly"][::-1], fine))]))
    return dict(
        params=dict(SHAPE, eps=c["eps"], head="random", head_scale=c["head_scale"], seeds=list(seeds),
                    sigma_ood="identity", ft_time="inf", alphas=alphas,
                    problem="Problem.random(seed, d, k, m, n, eps, head_scale)",
                    method="lpft_theory.variants.wise.wise_ft(p, alphas, wise_from, ft_time=inf)",
                    best_alpha="argmin over a 2001-point grid of the exact quartic L_ood(alpha) in [0, 1]"),
        alphas=alphas,
        **{f: {k: np.asarray(v) for k, v in d.items()} for f, d in out.items()},
    )


def plot_wise_ft(data) -> Figure:
    """Two panels (ID-subspace loss, OOD loss) against α; thin lines per seed, bold the median."""
    from . import plots

    with plots.style():
        a = plots._arr(data["alphas"])
        fig = Figure(figsize=(8.0, 3.3), layout="constrained")
        axes = fig.subplots(1, 2)
        styles = {"init": (plots.METHOD_COLORS["ft"], "from (v₀, B₀): α=1 is FT"),
                  "lp": (plots.METHOD_COLORS["lpft"], "from (v_lp, B₀): α=0 LP, α=1 LP-FT")}
        for ax, key, title in zip(axes, ("id_subspace_loss", "ood_loss"),
                                  ("ID-subspace loss ‖Π_S e‖²", "OOD loss L_ood (Σ = I)")):
            for f, (color, label) in styles.items():
                vals = np.maximum(plots._arr(data[f][key]), LOG_FLOOR)
                for row in vals:
                    ax.plot(a, row, color=color, lw=0.7, alpha=0.35)
                ax.plot(a, np.nanmedian(vals, axis=0), color=color, lw=2.2, label=label)
            ax.set_yscale("log")
            ax.set_xlabel("interpolation weight α")
            ax.set_title(title)
        axes[0].legend(loc="lower left")
        p = data["params"]
        fig.suptitle(f"WiSE-FT θ(α) = (1−α)θ₀ + αθ_ft   (d={p['d']}, k={p['k']}, m={p['m']}, ε={p['eps']}, "
                     f"{len(p['seeds'])} seeds; bold: median)", fontsize=10)
        fig.draw_without_rendering()
    return fig


# ---------------------------------------------------------------------------
# lr_ratio


def compute_lr_ratio(quick: bool = False) -> dict:
    r"""GD from the random head with lr_v fixed and lr_B = ratio · lr_v, run until the followed gradient
    norm is <= gtol · max(1, initial) (or the step budget ``step_budget / ratio`` runs out); OOD loss there.

    lr_v = ``lr_v_fraction`` × the exact LP stability limit 1/λ_max(B₀XᵀXB₀ᵀ) of the problem. Levels:
    LP (closed-form limit), LP-FT and FT (flows, t = ∞).
    """
    from ..variants import gd
    from ..metrics import ood_loss
    from ..reduced import reduce
    from ..solve import simulate

    c = LR_RATIO
    seeds = tuple(range(c["seeds_quick"] if quick else c["seeds_full"]))
    ratios = np.asarray(c["ratios_quick"] if quick else c["ratios_full"], dtype=np.float64)
    res = dict(ood_loss=[], converged=[], diverged=[], steps_used=[], stability_ratio_start=[], lr_v=[],
               levels=dict(lp=[], lpft=[], ft=[]))
    for seed in progress(seeds, "lr_ratio"):
        p = random_problem(seed, c["eps"], head_scale=c["head_scale"])
        rp = reduce(p)
        for m in ("lp", "lpft", "ft"):
            tr = simulate(rp, m, [math.inf])
            res["levels"][m].append(float(ood_loss(rp, tr.v[-1], tr.B_S[-1])))
        lr_v = c["lr_v_fraction"] * gd.lp_stability_limit(rp)
        row = {k: [] for k in ("ood_loss", "converged", "diverged", "steps_used", "stability_ratio_start")}
        for r in ratios:
            steps = int(min(c["max_steps"], math.ceil(c["step_budget"] / (c["lr_v_fraction"] * r))))
            g = gd.simulate_gd(rp, lr_v, r * lr_v, steps, gtol=c["gtol"], save_at=np.array([0, steps]), warn=False)
            i = g.info
            row["ood_loss"].append(float(ood_loss(rp, g.v[-1], g.B_S[-1])) if not i["diverged"] else math.nan)
            row["converged"].append(i["converged_at"] is not None)
            row["diverged"].append(i["diverged"])
            row["steps_used"].append(i["converged_at"] if i["converged_at"] is not None else (i["diverged_at"] or steps))
            row["stability_ratio_start"].append(i["stability_ratio_start"])
        for k, v in row.items():
            res[k].append(v)
        res["lr_v"].append(lr_v)
    return dict(
        params=dict(SHAPE, eps=c["eps"], head="random", head_scale=c["head_scale"], seeds=list(seeds),
                    sigma_ood="identity", init="random (the problem's head v0)", lr_v_fraction=c["lr_v_fraction"],
                    lr_v_rule="lr_v = lr_v_fraction / lambda_max(B0 X^T X B0^T) (exact LP stability limit)",
                    step_budget_rule="steps = min(max_steps, step_budget / (lr_v_fraction * ratio))",
                    step_budget=c["step_budget"], max_steps=c["max_steps"], gtol=c["gtol"],
                    gtol_rule="stop when the gradient norm <= gtol * max(1, initial)",
                    levels="LP: closed-form limit; LP-FT, FT: lpft_theory.solve.simulate at t = inf"),
        ratios=ratios,
        **{k: (np.asarray(v) if k != "levels" else {m: np.asarray(x) for m, x in v.items()}) for k, v in res.items()},
    )


def plot_lr_ratio(data) -> Figure:
    """(a) the first seed: OOD loss at convergence vs lr_B/lr_v with LP, LP-FT, FT levels;
    (b) every seed, relative to its LP-FT level. Open markers: step budget ran out; × : diverged."""
    from . import plots

    with plots.style():
        r = plots._arr(data["ratios"])
        ood = plots._arr(data["ood_loss"])
        conv = np.asarray(data["converged"], dtype=bool)
        div = np.asarray(data["diverged"], dtype=bool)
        lev = {m: plots._arr(data["levels"][m]) for m in ("lp", "lpft", "ft")}
        fig = Figure(figsize=(8.0, 3.3), layout="constrained")
        ax, bx = fig.subplots(1, 2)
        gd_color = "#000000"
        ax.plot(r, ood[0], color=gd_color, lw=1.5, label="GD at its stationary point")
        ax.plot(r[conv[0]], ood[0][conv[0]], "o", color=gd_color, ms=5)
        short = ~conv[0] & ~div[0]
        if short.any():
            ax.plot(r[short], ood[0][short], "o", mfc="white", color=gd_color, ms=5, label="GD, budget ran out")
        for m, ls in (("lp", "--"), ("lpft", "-"), ("ft", ":")):
            ax.axhline(lev[m][0], color=plots.METHOD_COLORS[m], ls=ls, lw=1.6,
                       label=f"{plots.METHOD_LABELS[m]} (flow, t = ∞)")
        if div[0].any():
            top = np.nanmax(np.concatenate([ood[0], [lev["ft"][0]]]))
            ax.plot(r[div[0]], np.full(div[0].sum(), top), "x", color="#CC79A7", ms=7, label="GD diverged")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("feature / head step size  lr_B / lr_v")
        ax.set_ylabel("OOD loss at convergence")
        ax.set_title(f"seed {data['params']['seeds'][0]}")
        ax.legend(fontsize=7.5, loc="upper left")
        rel = ood / lev["lpft"][:, None]
        for i in range(rel.shape[0]):
            bx.plot(r, rel[i], color=gd_color, lw=0.9, alpha=0.6, marker="o", ms=3)
        bx.axhline(1.0, color=plots.METHOD_COLORS["lpft"], lw=1.6, label="LP-FT")
        bx.axhline(float(np.median(lev["lp"] / lev["lpft"])), color=plots.METHOD_COLORS["lp"], ls="--", lw=1.4,
                   label="LP (median)")
        bx.axhline(float(np.median(lev["ft"] / lev["lpft"])), color=plots.METHOD_COLORS["ft"], ls=":", lw=1.4,
                   label="FT (median)")
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.set_xlabel("lr_B / lr_v")
        bx.set_ylabel("OOD loss / LP-FT's")
        bx.set_title(f"all {rel.shape[0]} seeds, relative to LP-FT")
        bx.legend(fontsize=7.5, loc="upper left")
        fig.draw_without_rendering()
    return fig

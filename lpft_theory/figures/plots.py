r"""Plot functions: data (arrays, as returned by the ``compute_*`` functions of :mod:`lpft_theory.figures.paper`
or read back from their JSON; for the campaign histogram, the ratios of
:func:`lpft_theory.theory.campaign.observed_over_bound`) in, :class:`matplotlib.figure.Figure` out.
No simulation happens here, and no pyplot: every figure is a ``Figure()`` of its own, so nothing
needs closing and no backend is switched.

Style is defined once: :data:`METHOD_COLORS` (Okabe–Ito, colourblind-safe) gives every method the
same colour in every figure; quantities are named as in ``docs/theory.md``.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import NullFormatter

#: Okabe–Ito colours, one per method, used in every figure.
METHOD_COLORS = {"lp": "#0072B2", "ft": "#D55E00", "lpft": "#009E73"}
METHOD_LABELS = {"lp": "LP", "ft": "FT", "lpft": "LP-FT"}
#: Other roles (Okabe–Ito as well).
COLORS = dict(B0="#E69F00", w_star="#000000", bound_submission="#CC79A7", bound_final="#000000",
              guide="#777777", violation="#CC79A7", perp="#56B4E9")
STATEMENT_LABELS = {"submission-thm-3.1": "bound, submission Thm 3.1", "final-thm-3.3": "bound, final Thm 3.3"}

RC = {"font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "legend.fontsize": 9,
      "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False,
      "svg.hashsalt": "lpft", "pdf.compression": 6}


def style():
    """Context manager with the figures' rcParams (:data:`RC`). The plot functions draw inside it;
    wrap saving in it too (``figures.generate`` does) so that lazily created artists match."""
    import matplotlib

    return matplotlib.rc_context(RC)


def _styled(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            fig = fn(*args, **kwargs)
            fig.draw_without_rendering()  # resolve ticks and layout under the style
            fig.draw_without_rendering()
            # freeze the layout: constrained layout re-solved on every draw drifts slightly, so the
            # PNG and the PDF (and repeated saves) would not share one layout
            fig.set_layout_engine("none")
        return fig

    return wrapper


def _figure(width, height) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _arr(x, dtype=np.float64):
    """JSON None (NaN/inf) back to NaN."""
    a = np.asarray(x, dtype=object)
    a = np.where(a == None, np.nan, a)  # noqa: E711 - elementwise
    return a.astype(dtype)


def _band(ax, t, values, color, lo=0.0, hi=100.0, alpha=0.18, label=None):
    v = _arr(values)
    ax.fill_between(t, np.nanpercentile(v, lo, axis=0), np.nanpercentile(v, hi, axis=0), color=color, alpha=alpha,
                    linewidth=0, label=label)


# ---------------------------------------------------------------------------
# toy_2d


def _arrow(ax, start, end, color, lw=2.0, ls="-", alpha=1.0, zorder=3):
    ax.add_patch(FancyArrowPatch(tuple(start), tuple(end), arrowstyle="-|>", mutation_scale=13, color=color, lw=lw,
                                 linestyle=ls, alpha=alpha, zorder=zorder, shrinkA=0, shrinkB=0))


@_styled
def plot_toy_2d(data) -> Figure:
    """Three panels (LP, FT, LP-FT) in the (e₁, e₂) plane: B₀, w*, the learned w, the path w(t),
    the dotted line of equal projection on x_id = e₁, and for FT the moving feature B(t)."""
    w_star = _arr(data["w_star"])
    B0 = _arr(data["B0"])
    fig = _figure(9.6, 3.9)
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    lo = min(-0.15, float(np.min([_arr(data["path"][m]["w"]).min() for m in ("lp", "ft", "lpft")])) - 0.1)
    hi = max(1.45, float(np.max(w_star)) + 0.25)
    titles = {"lp": "(a) LP", "ft": "(b) FT", "lpft": "(c) LP-FT"}
    notes = {"lp": "head $v$ trained, $B = B_0$ frozen:\n$w$ stays on $B_0$'s line",
             "ft": "$B(t)$ moves only along $e_1$ (Lemma A.3);\nits $e_2$ part stays $\\sin a$",
             "lpft": "FT from the LP head: residual 0,\n$w(t) = w_{lp}$ for all $t$"}
    for ax, m in zip(axes, ("lp", "ft", "lpft")):
        col = METHOD_COLORS[m]
        w = _arr(data["path"][m]["w"])
        w_end = _arr(data[f"w_{m}"])
        ax.axvline(w_star[0], color=COLORS["guide"], ls=":", lw=1.3, zorder=1)
        ax.axhline(0, color="#bbbbbb", lw=0.6, zorder=0)
        ax.axvline(0, color="#bbbbbb", lw=0.6, zorder=0)
        # B0's line (LP can only move along it)
        s = np.array([lo, hi]) / max(abs(B0[0]), 1e-12)
        ax.plot(s * B0[0], s * B0[1], color=COLORS["B0"], lw=0.8, ls="--", alpha=0.6, zorder=1)
        if m == "ft":
            B = _arr(data["path"][m]["B"])
            ax.plot(B[:, 0], B[:, 1], color=COLORS["B0"], lw=3.0, alpha=0.45, zorder=2, solid_capstyle="butt")
            _arrow(ax, (0, 0), B[-1], COLORS["B0"], lw=2.0, ls="--", zorder=6)
        ax.plot(w[:, 0], w[:, 1], color=col, lw=1.4, alpha=0.9, zorder=3)
        ax.plot(w[0, 0], w[0, 1], "o", color=col, ms=4, zorder=4)
        ax.plot([w_end[0], w_star[0]], [w_end[1], w_star[1]], color=col, lw=3, alpha=0.3, zorder=2)
        _arrow(ax, (0, 0), w_end, col, lw=3.2, zorder=5)
        _arrow(ax, (0, 0), B0, COLORS["B0"], lw=1.8, zorder=7)
        ax.plot([w_star[0]], [w_star[1]], "*", color=COLORS["w_star"], ms=13, zorder=8)
        ax.text(0.03, 0.97, notes[m], transform=ax.transAxes, va="top", ha="left", fontsize=8.5, color="#333333")
        loss = data["ood_loss"][m]
        ax.set_title(f"{titles[m]}:  $L_{{ood}} = \\|w - w_\\star\\|^2 = {loss:.3f}$")
        ax.set_aspect("equal")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("$e_1$ (ID direction $x_{id}$)")
    axes[0].set_ylabel("$e_2$ (OOD direction)")
    handles = [
        Line2D([], [], color=COLORS["B0"], lw=2.2, label="$B_0$ (pretrained feature)"),
        Line2D([], [], color=COLORS["B0"], lw=2.2, ls="--", label="$B(\\infty)$ after FT; band: $B(t)$"),
        Line2D([], [], color=COLORS["w_star"], marker="*", ls="", ms=11, label="$w_\\star$"),
        Line2D([], [], color="#555555", lw=2.4, label="learned $w = B^\\top v$ (method colour)"),
        Line2D([], [], color="#555555", lw=1.4, marker="o", ms=4, label="path $w(t)$ from $w(0)$"),
        Line2D([], [], color=COLORS["guide"], ls=":", lw=1.3, label="same projection on $x_{id}$ as $w_\\star$"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


# ---------------------------------------------------------------------------
# ood_vs_time


@_styled
def plot_ood_vs_time(data) -> Figure:
    r""":math:`\sqrt{L_{ood}}(t)` on log axes: bold line = representative problem, band = min–max over
    seeds, for LP, FT and LP-FT; horizontal lines: the representative problem's FT lower bounds."""
    t = _arr(data["times"])
    rep = int(data["representative"])
    fig = _figure(7.6, 5.0)
    ax = fig.subplots()
    for m in ("lp", "ft", "lpft"):
        v = _arr(data["sqrt_ood"][m])
        _band(ax, t, v, METHOD_COLORS[m])
        ax.plot(t, v[rep], color=METHOD_COLORS[m], lw=2.4, label=f"{METHOD_LABELS[m]}")
    styles = {"submission-thm-3.1": dict(color=COLORS["bound_submission"], lw=4.0, alpha=0.55, ls="-"),
              "final-thm-3.3": dict(color=COLORS["bound_final"], lw=1.5, ls=(0, (5, 3)))}
    for st, style in styles.items():
        b = data["representative_bounds"][st]
        if b is None or not math.isfinite(b):
            ax.plot([], [], label=f"{STATEMENT_LABELS[st]}: undefined here", **style)
        elif b <= 0:
            ax.plot([], [], label=f"{STATEMENT_LABELS[st]}: {b:.3f} (vacuous)", **style)
        else:
            ax.axhline(b, label=f"{STATEMENT_LABELS[st]}: {b:.3f}", **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("training time $t$ (LP-FT: time of its FT phase)")
    ax.set_ylabel("$\\sqrt{L_{ood}}$ = $\\|B^\\top v - w_\\star\\|$  ($\\Sigma = I$)")
    p = data["params"]
    n = len(p["seeds"])
    ax.set_title(f"d = {p['d']}, k = {p['k']}, m = {p['m']}, n = {p['n']}, ε = {p['eps']}; "
                 f"bold: seed {p['representative_seed']}, bands: min–max over {n} seeds\n"
                 f"min over t of FT > LP at t = ∞ in {data['seeds_ft_min_above_lp_limit']}/{n} seeds, "
                 f"> LP-FT at every t in {data['seeds_ft_min_above_lpft_max']}/{n}")
    fig.legend(loc="outside lower center", ncol=3, frameon=False)
    return fig


# ---------------------------------------------------------------------------
# distortion


@_styled
def plot_distortion(data) -> Figure:
    """(a) feature change on ID and OOD inputs vs t for FT and LP-FT (median line, 10–90% band);
    (b) the S⊥ part of the OOD change from full-coordinate runs; (c) FT / LP-FT change at convergence."""
    t = _arr(data["times"])
    fig = _figure(10.5, 3.9)
    axes = fig.subplots(1, 3, width_ratios=[1.3, 1.0, 0.8])
    ax = axes[0]
    for m in ("ft", "lpft"):
        for kind, ls in (("id", "-"), ("ood", "--")):
            v = _arr(data[m][kind])
            _band(ax, t, v, METHOD_COLORS[m], 10, 90, alpha=0.12)
            ax.plot(t, np.nanmedian(v, axis=0), color=METHOD_COLORS[m], ls=ls, lw=2.0,
                    label=f"{METHOD_LABELS[m]}, {'ID' if kind == 'id' else 'OOD'} inputs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("training time $t$")
    ax.set_ylabel("mean $\\|B(t)x - B_0x\\|$")
    ax.set_title("(a) feature change (median, 10–90% band)")
    ax.legend(loc="lower right", frameon=False)

    ax = axes[1]
    for m in ("ft", "lpft"):
        v = _arr(data[m]["ood_perp_full"])
        for i, row in enumerate(v):
            ax.plot(t, np.where(row > 0, row, np.nan), color=METHOD_COLORS[m], lw=1.2, alpha=0.8,
                    label=f"{METHOD_LABELS[m]} ({len(v)} seeds)" if i == 0 else None)
    ax.axhline(1e-12, color=COLORS["guide"], ls=":", lw=1.3, label="$10^{-12}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(1e-19, 1e-10)
    ax.set_xlabel("training time $t$")
    ax.set_ylabel("mean $\\|(B(t) - B_0)\\,\\Pi_{S^\\perp}x\\|$, OOD $x$")
    nz = sum(int(np.sum(_arr(data[m]["ood_perp_full"]) == 0)) for m in ("ft", "lpft"))
    ax.set_title(f"(b) its $S^\\perp$ part (full coords)\nmax {data['max_ood_perp']:.1e}"
                 + (f"; {nz} exact zeros not drawn" if nz else ""))
    ax.legend(loc="upper left", frameon=False, ncol=1)

    ax = axes[2]
    r = data["ratio_at_convergence"]
    rng = np.random.default_rng(0)
    for j, kind in enumerate(("id", "ood")):
        v = _arr(r[kind])
        x = j + rng.uniform(-0.18, 0.18, size=v.size)
        ax.plot(x, v, "o", color=METHOD_COLORS["ft"], ms=4, alpha=0.7, mec="none")
        med = float(np.median(v))
        ax.plot([j - 0.3, j + 0.3], [med, med], color="black", lw=2)
        ax.annotate(f"{med:.0f}×", (j + 0.32, med), va="center", fontsize=9)
    ax.axhline(data["paper_ratio"], color=COLORS["guide"], ls="--", lw=1.3)
    ax.set_xticks([0, 1], ["ID", "OOD"])
    ax.set_xlim(-0.5, 1.6)
    ax.set_yscale("log")
    ax.set_ylabel("FT change / LP-FT change")
    allv = np.concatenate([_arr(r["id"]), _arr(r["ood"])])
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if allv.min() / 1.5 <= t <= allv.max() * 1.5]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title("(c) ratio at $t = \\infty$\nbar: median; dashed: 20×")
    return fig


# ---------------------------------------------------------------------------
# eps_tradeoff


@_styled
def plot_eps_tradeoff(data) -> Figure:
    r"""ID-subspace loss :math:`\|\Pi_S e\|^2` and OOD loss :math:`L_{ood}` at t = ∞ against ε (symlog x,
    so ε = 0 is drawn); mean over seeds and 10–90% band."""
    eps = _arr(data["eps"])
    fig = _figure(9.6, 3.8)
    axes = fig.subplots(1, 2, sharex=True)
    names = {"id_subspace_loss": "ID-subspace loss $\\|\\Pi_S e\\|^2$", "ood_loss": "$L_{ood} = \\|e\\|^2$"}
    for ax, key, letter in zip(axes, ("id_subspace_loss", "ood_loss"), "ab"):
        for m in ("lp", "ft", "lpft"):
            v = _arr(data["values"][m][key])  # (E, S)
            ax.fill_between(eps, np.percentile(v, 10, axis=1), np.percentile(v, 90, axis=1),
                            color=METHOD_COLORS[m], alpha=0.18, lw=0)
            ax.plot(eps, v.mean(axis=1), color=METHOD_COLORS[m], lw=2.2, marker="o", ms=3.5, label=METHOD_LABELS[m])
        ax.set_xscale("symlog", linthresh=1e-3, linscale=0.4)
        ax.set_xlim(0, eps[-1] * 1.05)
        ax.set_xlabel("$\\varepsilon = d(B_0, B_\\star)$")
        ax.set_ylabel(names[key] + " at $t = \\infty$")
        ax.set_title(f"({letter}) {'ID subspace' if letter == 'a' else 'OOD'}")
    x = data.get("lp_equals_ft_ood_at_eps")
    if x is not None and math.isfinite(x):
        axes[1].axvline(x, color=COLORS["guide"], ls=":", lw=1.3, label=f"LP = FT at ε ≈ {x:.2f}")
    axes[0].legend(loc="upper left", frameon=False)
    axes[1].legend(loc="upper left", frameon=False)
    return fig


# ---------------------------------------------------------------------------
# head_alignment


@_styled
def plot_head_alignment(data) -> Figure:
    r"""(a) observed :math:`\min_t\sqrt{L_{ood}(FT)}` and the final Thm 3.3 bound per problem against φ;
    (b) observed / bound for the problems with a positive bound (below 1 = violation). No clipping:
    the axes span every value."""
    phi = _arr(data["phi_final"])
    obs = _arr(data["observed"])
    bound = _arr(data["bound_final-thm-3.3"])
    below = np.asarray(data["below_final_bound"], dtype=bool)
    fig = _figure(9.6, 3.9)
    axes = fig.subplots(1, 2)
    ax = axes[0]
    ax.vlines(phi, bound, obs, color="#bbbbbb", lw=0.8, zorder=1)
    ax.plot(phi, bound, "_", color=COLORS["bound_final"], ms=9, mew=1.8, label="bound (final Thm 3.3)", zorder=3)
    ax.plot(phi[~below], obs[~below], "o", color=METHOD_COLORS["ft"], ms=4.5, label="observed min$_t$ FT", zorder=4)
    ax.plot(phi[below], obs[below], "X", color=COLORS["violation"], ms=9, mec="black",
            label=f"below the bound: {int(below.sum())} of {phi.size}", zorder=5)
    ax.axhline(0, color="#999999", lw=0.6)
    vals = np.concatenate([obs, bound])
    pad = 0.05 * (np.nanmax(vals) - np.nanmin(vals))
    ax.set_ylim(np.nanmin(vals) - pad, np.nanmax(vals) + pad)
    ax.set_xlabel("head alignment error $\\varphi = |(v_0^\\top v_\\star)^2 - \\|v_\\star\\|^4|^{1/2}$")
    ax.set_ylabel("$\\min_t \\sqrt{L_{ood}(v_{ft}(t), B_{ft}(t))}$")
    ax.set_title("(a) observed minimum and bound per problem")

    ax = axes[1]
    pos = bound > 0
    ratio = obs[pos] / bound[pos]
    ax.plot(phi[pos & ~below], (obs / np.where(pos, bound, np.nan))[pos & ~below], "o", color=METHOD_COLORS["ft"],
            ms=4.5, label="observed / bound")
    if np.any(pos & below):
        ax.plot(phi[pos & below], (obs / np.where(pos, bound, np.nan))[pos & below], "X", color=COLORS["violation"],
                ms=9, mec="black", label="below the bound")
    ax.axhline(1.0, color="black", ls="--", lw=1.3, label="ratio 1 (bound met with equality)")
    ax.set_yscale("log")
    if ratio.size:
        ax.set_ylim(min(0.5, np.min(ratio) / 1.5), np.max(ratio) * 1.5)
    ax.set_xlim(axes[0].get_xlim())
    ax.set_xlabel("$\\varphi$")
    ax.set_ylabel("observed / bound")
    ax.set_title(f"(b) slack, {int(pos.sum())} problems with bound > 0")
    handles, labels = axes[0].get_legend_handles_labels()
    h1, l1 = ax.get_legend_handles_labels()
    keep = [i for i, lab in enumerate(l1) if lab.startswith("ratio")]
    fig.legend(handles + [h1[i] for i in keep], labels + [l1[i] for i in keep], loc="outside lower center", ncol=4,
               frameon=False)
    return fig


# ---------------------------------------------------------------------------
# the campaign's histogram (check-bound --report)


@_styled
def plot_campaign_histogram(ratios: dict, trials: int) -> Figure:
    r"""One panel per statement: histogram of :math:`\log_{10}(\text{observed}/\text{bound})` over the
    applicable, non-vacuous trials, with the line observed = bound (left of it: a violation).

    Arguments:
        ratios: ``{statement: array of observed / bound}``
            (:func:`lpft_theory.theory.campaign.observed_over_bound`).
        trials: the number of trials of the campaign (for the titles).

    Returns:
        A :class:`~matplotlib.figure.Figure`. Ratios that are 0 (observed exactly 0) have no logarithm
        and are counted in the title, not drawn.
    """
    fig = _figure(10.0, 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(ratios)))
    for ax, (st, r) in zip(axes, ratios.items()):
        r = _arr(r)
        with np.errstate(divide="ignore"):
            vals = np.log10(r)
        shown = vals[np.isfinite(vals)]
        if shown.size:
            ax.hist(shown, bins=40, color=METHOD_COLORS["lp"])
        ax.axvline(0.0, color=COLORS["violation"], lw=1.5, label="observed = bound")
        ax.set_xlabel("$\\log_{10}$(min$_t \\sqrt{L_{ood}}$ / bound)")
        ax.set_ylabel("trials")
        hidden = r.size - shown.size
        ax.set_title(f"{st}: {r.size} non-vacuous of {trials}" + (f" ({hidden} not drawn)" if hidden else ""),
                     fontsize=9)
        ax.legend(fontsize=8)
    return fig


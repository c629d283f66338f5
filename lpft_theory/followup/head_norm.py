r"""Head norm and feature change (Tomihari & Sato, NeurIPS 2024, "Understanding linear probing then fine-tuning
language models from NTK perspective").

**Experiment.** FT runs to t = ∞ from :math:`(c\,v_{lp}^\infty, B_0)` for a grid of scales c (c = 1 is LP-FT,
c = 0 is FT from a zero head), on several random problems. We record the feature change
:math:`\|B_{ft} - B_0\|_F` (exact in reduced coordinates: B's S⊥ part never moves, Lemma A.3), the OOD loss, the
start head norm :math:`\|v(0)\| = c\|v_{lp}^\infty\|`, and the same for **lazy FT**
(:mod:`lpft_theory.variants.lazy`: the flow of the model linearised at :math:`(c\,v_{lp}, B_0)`, whose tangent
kernel is :math:`K(x,x') = x^\top B_0^\top B_0x' + \|v(0)\|^2x^\top x'`), with the relative gap
:math:`\|B_{lazy} - B_{ft}\|_F / \|B_{ft} - B_0\|_F`.

**The claim**: a larger head norm after LP means less feature change during FT. Its direction is checked here
literally: is :math:`\|B_{ft} - B_0\|_F` non-increasing in c over the grid? The first seed where it is not is
saved as a case (its problem with ``v0`` = the head at the first c where the change grows).

**A fact behind the verdict** [derived]. FT's feature update is :math:`\dot B = -2vr^\top X`, proportional to the
head *and* to the residual; scaling the LP head by c ≠ 1 also scales the initial prediction on S away from the fit,
:math:`r(0) = cXB_0^\top v_{lp} - y`, so for c > 1 the residual grows with c while the head does.
"""

from __future__ import annotations

import math
import sys

import numpy as np

NAME = "head-norm"
TITLE = "Head norm and feature change (with lazy FT)"
CLAIM = ("A larger head norm after LP means less feature change during FT, read through the NTK "
         "K(x, x') = xᵀBᵀBx' + ‖v‖² xᵀx' (Tomihari & Sato, NeurIPS 2024).")
CAPTION = ("**Head norm and feature change (Tomihari & Sato, NeurIPS 2024).** FT to t = ∞ from (c·v_lp, B₀): "
           "feature change ‖B_ft − B₀‖_F and OOD loss against c and against ‖v(0)‖, true FT (solid) and lazy FT "
           "(the model linearised at its start, dashed).\n"
           "Whether the change falls as c grows is the verdict in `docs/follow_up/head_norm.md`.")

PARAMS = dict(d=20, k=2, m=5, n=10, eps=0.1, head_scale=1.0,
              c_full=(0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0), c_quick=(0.0, 0.5, 1.0, 2.0, 4.0),
              seeds_full=4, seeds_quick=1)


def problem(seed: int, c=PARAMS):
    """The problem of one seed: ``Problem.random(seed, d, k, m, n, eps, head_scale)``."""
    from ..problem import Problem

    return Problem.random(seed=seed, d=c["d"], k=c["k"], m=c["m"], n=c["n"], eps=c["eps"], head_scale=c["head_scale"])


def with_head(rp, v):
    """The reduced problem ``rp`` with its initial head replaced by ``v``."""
    import equinox as eqx
    import jax.numpy as jnp

    return eqx.tree_at(lambda r: r.v0, rp, jnp.asarray(v, dtype=rp.v0.dtype))


def sweep(p, scales) -> dict:
    r"""FT and lazy FT to t = ∞ from :math:`(c\,v_{lp}^\infty, B_0)` for each c in ``scales``, on one problem.

    Returns:
        dict of (len(scales),) numpy arrays: ``head_norm`` (‖v(0)‖), ``change`` (‖B_ft − B₀‖_F), ``ood_loss``,
        ``change_lazy``, ``ood_loss_lazy`` (of the linearised model), ``lazy_gap`` (‖B_lazy − B_ft‖_F /
        ‖B_ft − B₀‖_F), ``converged``; and ``v_lp`` (the LP head).
    """
    import jax.numpy as jnp

    from .. import flows, metrics
    from ..reduced import reduce
    from ..solve import simulate
    from ..variants import lazy

    rp = reduce(p)
    v_lp = flows.lp_limit(rp.flow)
    out = {k: [] for k in ("head_norm", "change", "ood_loss", "change_lazy", "ood_loss_lazy", "lazy_gap",
                           "converged")}
    for c in scales:
        rc = with_head(rp, float(c) * v_lp)
        ft = simulate(rc, "ft", [math.inf])
        lz = lazy.simulate_lazy(rc, [math.inf])
        dB = float(jnp.linalg.norm(ft.B_S[-1] - rp.B_S0))
        out["head_norm"].append(float(jnp.linalg.norm(rc.v0)))
        out["change"].append(dB)
        out["ood_loss"].append(float(metrics.ood_loss(rp, ft.v[-1], ft.B_S[-1])))
        out["change_lazy"].append(float(jnp.linalg.norm(lz.B_S[-1] - rp.B_S0)))
        out["ood_loss_lazy"].append(float(lazy.linear_metrics(lz)["ood_loss"][-1]))
        out["lazy_gap"].append(float(jnp.linalg.norm(lz.B_S[-1] - ft.B_S[-1])) / dB if dB > 0 else 0.0)
        out["converged"].append(bool(ft.converged))
    res = {k: np.asarray(v) for k, v in out.items()}
    res["v_lp"] = np.asarray(v_lp)
    return res


def first_increase(change, rtol: float = 1e-6) -> int:
    """Index i of the first c where the change grows, ``change[i] > change[i-1]·(1 + rtol)``; -1 when non-increasing."""
    a = np.asarray(change, dtype=float)
    for i in range(1, a.size):
        if a[i] > a[i - 1] * (1.0 + rtol) + 1e-14:
            return i
    return -1


def run(quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The c sweep on several seeds (``seed``, ``seed + 1``, ...); JSON-able (see the module docstring)."""
    c = PARAMS
    scales = list(c["c_quick"] if quick else c["c_full"])
    seeds = list(range(seed, seed + (c["seeds_quick"] if quick else c["seeds_full"])))
    per = []
    for s in seeds:
        if progress:
            print(f"head-norm: seed {s}", file=sys.stderr, flush=True)
        r = sweep(problem(s, c), scales)
        r = {k: v.tolist() for k, v in r.items()}
        r["seed"] = s
        r["first_increase"] = first_increase(r["change"])
        per.append(r)
    data = dict(params=dict(c, seeds=seeds, scales=scales,
                            problem="Problem.random(seed, d, k, m, n, eps, head_scale)",
                            method="simulate(ft, [inf]) and variants.lazy.simulate_lazy([inf]) from (c v_lp, B0)"),
                scales=scales, seeds=per)
    bad = [r for r in per if r["first_increase"] >= 0]
    if bad:
        r = bad[0]
        i = r["first_increase"]
        data["case"] = dict(npz_name=f"followup_head_norm_seed{r['seed']}_c{scales[i]:g}", seed=r["seed"],
                            scale=scales[i], previous_scale=scales[i - 1],
                            change=r["change"][i], previous_change=r["change"][i - 1],
                            why="FT from (c v_lp, B0) changes the features more than from the smaller scale before it")
    else:
        data["case"] = None
    return data


def case_problem(data):
    """The problem of the case with ``v0 = c·v_lp`` at the scale where the change grows (None without a case)."""
    case = data.get("case")
    if not case:
        return None
    from ..problem import Problem

    p = problem(int(case["seed"]), data["params"])
    r = next(r for r in data["seeds"] if r["seed"] == case["seed"])
    v0 = float(case["scale"]) * np.asarray(r["v_lp"], dtype=np.float64)
    return Problem.from_arrays(p.X, p.y, p.B0, v0, p.w_star, p.B_star, p.v_star, p.sigma_ood)


def verdict(data: dict) -> dict:
    """``agrees``: "yes" when the change is non-increasing in c for every seed, "partly" when it falls up to some c
    and then grows, "no" when it grows right after the smallest c."""
    rows, scales = data["seeds"], data["scales"]
    ok = [r for r in rows if r["first_increase"] < 0]
    r0 = rows[0]
    i1 = scales.index(1.0) if 1.0 in scales else None
    at = lambda r, i: f"{r['change'][i]:.3g}"  # noqa: E731
    ends = f"c={scales[0]:g}: {at(r0, 0)}" + (f", c=1: {at(r0, i1)}" if i1 is not None else "") + \
        f", c={scales[-1]:g}: {at(r0, -1)}"
    if len(ok) == len(rows):
        agrees = "yes"
    elif all(r["first_increase"] < 0 or r["first_increase"] > 1 for r in rows):
        agrees = "partly"
    else:
        agrees = "no"
    firsts = [f"{scales[r['first_increase']]:g}" for r in rows if r["first_increase"] >= 0]
    big = [i for i, c in enumerate(scales) if c >= 1.0]
    gap = max(r["lazy_gap"][i] for r in rows for i in big) if big else float("nan")
    line = (f"||B_ft - B0||_F non-increasing in c in {len(ok)}/{len(rows)} seeds"
            + (f"; it grows again from c = {', '.join(firsts)}" if firsts else "")
            + f" (seed {r0['seed']}: {ends}); lazy FT's final features differ from FT's by at most "
            f"{gap:.2g} (relative to FT's change) for c >= 1")
    return dict(agrees=agrees, line=line)


def plot(data: dict):
    """Feature change and OOD loss against c and against ‖v(0)‖ (FT solid, lazy FT dashed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6.5), layout="constrained")
    axes = fig.subplots(2, 2)
    scales = data["scales"]
    for j, r in enumerate(data["seeds"]):
        col = f"C{j % 10}"
        for row, (key, label) in enumerate((("change", "‖B_ft − B₀‖_F"), ("ood_loss", "OOD loss (t = ∞)"))):
            for col_i, x in enumerate((scales, r["head_norm"])):
                ax = axes[row, col_i]
                ax.plot(x, r[key], "o-", color=col, ms=3, lw=1.2, label=f"seed {r['seed']} FT")
                ax.plot(x, r[key + "_lazy"], "s--", color=col, ms=3, lw=1, alpha=0.7, label=f"seed {r['seed']} lazy")
                ax.set_ylabel(label)
                ax.set_xlabel("c  (start head c·v_lp)" if col_i == 0 else "‖v(0)‖")
    for ax in axes[1]:
        ax.set_yscale("log")
    for ax in axes[:, 0]:
        ax.axvline(1.0, color="0.6", lw=0.8, ls=":")
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle("FT from (c·v_lp, B₀) to t = ∞: true FT and the linearised (lazy) flow", fontsize=11)
    return fig

r"""Weight ensembles against output ensembles along WiSE-FT's α (follow-up: WiSE-FT and model soups).

For two models :math:`\theta_0 = (v_0, B_0)` and :math:`\theta_1 = (v_1, B_1)` of :math:`f(x) = v^\top Bx`:

* the **weight interpolation** (WiSE-FT, a two-model soup) :math:`\theta_\alpha = (1-\alpha)\theta_0 + \alpha\theta_1`,
  predictor :math:`w_W(\alpha) = B_\alpha^\top v_\alpha`;
* the **output interpolation** (an ensemble of outputs) :math:`f_O = (1-\alpha)f_0 + \alpha f_1`,
  predictor :math:`w_O(\alpha) = (1-\alpha)B_0^\top v_0 + \alpha B_1^\top v_1`.

**The exact difference** [derived]. Expanding :math:`B_\alpha^\top v_\alpha`,

.. math:: w_W(\alpha) - w_O(\alpha) = -\alpha(1-\alpha)\,(B_1 - B_0)^\top(v_1 - v_0),
          \qquad f_W(x) - f_O(x) = -\alpha(1-\alpha)(v_1-v_0)^\top(B_1-B_0)x,

−(v₁ − v₀)ᵀ(B₁ − B₀)x / 4 at α = 1/2. So with :math:`e_0 = w_0 - w_\star`, :math:`e_1 = w_1 - w_\star` and
:math:`c = (B_1-B_0)^\top(v_1-v_0)`:

.. math:: e_O(\alpha) = (1-\alpha)e_0 + \alpha e_1,\qquad e_W(\alpha) = e_O(\alpha) - \alpha(1-\alpha)c,

and the OOD losses :math:`L(\alpha) = e(\alpha)^\top\Sigma e(\alpha)` are a quadratic (output; convex, so
never above the chord between the endpoints) and a quartic (weights) in α (:func:`ood_losses`). Both
endpoints share :math:`B_\perp` (Lemma A.3), so everything is computed in the reduced coordinates.
"""

from __future__ import annotations

import numpy as np

NAME = "ensembles"
TITLE = "Weight ensembles (WiSE-FT, soups) against output ensembles, OOD"
CLAIM = ("Wortsman et al. (CVPR 2022, WiSE-FT; ICML 2022, model soups): interpolating the weights of the zero-shot "
         "and fine-tuned models is as robust OOD as, or more than, ensembling their outputs.")
CAPTION = ("**Weight against output ensembles** (d = 50, k = 2, m = 10, n = 20, ε = 0.05; FT endpoint at t = 100): OOD loss of "
           "θ_α = (1−α)θ₀ + αθ₁ and of (1−α)f₀ + αf₁ against α, from (v₀, B₀) to FT and from (v_lp, B₀) to LP-FT.\n"
           "Their predictors differ by exactly −α(1−α)(B₁−B₀)ᵀ(v₁−v₀); the verdict line says which is lower OOD.")

CONFIG = dict(d=50, k=2, m=10, n=20, eps=0.05, head_scale=1.0, ft_time=100.0, seeds_full=8, seeds_quick=2,
              n_alpha_full=41, n_alpha_quick=11)
#: Relative difference below which the two OOD losses count as equal.
TIE = 1e-9


def problem(seed: int = 0):
    """The experiment's :class:`~lpft_theory.problem.Problem` for ``seed``."""
    from ..problem import Problem, regime_warnings_silenced

    c = CONFIG
    with regime_warnings_silenced():
        return Problem.random(seed=int(seed), d=c["d"], k=c["k"], m=c["m"], n=c["n"], eps=c["eps"],
                              head_scale=c["head_scale"])


def predictor_difference(alphas, v0, B0, v1, B1):
    r""":math:`w_W(\alpha) - w_O(\alpha) = -\alpha(1-\alpha)(B_1-B_0)^\top(v_1-v_0)` for each α; (A, d) (or (A, m+r)
    for reduced matrices)."""
    a = np.asarray(alphas, dtype=float)
    c = (np.asarray(B1) - np.asarray(B0)).T @ (np.asarray(v1) - np.asarray(v0))
    return -(a * (1.0 - a))[:, None] * c[None]


def errors(alphas, v0, B0, v1, B1, w_star):
    r"""``(e_W, e_O)``: the errors :math:`w - w_\star` of the weight and of the output interpolation, (A, dim) each.

    Computed from the definitions (the weight one as :math:`B_\alpha^\top v_\alpha`), not from the difference formula.
    """
    a = np.asarray(alphas, dtype=float)[:, None]
    v0, B0, v1, B1, w_star = (np.asarray(x, dtype=float) for x in (v0, B0, v1, B1, w_star))
    va = (1.0 - a) * v0 + a * v1  # (A, k)
    Ba = (1.0 - a)[:, :, None] * B0 + a[:, :, None] * B1  # (A, k, dim)
    e_w = np.einsum("akd,ak->ad", Ba, va) - w_star
    e_o = (1.0 - a) * (B0.T @ v0) + a * (B1.T @ v1) - w_star
    return e_w, e_o


def ood_losses(alphas, v0, B0, v1, B1, w_star, sigma):
    r"""``(L_W, L_O)``: :math:`e^\top\Sigma e` along α for the weight and the output interpolation, (A,) each."""
    e_w, e_o = errors(alphas, v0, B0, v1, B1, w_star)
    S = np.asarray(sigma, dtype=float)
    return np.einsum("ai,ij,aj->a", e_w, S, e_w), np.einsum("ai,ij,aj->a", e_o, S, e_o)


def endpoints(p, wise_from: str, ft_time: float):
    """``(rp, (v0, B0_red), (v1, B1_red))``: WiSE-FT's endpoints in Q-coordinates (:func:`lpft_theory.variants.wise.endpoints`)."""
    from ..variants import wise

    rp, th0, th1, _ = wise.endpoints(p, wise_from, ft_time)
    return rp, (np.asarray(th0[0]), np.asarray(rp.B_red(th0[1]))), (np.asarray(th1[0]), np.asarray(rp.B_red(th1[1])))


def run(quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """OOD loss of both interpolations along α, from init and from LP, for ``seeds`` problems (starting at ``seed``)."""
    c = CONFIG
    seeds = list(range(int(seed), int(seed) + (c["seeds_quick"] if quick else c["seeds_full"])))
    alphas = np.linspace(0.0, 1.0, c["n_alpha_quick"] if quick else c["n_alpha_full"])
    fine = np.linspace(0.0, 1.0, 2001)
    out = {f: dict(ood_weight=[], ood_output=[], best_weight=[], best_output=[], alpha_weight=[], alpha_output=[],
                   half_weight=[], half_output=[]) for f in ("init", "lp")}
    it = seeds
    if progress:
        from tqdm import tqdm

        it = tqdm(seeds, desc="ensembles", leave=False)
    for s in it:
        p = problem(s)
        for f in ("init", "lp"):
            rp, (v0, B0), (v1, B1) = endpoints(p, f, c["ft_time"])
            w, S = np.asarray(rp.w_red), np.asarray(rp.sigma_red)
            Lw, Lo = ood_losses(alphas, v0, B0, v1, B1, w, S)
            Fw, Fo = ood_losses(fine, v0, B0, v1, B1, w, S)
            Hw, Ho = ood_losses([0.5], v0, B0, v1, B1, w, S)
            d = out[f]
            d["ood_weight"].append(Lw.tolist())
            d["ood_output"].append(Lo.tolist())
            d["best_weight"].append(float(Fw.min()))
            d["best_output"].append(float(Fo.min()))
            d["alpha_weight"].append(float(fine[np.argmin(Fw)]))
            d["alpha_output"].append(float(fine[np.argmin(Fo)]))
            d["half_weight"].append(float(Hw[0]))
            d["half_output"].append(float(Ho[0]))
    data = dict(
        params=dict(problem=f"Problem.random(seed, d={c['d']}, k={c['k']}, m={c['m']}, n={c['n']}, eps={c['eps']}, "
                    f"head_scale={c['head_scale']})", seeds=seeds, d=c["d"], k=c["k"], m=c["m"], n=c["n"],
                    eps=c["eps"], head_scale=c["head_scale"], ft_time=c["ft_time"], sigma_ood="identity",
                    alphas=alphas.tolist(), best_alpha="argmin over a 2001-point grid of alpha in [0, 1]",
                    endpoints="lpft_theory.variants.wise.endpoints(p, wise_from, ft_time)", quick=bool(quick)),
        alphas=alphas.tolist(), **out,
    )
    data["case"] = None
    for f in ("init", "lp"):
        d = out[f]
        for s, hw, ho in zip(seeds, d["half_weight"], d["half_output"]):
            if hw > ho * (1.0 + TIE) and data["case"] is None:
                data["case"] = dict(npz_name=f"followup_ensembles_seed{s}", seed=s, wise_from=f, alpha=0.5,
                                    ood_weight=hw, ood_output=ho,
                                    why="the output ensemble has a lower OOD loss than the weight ensemble at α = 1/2")
    return data


def _compare(w, o):
    """(weight lower, tie, output lower) counts with the relative tie tolerance :data:`TIE`."""
    w, o = np.asarray(w), np.asarray(o)
    tie = np.abs(w - o) <= TIE * np.maximum(np.abs(o), 1e-300)
    return int(np.sum((w < o) & ~tie)), int(np.sum(tie)), int(np.sum((w > o) & ~tie))


def verdict(data: dict) -> dict:
    """Agrees when the weight ensemble is never worse OOD than the output ensemble (best α and α = 1/2, every seed and
    start, ties within :data:`TIE` counted as not worse); "no" when it is worse at α = 1/2 in every case."""
    parts, worse, total_half, worse_half = [], 0, 0, 0
    for f, label in (("init", "from init"), ("lp", "from LP")):
        d = data[f]
        bw, bt, bl = _compare(d["best_weight"], d["best_output"])
        hw, ht, hl = _compare(d["half_weight"], d["half_output"])
        rel = (np.asarray(d["half_weight"]) - np.asarray(d["half_output"])) / np.asarray(d["half_output"])
        worse += bl + hl
        total_half += len(rel)
        worse_half += hl
        parts.append(f"{label}: at α=½ weight lower in {hw}/{len(rel)} seeds, output lower in {hl} (median relative "
                     f"difference {np.median(rel):+.2e}, range {rel.min():+.2e}…{rel.max():+.2e}); best over α: weight "
                     f"lower {bw}, tie {bt}, output lower {bl} (median best {np.median(d['best_weight']):.3g})")
    agrees = "yes" if worse == 0 else ("no" if worse_half == total_half else "partly")
    return dict(agrees=agrees, line="; ".join(parts))


def case_problem(data: dict):
    """The problem where the output ensemble wins (None when it never does)."""
    if not data.get("case"):
        return None
    return problem(data["case"]["seed"])


def plot(data: dict):
    """OOD loss against α: weight (solid) and output (dashed) interpolation, from init and from LP; median bold."""
    from matplotlib.figure import Figure

    from ..figures import plots

    with plots.style():
        fig = Figure(figsize=(8.0, 3.3), layout="constrained")
        axes = fig.subplots(1, 2)
        a = np.asarray(data["alphas"], dtype=float)
        for ax, f, title, col in ((axes[0], "init", "from (v₀, B₀) to FT", plots.METHOD_COLORS["ft"]),
                                  (axes[1], "lp", "from (v_lp, B₀) to LP-FT", plots.METHOD_COLORS["lpft"])):
            for key, ls, label in (("ood_weight", "-", "weights θ_α"), ("ood_output", "--", "outputs (1−α)f₀+αf₁")):
                vals = np.maximum(np.asarray(data[f][key], dtype=float), 1e-16)
                for row in vals:
                    ax.plot(a, row, color=col, ls=ls, lw=0.6, alpha=0.3)
                ax.plot(a, np.median(vals, axis=0), color=col, ls=ls, lw=2.0, label=label)
            ax.set_yscale("log")
            ax.set_xlabel("α")
            ax.set_ylabel("OOD loss")
            ax.set_title(title)
            ax.legend(fontsize=7)
        p = data["params"]
        fig.suptitle(f"Weight vs output ensembles (d={p['d']}, k={p['k']}, m={p['m']}, ε={p['eps']}, "
                     f"{len(p['seeds'])} seeds; bold: median)", fontsize=10)
        fig.draw_without_rendering()
    return fig

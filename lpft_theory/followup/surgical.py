r"""Surgical fine-tuning (Lee et al., ICLR 2023, "Surgical fine-tuning improves adaptation to distribution shifts").

Three ways to adapt a pretrained model :math:`(v_{src}, B_0)` to a shifted target task from n < d target samples:
**head only** (LP, :math:`\dot B = 0`), **features only** (the head frozen at :math:`v_{src}`,
:mod:`lpft_theory.variants.frozen_head`) and **full FT**, each run to t = ∞. The OOD loss is the target loss over
all inputs, :math:`\|w - w_T\|^2` (Σ = I: every direction, not only the n training inputs' span S).

**The source model.** :math:`B_\star` random orthonormal rows (k × d), :math:`v_\star` Gaussian, the source
predictor :math:`w_\star = B_\star^\top v_\star`; pretraining is perfect: :math:`B_0 = B_\star`,
:math:`v_{src} = v_\star`. Raw inputs :math:`x_i \sim N(0, I_d)`, i = 1..n.

**Input-level shift of size s** (:func:`input_shift_problem`). The target sees transformed inputs
:math:`\tilde x = A_sx`, :math:`A_s = I + sM` with M a fixed Gaussian matrix scaled to :math:`\|M\|_2 = 1`
(invertible for s < 1), and keeps the source labels, :math:`y_i = w_\star^\top x_i`. So the training inputs are
the rows of :math:`XA_s^\top` and the target predictor is :math:`w_T = A_s^{-\top}w_\star = (B_0A_s^{-1})^\top v_\star`:
it is solved by changing the first layer (:math:`B_0 \to B_0A_s^{-1}`) under the same head, and in general it is
not in rowspace(B₀), so the features must change. The size of the shift is :math:`s = \|A_s - I\|_2`.

**Output-level shift of size s** (:func:`output_shift_problem`). Same inputs, new labels
:math:`w_T = B_0^\top(v_\star + s\|v_\star\|u)` for a fixed unit :math:`u \in \mathbb{R}^k`: the target changes
inside rowspace(B₀), so the head alone can solve it. The size is :math:`s = \|w_T - w_\star\|/\|w_\star\|`.

**Exact facts** [derived]. At s = 0 the start fits the target exactly (zero residual), nothing moves, and all three
have OOD loss 0. Under the output shift LP's limit is exact, :math:`B_0^\top v_{lp} = w_T` (when :math:`XB_0^\top`
is injective), so its OOD loss is 0; features-only keeps :math:`\Pi_{S^\perp}w = \Pi_{S^\perp}w_\star`, OOD loss
:math:`\|\Pi_{S^\perp}(w_\star - w_T)\|^2`, the same formula under both shifts (frozen-head closed form).

**The claim**: tuning only the first layer can beat full FT under an input-level shift, and tuning only the last
layer wins under an output-level shift. :func:`verdict` counts the shift sizes s > 0 where each holds.
"""

from __future__ import annotations

import math
import sys

import numpy as np

NAME = "surgical"
TITLE = "Surgical fine-tuning: head only, features only, full FT"
CLAIM = ("With little target data, tuning only the first layer beats full FT under an input-level shift, and tuning "
         "only the last layer wins under an output-level shift (Lee et al., ICLR 2023).")
CAPTION = ("**Surgical fine-tuning (Lee et al., ICLR 2023).** OOD loss at t = ∞ of head only (LP), features only "
           "(frozen head) and full FT against the size of an input-level shift (inputs A x) and of an output-level "
           "shift (w* moves inside rowspace(B₀)).\n"
           "Head only is exact under the output shift; the verdict under the input shift is in "
           "`docs/follow_up/surgical.md`.")

PARAMS = dict(d=20, k=2, n=5, sizes_full=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
              sizes_quick=(0.0, 0.2, 0.5, 0.8), seeds_full=4, seeds_quick=1)
FAMILIES = ("input", "output")
METHODS = ("head_only", "features_only", "full_ft")


def _base(seed: int, d: int, k: int, n: int):
    rng = np.random.default_rng(seed)
    B_star = np.linalg.qr(rng.standard_normal((d, k)))[0].T
    v_star = rng.standard_normal(k)
    X_raw = rng.standard_normal((n, d))
    M = rng.standard_normal((d, d))
    M /= np.linalg.norm(M, 2)
    u = rng.standard_normal(k)
    u /= np.linalg.norm(u)
    return B_star, v_star, X_raw, M, u


def input_shift_problem(seed: int, size: float, d: int = PARAMS["d"], k: int = PARAMS["k"], n: int = PARAMS["n"]):
    r"""The input-level shift of ``size`` s (module docstring): inputs :math:`XA_s^\top`, labels :math:`Xw_\star`,
    :math:`w_T = A_s^{-\top}w_\star`, :math:`B_0 = B_\star`, :math:`v_0 = v_\star`.

    Raises:
        ValueError: ``size`` not in [0, 1) (A_s must stay invertible).
    """
    from ..problem import Problem

    size = float(size)
    if not 0.0 <= size < 1.0:
        raise ValueError(f"input shift size must be in [0, 1) (A = I + s M with ||M||_2 = 1), got {size}")
    B_star, v_star, X_raw, M, _ = _base(seed, d, k, n)
    A = np.eye(d) + size * M
    w_src = B_star.T @ v_star
    w_T = np.linalg.solve(A.T, w_src)
    X = X_raw @ A.T
    return Problem.from_arrays(X, X @ w_T, B_star, v_star, w_T)  # w_T is not B*^T v*: no B_star


def output_shift_problem(seed: int, size: float, d: int = PARAMS["d"], k: int = PARAMS["k"], n: int = PARAMS["n"]):
    r"""The output-level shift of ``size`` s (module docstring): :math:`w_T = B_0^\top(v_\star + s\|v_\star\|u)`,
    inputs X, :math:`B_0 = B_\star`, :math:`v_0 = v_\star`.

    Raises:
        ValueError: a negative ``size``.
    """
    from ..problem import Problem

    size = float(size)
    if not size >= 0.0:
        raise ValueError(f"output shift size must be >= 0, got {size}")
    B_star, v_star, X_raw, _, u = _base(seed, d, k, n)
    v_T = v_star + size * np.linalg.norm(v_star) * u
    w_T = B_star.T @ v_T
    return Problem.from_arrays(X_raw, X_raw @ w_T, B_star, v_star, w_T, B_star=B_star, v_star=v_T)


def shift_problem(family: str, seed: int, size: float):
    """:func:`input_shift_problem` or :func:`output_shift_problem` by ``family`` (``"input"``/``"output"``)."""
    if family == "input":
        return input_shift_problem(seed, size)
    if family == "output":
        return output_shift_problem(seed, size)
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def adapt(p) -> dict:
    """OOD loss at t = ∞ of head only, features only and full FT from the problem's (v0, B0), and of no tuning."""
    from ..metrics import trajectory_metrics
    from ..reduced import reduce
    from ..solve import simulate
    from ..variants import frozen_head

    rp = reduce(p)
    out = dict(head_only=simulate(rp, "lp", [math.inf]), features_only=frozen_head.simulate_frozen_head(rp, [math.inf]),
               full_ft=simulate(rp, "ft", [math.inf]))
    res = {k: float(trajectory_metrics(t, perp=False)["ood_loss"][-1]) for k, t in out.items()}
    res["none"] = float(np.sum((np.asarray(p.B0).T @ np.asarray(p.v0) - np.asarray(p.w_star)) ** 2))
    res["converged"] = bool(out["full_ft"].converged)
    return res


def run(quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """OOD loss of the three methods against the shift size, for both families and several seeds."""
    c = PARAMS
    sizes = list(c["sizes_quick"] if quick else c["sizes_full"])
    seeds = list(range(seed, seed + (c["seeds_quick"] if quick else c["seeds_full"])))
    fams = {}
    for fam in FAMILIES:
        per = []
        for s in seeds:
            if progress:
                print(f"surgical: {fam} shift, seed {s}", file=sys.stderr, flush=True)
            rows = [adapt(shift_problem(fam, s, z)) for z in sizes]
            per.append(dict(seed=s, **{k: [r[k] for r in rows] for k in METHODS + ("none", "converged")}))
        fams[fam] = per
    data = dict(params=dict(c, seeds=seeds, sizes=sizes, sigma_ood="identity",
                            problem="followup.surgical.input_shift_problem / output_shift_problem(seed, size)",
                            methods="lp [inf]; ft-frozen-head from v_src [inf]; ft from (v_src, B0) [inf]"),
                sizes=sizes, **fams)
    data["case"] = _case(data)
    return data


def _wins(data, fam):
    """(seed, size index, holds) for every size > 0: features only < full FT (input), head only is the best
    (output)."""
    out = []
    for r in data[fam]:
        for i, z in enumerate(data["sizes"]):
            if z <= 0:
                continue
            if fam == "input":
                holds = r["features_only"][i] < r["full_ft"][i]
            else:
                holds = r["head_only"][i] <= min(r["features_only"][i], r["full_ft"][i])
            out.append((r["seed"], i, holds))
    return out


def _case(data):
    for fam in FAMILIES:
        for seed, i, holds in _wins(data, fam):
            if not holds:
                z = data["sizes"][i]
                return dict(npz_name=f"followup_surgical_{fam}_seed{seed}_s{z:g}", family=fam, seed=seed, size=z,
                            why=("features only does not beat full FT" if fam == "input"
                                 else "head only is not the best of the three"))
    return None


def case_problem(data):
    """The shifted problem of the first (family, seed, size) where the claim fails, or None."""
    case = data.get("case")
    return None if not case else shift_problem(case["family"], int(case["seed"]), float(case["size"]))


def verdict(data: dict) -> dict:
    """``agrees``: "yes" when both halves hold at every size > 0 and seed, "no" when neither holds anywhere, else
    "partly"; ``line`` with the counts and the OOD losses at the largest size (first seed)."""
    counts = {}
    for fam in FAMILIES:
        w = _wins(data, fam)
        counts[fam] = (sum(h for _, _, h in w), len(w))
    z = data["sizes"][-1]
    ri, ro = data["input"][0], data["output"][0]
    f = lambda r, k: f"{r[k][-1]:.3g}"  # noqa: E731
    line = (f"input shift: features only < full FT in {counts['input'][0]}/{counts['input'][1]} (seed, s>0) "
            f"[s={z:g}: head {f(ri, 'head_only')}, features {f(ri, 'features_only')}, full {f(ri, 'full_ft')}]; "
            f"output shift: head only best in {counts['output'][0]}/{counts['output'][1]} "
            f"[s={z:g}: head {f(ro, 'head_only')}, features {f(ro, 'features_only')}, full {f(ro, 'full_ft')}]")
    good = sum(c[0] for c in counts.values())
    total = sum(c[1] for c in counts.values())
    agrees = "yes" if good == total else "no" if good == 0 else "partly"
    return dict(agrees=agrees, line=line)


def plot(data: dict):
    """OOD loss of the three methods (and of no tuning) against the shift size, one panel per family."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    sizes = data["sizes"]
    style = dict(head_only=("C0", "o-", "head only (LP)"), features_only=("C2", "s-", "features only (frozen head)"),
                 full_ft=("C3", "^-", "full FT"), none=("0.5", ":", "no tuning"))
    for ax, fam, title in zip(axes, FAMILIES, ("input-level shift: inputs A x", "output-level shift: w* in rowspace(B₀)")):
        for j, r in enumerate(data[fam]):
            keep = [i for i, z in enumerate(sizes) if z > 0]  # at s = 0 every loss is 0 (nothing moves)
            for key, (col, mk, label) in style.items():
                y = [max(r[key][i], 1e-16) if r[key][i] is not None else np.nan for i in keep]
                ax.plot([sizes[i] for i in keep], y, mk, color=col, ms=4, lw=1.3, alpha=1.0 if j == 0 else 0.35,
                        label=label if j == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("shift size s (at s = 0 all losses are 0)")
        ax.set_ylabel("OOD loss ‖w − w_T‖² at t = ∞")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    return fig

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. LP-FT, and when it helps
#
# The paper's practical message is a recipe: *linear-probe first, then fine-tune*. In its deep-network
# experiments (`docs/theory.md` §6), averaged over ten distribution shifts, FT beat LP by 2% in
# distribution but lost by 7% out of distribution, while LP-FT beat FT by 1% ID and 10% OOD.
# The same paper is careful about when this should work: it needs **good pretrained features** and a
# **real gap between ID and OOD**. With worse features, or when the OOD data look like the ID data
# (CIFAR-10 → CIFAR-10.1), FT can beat LP out of distribution.
#
# The linear model lets us turn each of those caveats into a knob and watch what happens:
#
# 1. feature quality $\varepsilon = d(B_0, B_\star)$;
# 2. the size of the random initial head, which sets FT's head alignment error;
# 3. how much the OOD distribution overlaps the ID subspace.
#
# We run small sweeps (a few problems per setting; change `SEEDS` for more) with
# `lpft_theory.scale.sweeps.run_sweep`, which simulates many random problems of one shape in a single
# batched, compiled solve.
#
# **Learning objectives.** After this notebook you can
#
# * say how LP's, FT's and LP-FT's OOD errors scale with the feature error $\varepsilon$, and why;
# * explain how the initial head sets FT's OOD error;
# * find when FT beats LP out of distribution: bad features, or OOD data concentrated on the ID subspace;
# * judge whether stopping FT early can rescue it.
#
# **Prerequisites.** Notebooks 1–3 (the three methods, the head alignment error $\varphi$); orthogonal projectors.
#
# **Run time.** About 40 s on a laptop CPU (measured: 110 s of cell time on a shared 2-core
# machine under load; JAX compiles each solver once, which is most of it).
#
# **Notation.** Every symbol is defined on the shared [notation page](../docs/notation.md).

# %%
# Setup. When lpft_theory is not installed (a hosted service such as Colab or Binder), clone the
# repository and install it; when it is installed (`pip install -e ".[notebooks]"` in a clone), this
# cell only switches JAX to float64.
import importlib
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("lpft_theory") is None:
    REPO = "https://github.com/OWNER/lpft_theory"  # the project's repository
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPO, "lpft_theory_repo"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "./lpft_theory_repo"], check=True)
    os.environ["LPFT_THEORY_PROBLEMS"] = os.path.abspath("lpft_theory_repo/problems")  # saved problem files
    importlib.invalidate_caches()

import jax

jax.config.update("jax_enable_x64", True)  # every theory check in this project is done in float64

import warnings

import matplotlib.pyplot as plt
import numpy as np

import lpft_theory as lt
from lpft_theory.scale.sweeps import run_sweep

with warnings.catch_warnings():  # tqdm's notice that notebook progress widgets are not installed
    warnings.simplefilter("ignore")
    import tqdm.auto  # noqa: F401

np.set_printoptions(precision=4, suppress=True)

BASE = dict(d=20, k=2, m=5, n=10)  # one problem shape for the whole notebook: one compilation
SEEDS = range(4)
EPS = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 1.4]
METHODS = ("lp", "ft", "lpft")


def limits(table):
    """Rows of a sweep table at t = inf, as a dict of arrays."""
    cols = table.columns
    keep = np.isinf(cols["t"])
    return {name: col[keep] for name, col in cols.items()}


# %% [markdown]
# ## 4.1 Feature quality: LP, FT and LP-FT as $\varepsilon$ grows
#
# For each $\varepsilon$ and seed, `Problem.random` draws a problem with $d(B_0, B_\star) = \varepsilon$ exactly and a
# random head $v_0 \sim N(0, I)$. We run each method to its limit ($t = \infty$) and record the OOD loss
# $\|B^\top v - w_\star\|^2$ (isotropic OOD inputs, $\Sigma = I$).
#
# **Predict, then run.** As the features get worse ($\varepsilon$ from 0.02 to 1.4), how should LP's OOD loss grow?
# Does FT's depend on $\varepsilon$ at all?

# %%
runs = {}
for method in METHODS:
    runs[method] = limits(run_sweep({"eps": EPS}, SEEDS, method, (0.0, np.inf), base=BASE, progress=False))
print("all FT limits converged:", bool(np.all(runs["ft"]["converged"] == 1)))


def plot_vs_eps(runs, key, ax, title):
    for i, method in enumerate(METHODS):
        r = runs[method]
        med = [np.median(r[key][r["eps"] == e]) for e in EPS]
        ax.plot(r["eps"], r[key], "o", color=f"C{i}", alpha=0.25, ms=4)
        ax.plot(EPS, med, "-", color=f"C{i}", label=f"{method} (median)")
    ax.set(xscale="log", yscale="log", xlabel=r"$\varepsilon = d(B_0, B_\star)$", title=title)


def median_at(r, key, eps):
    return np.median(r[key][r["eps"] == eps])


fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
plot_vs_eps(runs, "ood_loss", ax[0], "OOD loss at $t=\\infty$")
plot_vs_eps(runs, "id_subspace_loss", ax[1], "ID-subspace loss at $t=\\infty$")
ax[0].plot(EPS, np.square(EPS), "k:", label=r"$\varepsilon^2$")
ax[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
for e in (0.02, 0.1, 1.4):
    print(f"eps = {e}: median OOD loss  " + "  ".join(f"{m} {median_at(runs[m], 'ood_loss', e):.3g}" for m in METHODS))
print("seeds where FT beats LP OOD at eps = 1.4:",
      int(np.sum(runs["ft"]["ood_loss"][runs["ft"]["eps"] == 1.4] < runs["lp"]["ood_loss"][runs["lp"]["eps"] == 1.4])), "of", len(SEEDS))

# %% [markdown]
# Read the left panel from left to right.
#
# * **LP**'s OOD loss grows like $\varepsilon^2$: its only source of error is the feature error, because its head
#   is the best head for the pretrained features.
# * **FT**'s OOD loss barely depends on $\varepsilon$. Its error does not come from the features it started with,
#   it comes from the random head it started with, which it keeps (notebooks 1–2). This is the paper's
#   lower bound at work: roughly, $\sqrt{L_{ood}} \gtrsim c\,\varphi - \varepsilon$, where $\varphi$ measures the head's
#   misalignment (notebook 3).
# * **LP-FT** follows LP, slightly below it: it keeps LP's good OOD behaviour and improves the ID fit.
#
# In the right panel the ID-subspace loss of FT and LP-FT is zero to solver precision (they fit $S$
# exactly), while LP's ID error grows with $\varepsilon$: with only $k = 2$ features it cannot fit a
# 5-dimensional $S$ unless its features are right. This is the ID half of the story (the paper's
# Proposition 3.1): FT wins in distribution.
#
# At the right edge ($\varepsilon \approx \sqrt 2$, features orthogonal to the truth) LP's OOD loss is about
# $\|w_\star\|^2 = 1$, no better than predicting zero, and the gap to FT has closed to a factor of about two
# (for one seed FT is already better). That is the first caveat: **with bad features there is little
# for LP to preserve.**
#
# ## 4.2 The head: how much of FT's error is the head's fault?
#
# The paper's bound says FT's OOD error is driven by the *head alignment error*
# $\varphi^2 = |(v_0^\top v_\star)^2 - \|v_\star\|^4|$. A random head of scale 1 has $\varphi$ of order one. A tiny head
# ($v_0 \approx 0$) gives $\varphi^2 \approx \|v_\star\|^4$, still not small, but FT then builds the head almost from
# scratch instead of fighting a large wrong one. Let us redo FT and LP-FT with `head_scale=0.1`.
# (LP's limit does not depend on $v_0$ here, since $XB_0^\top$ is injective.)

# %%
small = {}
for method in ("ft", "lpft"):
    small[method] = limits(run_sweep({"eps": EPS}, SEEDS, method, (0.0, np.inf), base=dict(BASE, head_scale=0.1), progress=False))
small["lp"] = runs["lp"]

fig, ax = plt.subplots(figsize=(5.5, 3.8))
plot_vs_eps(small, "ood_loss", ax, "OOD loss, small initial head (scale 0.1)")
ax.legend(fontsize=8)
plt.show()

for e in (0.02, 0.1, 0.5):
    print(f"eps = {e}: median OOD loss, FT / LP = {median_at(small['ft'], 'ood_loss', e) / median_at(runs['lp'], 'ood_loss', e):.1f}")
wins = [float(np.mean(small["ft"]["ood_loss"][small["ft"]["eps"] == e] < runs["lp"]["ood_loss"][runs["lp"]["eps"] == e])) for e in EPS]
print("fraction of seeds where FT beats LP OOD, by eps:", dict(zip(EPS, wins)))

# %% [markdown]
# FT's OOD loss drops by more than an order of magnitude with the smaller head, but for good features
# LP and LP-FT still win clearly: by a factor of about 20 at $\varepsilon = 0.1$ and of hundreds at
# $\varepsilon = 0.02$. Only once the features are poor ($\varepsilon \gtrsim 1$) does FT catch up with LP and, for most
# seeds, beat it. Good features are where LP-FT's advantage lives.
#
# ## 4.3 When ID ≈ OOD
#
# The second caveat is about the test distribution. So far OOD inputs were isotropic in
# $\mathbb{R}^{20}$: most of their energy lies in $S^\perp$, which the training data never saw. Now let the OOD
# distribution concentrate on the ID subspace. With $\Pi_S$, $\Pi_{S^\perp}$ the orthogonal projectors, take the
# OOD second moment
#
# $$ \Sigma_\delta = \Pi_S + \delta\,\Pi_{S^\perp}, \qquad 0 < \delta \le 1, $$
#
# so $\delta = 1$ is the isotropic case and $\delta \to 0$ means "the OOD data look like the ID data". The OOD
# loss splits exactly:
#
# $$ L_{ood}^{(\delta)} = e^\top \Sigma_\delta e = \|\Pi_S e\|^2 + \delta\,\|\Pi_{S^\perp} e\|^2 . $$
#
# FT makes the first term zero and LP does not, so for small enough $\delta$ FT must win. First we check the
# decomposition with the library, building $\Sigma_\delta$ for one problem and passing it as `sigma_ood`.

# %%
p = lt.Problem.random(seed=0, eps=0.1, **BASE)
_, s, Vt = np.linalg.svd(np.asarray(p.X))
U_S = Vt[:5].T
P_S = U_S @ U_S.T
P_perp = np.eye(20) - P_S


def with_sigma(p, delta):
    """The same problem, with OOD second moment P_S + delta * P_perp."""
    return lt.Problem.from_arrays(p.X, p.y, p.B0, p.v0, p.w_star, p.B_star, p.v_star, sigma_ood=P_S + delta * P_perp)


delta = 0.01
ts = np.concatenate([[0.0], np.geomspace(1e-4, 10.0, 51)])  # t = 10 is past convergence here
iso, conc = {}, {}
for method in METHODS:
    iso[method] = lt.trajectory_metrics(lt.simulate(p, method, ts))
    conc[method] = lt.trajectory_metrics(lt.simulate(with_sigma(p, delta), method, ts))
    split = iso[method]["id_subspace_loss"] + delta * (iso[method]["ood_loss"] - iso[method]["id_subspace_loss"])
    rel = np.max(np.abs(conc[method]["ood_loss"] - split) / split)
    print(f"{method:>5}: L_ood(Sigma_0.01) at t = 10: {conc[method]['ood_loss'][-1]:.4e};"
          f" largest relative gap to the split over the run: {rel:.1e}")

# %% [markdown]
# The split holds, so one sweep with $\Sigma = I$ gives the OOD loss for every $\delta$ at once. Here is the median
# over seeds, for good features ($\varepsilon = 0.1$) and a random head of scale 1, as $\delta$ goes from isotropic to
# "OOD = ID".
#
# **Predict, then run.** At $\delta = 1$ LP wins by far, and at $\delta \to 0$ FT must win. Where do you expect the
# crossover: near $\delta = 0.1$, or much smaller?

# %%
deltas = np.geomspace(1e-6, 1.0, 61)
eps_pick = 0.1


def ood_at_delta(r, eps):
    sel = r["eps"] == eps
    id_part, total = r["id_subspace_loss"][sel], r["ood_loss"][sel]
    return id_part[None, :] + deltas[:, None] * (total - id_part)[None, :]  # (n_delta, n_seeds)


fig, ax = plt.subplots(figsize=(5.5, 3.8))
curves = {}
for i, method in enumerate(METHODS):
    curves[method] = np.median(ood_at_delta(runs[method], eps_pick), axis=1)
    ax.loglog(deltas, curves[method], color=f"C{i}", label=method)
ax.set(xlabel=r"$\delta$ (weight of $S^\perp$ in the OOD distribution)", ylabel="OOD loss (median)",
       title=rf"$\varepsilon = {eps_pick}$: from isotropic ($\delta=1$) to OOD = ID ($\delta\to0$)")
ax.legend(fontsize=8)
plt.show()

cross = deltas[np.argmax(curves["ft"] > curves["lp"])]
print(f"FT beats LP (median) for delta below about {cross:.1e}")

# %% [markdown]
# With good features and a random head, the crossover sits at a tiny $\delta$: FT only wins when the OOD
# distribution puts almost no weight outside the training subspace. (How tiny depends on the problem:
# it is the ratio of LP's ID error to FT's $S^\perp$ error, and both depend on $\varepsilon$ and on the head.)
# Notice also that LP-FT is the best of the three at every $\delta$ here: it has FT's ID fit *and*
# LP's $S^\perp$ behaviour.
#
# ## 4.4 Can early stopping rescue FT?
#
# A natural objection: stop FT early, before it distorts the features. The paper's bound holds at *every*
# time $t$, so with good features no stopping time helps. Here is the OOD loss along the FT trajectory
# of the problem above, against LP's limit.
#
# **Predict, then run.** Is there a time at which FT's OOD loss is close to LP's?

# %%
ft_path = iso["ft"]["ood_loss"]  # the FT trajectory of Section 4.3 (Sigma = I)
lp_limit_loss = iso["lp"]["ood_loss"][-1]  # LP at t = 10: converged (rates >= 1.2, see notebook 1)
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(ts[1:], ft_path[1:], label="FT, $L_{ood}(t)$")
ax.axhline(lp_limit_loss, color="C0", ls="--", label=r"LP, converged")
ax.set(xlabel="t", title=r"early stopping, $\varepsilon = 0.1$")
ax.legend()
plt.show()
print(f"FT's OOD loss: at t = 0 {ft_path[0]:.3e}, smallest on the grid {ft_path.min():.3e};  LP converged: {lp_limit_loss:.3e}")

# %% [markdown]
# FT's OOD loss falls a little, from its random start, and then settles; at no time does it come within
# three orders of magnitude of LP's. (This is a grid; notebook 3 shows how the bound checker finds the
# true minimum over all $t \ge 0$.)
#
# ## Summary
#
# | regime | who wins OOD | why |
# |---|---|---|
# | good features, OOD ≠ ID | LP-FT ≈ LP, far ahead of FT | FT keeps its bad head and distorts the ID features |
# | bad features ($\varepsilon \to \sqrt2$) | FT can catch up or win | LP has nothing good to preserve |
# | OOD ≈ ID ($\delta \to 0$) | FT (and LP-FT) beat LP | the test error lives in $S$, where FT fits exactly |
#
# The deep-network caveats of the paper (`docs/theory.md` §6) reappear as exact statements in the linear model.
#
# ## Exercises
#
# 1. **The crossover in $\varepsilon$.** For each seed in the small-head sweep, find the smallest $\varepsilon$ at which
#    FT's OOD loss is below LP's. Is there a seed for which FT never wins?
# 2. **The crossover in $\delta$ depends on $\varepsilon$.** Redo the $\delta$-plot of Section 4.3 for $\varepsilon = 1.0$.
#    Where is the crossover now?
# 3. **Distortion.** Add the column `distortion_id` of the sweeps to a plot against $\varepsilon$ for FT and LP-FT.
#    How does the ratio change with $\varepsilon$?

# %% [markdown]
# ---
# ## Solutions
#
# <details><summary><b>Solution 1</b></summary>
#
# Compare per seed (the code below prints, for each seed, the first $\varepsilon$ at which FT wins). Here most
# seeds cross only once the features are poor ($\varepsilon = 1$), and one seed never crosses on this grid: its
# small head is misaligned enough that FT loses even with nearly orthogonal features ($\varepsilon = 1.4$).
#
# </details>
#
# <details><summary><b>Solution 2</b></summary>
#
# With bad features LP's ID error is large, so FT wins already at a much larger $\delta$: the crossover moves
# from a few $10^{-4}$ at $\varepsilon = 0.1$ to a few $10^{-2}$ at $\varepsilon = 1$ (printed below).
#
# </details>
#
# <details><summary><b>Solution 3</b></summary>
#
# LP-FT's distortion grows with $\varepsilon$ (the worse the features, the further the probed head is from
# fitting, and the more FT has to do), while FT's is set by its random head and hardly depends on $\varepsilon$.
# So the ratio FT / LP-FT falls as $\varepsilon$ grows, towards about 1 at $\varepsilon \approx \sqrt 2$; the code prints it.
#
# </details>
#
# The code of the solutions is in the next cell (collapsed in JupyterLab: click to expand).

# %% jupyter={"source_hidden": true}
# Solution 1
ft_s, lp_r = small["ft"], runs["lp"]
for seed in SEEDS:
    sel_f, sel_l = ft_s["seed"] == seed, lp_r["seed"] == seed
    better = ft_s["ood_loss"][sel_f] < lp_r["ood_loss"][sel_l]
    first = ft_s["eps"][sel_f][better][0] if better.any() else None
    print(f"seed {seed}: FT first beats LP at eps = {first}")

# Solution 2
curves_bad = {method: np.median(ood_at_delta(runs[method], 1.0), axis=1) for method in METHODS}
print(f"eps = 1.0: FT beats LP (median) for delta below about {deltas[np.argmax(curves_bad['ft'] > curves_bad['lp'])]:.1e}")

# Solution 3
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for i, method in ((1, "ft"), (2, "lpft")):
    r = runs[method]
    ax.plot(EPS, [np.median(r["distortion_id"][r["eps"] == e]) for e in EPS], color=f"C{i}", label=method)
ax.set(xscale="log", yscale="log", xlabel=r"$\varepsilon$", ylabel="median distortion_id")
ax.legend()
plt.show()
ratio = [median_at(runs["ft"], "distortion_id", e) / median_at(runs["lpft"], "distortion_id", e) for e in EPS]
print("median distortion_id, FT / LP-FT, by eps:", {e: round(float(q), 1) for e, q in zip(EPS, ratio)})

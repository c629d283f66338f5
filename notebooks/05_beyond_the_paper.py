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
# # 5. Beyond the paper
#
# The paper analyses three methods (LP, FT, LP-FT) under gradient flow with noiseless labels. Practice
# is messier, and the paper lists several questions it leaves open (`docs/theory.md` §7). The library has
# modules for four of them, and this notebook takes each for a short walk:
#
# 1. **WiSE-FT**: average the weights of the start and the end of fine-tuning (`lpft_theory.variants.wise`);
# 2. **L2-SP**: fine-tune with a penalty $\lambda\|B - B_0\|_F^2$ that pulls the features back (`lpft_theory.variants.l2sp`);
# 3. **discrete gradient descent** with finite, possibly layer-wise, learning rates (`lpft_theory.variants.gd`);
# 4. **label noise** (`lpft_theory.variants.noise`).
#
# None of this is a theorem of the paper. What we show are measurements on one small problem (or a
# few seeds): they suggest, they do not prove. Throughout we use notebook 1's problem
# ($d = 20$, $k = 2$, $m = 5$, $n = 10$, $\varepsilon = 0.1$, a random head), where LP's OOD loss is $6.4\cdot10^{-3}$, FT's
# is $12.6$ and LP-FT's $5.4\cdot10^{-3}$.
#
# **Learning objectives.** After this notebook you can
#
# * explain why WiSE-FT's losses are quartic in the mixing weight $\alpha$, and find the best $\alpha$;
# * describe what an L2-SP penalty keeps (Lemma A.3) and breaks (balancedness), and its two time scales;
# * relate the stability of discrete gradient descent to step sizes, and see layer-wise rates act like LP-FT;
# * say how label noise erodes FT's in-distribution advantage.
#
# **Prerequisites.** Notebooks 1–4, in particular notebook 1's gradient descent and step-size limit.
#
# **Run time.** About 45 s on a laptop CPU (measured: 128 s of cell time on a shared 2-core
# machine under load; JAX compiles each solver once, which is most of it).
#
# **Notation.** Every symbol is defined on the shared [notation page](../docs/notation.md), including the reduced
# coordinates $G$ and $B_S$ used in Section 5.3.

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
from lpft_theory.variants import gd, l2sp, noise, wise

np.set_printoptions(precision=4, suppress=True)

p = lt.Problem.random(seed=0, d=20, k=2, m=5, n=10, eps=0.1)
ref = {method: lt.trajectory_metrics(lt.simulate(p, method, [np.inf])) for method in ("lp", "ft", "lpft")}
for method, mm in ref.items():
    print(f"{method:>5} at t = inf: OOD loss {mm['ood_loss'][-1]:.3e}, ID-subspace loss {mm['id_subspace_loss'][-1]:.3e}")

# %% [markdown]
# ## 5.1 WiSE-FT: interpolating weights
#
# WiSE-FT (Wortsman et al., 2022) takes the parameters before and after fine-tuning and averages
# them: $\theta(\alpha) = (1-\alpha)\theta_0 + \alpha\theta_{ft}$ with $\theta = (v, B)$. The predictor is a product, so it is not
# linear in $\alpha$ but *quadratic*: with $\Delta v = v_{ft} - v_0$, $\Delta B = B_{ft} - B_0$,
#
# $$ w(\alpha) = B(\alpha)^\top v(\alpha) = B_0^\top v_0 + \alpha\,(B_0^\top\Delta v + \Delta B^\top v_0) + \alpha^2\,\Delta B^\top\Delta v, $$
#
# and every quadratic loss of $w(\alpha)$ is a quartic polynomial in $\alpha$. `wise.wise_ft` returns the
# interpolated states as a trajectory (its "times" are the $\alpha$ values) plus those quartic
# coefficients. We try both starting points the module offers: the initialisation (so $\alpha = 1$ is FT)
# and the linear probe (so $\alpha = 0$ is LP and $\alpha = 1$ is LP-FT).

# %%
alphas = np.linspace(0.0, 1.0, 41)
fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
for wise_from, color in (("init", "C1"), ("lp", "C2")):
    traj = wise.wise_ft(p, alphas, wise_from=wise_from)
    info = traj.info
    mm = lt.trajectory_metrics(traj)
    quartic = np.polynomial.polynomial.polyval(alphas, info["ood_loss_poly"])
    print(f"from {wise_from:>4}: largest |quartic - measured| OOD loss: {np.max(np.abs(quartic - mm['ood_loss'])):.1e}")
    label = "init → FT" if wise_from == "init" else "LP → LP-FT"
    ax[0].semilogy(alphas, mm["ood_loss"], color, label=label)
    ax[1].semilogy(alphas, np.maximum(mm["id_subspace_loss"], 1e-20), color, label=label)
ax[0].set(xlabel=r"$\alpha$", title="OOD loss along the interpolation")
ax[1].set(xlabel=r"$\alpha$", title="ID-subspace loss along the interpolation")
ax[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The measured losses are the quartic, to rounding. In this model neither interpolation finds a
# sweet spot: the ID-subspace loss falls to zero only at $\alpha = 1$, and the OOD loss also falls (almost)
# monotonically towards the $\alpha = 1$ end. From the initialisation both ends carry the random head, so
# averaging cannot remove its error; from the probe, LP-FT is already better than LP on *both* losses.
# WiSE-FT's gains in deep networks come from averaging two models with complementary strengths (a
# zero-shot model that is robust but inaccurate ID, a fine-tuned model that is the opposite); with good
# features, the linear model's LP and LP-FT are not complementary in that way.
#
# ## 5.2 L2-SP: pulling the features back
#
# L2-SP (Li et al., 2018) adds a penalty on the distance from the pretrained weights. Penalising only
# the features,
#
# $$ J_\lambda(v, B) = \hat L(v, B) + \lambda\|B - B_0\|_F^2, \qquad
#    \dot v = -2BX^\top r,\quad \dot B = -2vr^\top X - 2\lambda(B - B_0). $$
#
# The $S^\perp$ part of $B - B_0$ now obeys $\frac{d}{dt}(D\Pi_{S^\perp}) = -2\lambda D\Pi_{S^\perp}$ from $0$, so Lemma A.3
# survives: features still never change outside $S$. Balancedness does not: the penalty breaks the
# symmetry between head and features. $\lambda = 0$ is FT; $\lambda\to\infty$ freezes $B$ and gives LP.

# %%
lams = [1.0, 10.0, 100.0]
ts = np.append(np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 41)]), np.inf)  # 0 ... 10, then the limit
l2_traj = {lam: l2sp.simulate_l2sp(p, lam, ts) for lam in lams}
l2 = {lam: lt.trajectory_metrics(tr) for lam, tr in l2_traj.items()}

fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
for (i, lam), marker in zip(enumerate(lams), "o^s"):
    ax[0].loglog(ts[1:-1], l2[lam]["ood_loss"][1:-1], marker=marker, ms=4, mfc="none", lw=1.5,
                 color=plt.cm.viridis(i / len(lams)), label=f"L2-SP, $\\lambda$={lam:g}", zorder=3)
for method, ls in (("ft", "-"), ("lpft", "--"), ("lp", ":")):
    ax[0].axhline(ref[method]["ood_loss"][-1], color="0.4", ls=ls, lw=1, label=f"{method} at $t=\\infty$", zorder=1)
ax[0].set(xlabel="t", title="OOD loss along the L2-SP flow")
ax[0].legend(fontsize=7)
ax[1].loglog(lams, [l2[lam]["ood_loss"][-1] for lam in lams], "o-", label="OOD loss")
ax[1].loglog(lams, [l2[lam]["id_subspace_loss"][-1] for lam in lams], "s-", label="ID-subspace loss")
ax[1].axhline(ref["lp"]["ood_loss"][-1], color="C0", ls=":", lw=1, label="LP: OOD")
ax[1].axhline(ref["lp"]["id_subspace_loss"][-1], color="C1", ls=":", lw=1, label="LP: ID-subspace")
ax[1].set(xlabel=r"$\lambda$", title=r"L2-SP at $t = \infty$")
ax[1].legend(fontsize=7)
plt.tight_layout()
plt.show()
for lam in lams:
    print(f"lambda = {lam:>5}: OOD at t = 10 {l2[lam]['ood_loss'][-2]:.3e}, at t = inf {l2[lam]['ood_loss'][-1]:.3e}  ID-subspace {l2[lam]['id_subspace_loss'][-1]:.2e}  "
          f"distortion {l2[lam]['distortion_id'][-1]:.3f}  balancedness drift {l2[lam]['balancedness_drift'][-1]:.2f}")
print(f"for comparison, FT's distortion is {ref['ft']['distortion_id'][-1]:.3f} and LP-FT's {ref['lpft']['distortion_id'][-1]:.3f}")

# %% [markdown]
# In the left panel the markers are the L2-SP runs; the gray lines are the three methods' limits. The
# $\lambda = 1$ curve (circles) lies on top of FT's line for most of the run, and $\lambda = 10$ (triangles) close
# to it: that overlap is the finding, not a plotting accident.
#
# Two time scales show up. Early on L2-SP behaves like FT: the features move fast because the head is
# large, and the OOD loss sits at FT's level. The penalty then drags the features back, but slowly: the
# flow has to move along the set of parameters that fit the training data, and it does so far more
# slowly than the rate $2\lambda$ at which the penalty alone would relax $B$. With $\lambda = 100$ the OOD loss drops
# around $t \approx 3$; with $\lambda = 1$ and $10$ it is still at FT's level at $t = 10$.
#
# In the limit, every $\lambda$ here reaches an OOD loss comparable to LP and LP-FT, far below FT's, and the
# ID-subspace loss grows with $\lambda$ towards LP's: the penalty trades ID fit for less feature change. The
# large balancedness drift says the head changed a lot, which is exactly what plain FT avoids.
#
# The catch is time: the good limit is reached late (for small $\lambda$ the solver needs tens of thousands of
# steps to get there), and a practitioner who stops early gets something close to FT.
#
# ## 5.3 Gradient descent and learning rates
#
# Notebook 1 showed that GD with a small step tracks gradient flow. `gd.simulate_gd` runs GD with
# separate step sizes $\eta_v$ for the head and $\eta_B$ for the features, in *reduced coordinates* and
# compiled, so thousands of steps take milliseconds. Reduced coordinates (notation page, and `docs/theory.md`
# §3): FT never changes $B$ on $S^\perp$, so only $B_S = BU_S \in \mathbb R^{k\times m}$, the features' coordinates in an
# orthonormal basis $U_S$ of $S$, evolve. The training inputs enter only through their Gram matrix in that basis,
# $G = Z^\top Z$ with $Z = XU_S$ (it has the same nonzero eigenvalues as $X^\top X$). GD reports divergence instead
# of raising, and the *stability ratio* $\rho$: at a global minimum GD is linearly stable iff
#
# $$ \rho = \lambda_{max}\big(G^{1/2}(\eta_v B_S^\top B_S + \eta_B\|v\|^2 I)G^{1/2}\big) < 1 . $$
#
# ### Equal learning rates: large steps change the answer
#
# With $\eta_v = \eta_B = \eta$, small $\eta$ reproduces FT. What happens as $\eta$ grows past the point where the
# *starting* region is unstable ($\rho > 1$ at $t = 0$)?
#
# **Predict, then run.** For $\eta$ beyond the value where $\rho > 1$ at the start, will GD diverge at once, or can it
# end somewhere else? If somewhere else, better or worse out of distribution than FT?

# %%
etas = [0.001, 0.002, 0.004, 0.005, 0.006, 0.007, 0.008, 0.01]
save_at = np.unique(np.concatenate([[0], np.geomspace(1, 20000, 60).astype(int)]))  # log-spaced saved steps
rows = []
for eta in etas:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gd.DivergenceWarning)  # recorded in the result instead
        res = gd.simulate_gd(p, eta, eta, 20000, gtol=1e-10, save_at=save_at)
    mm = lt.trajectory_metrics(res)
    v_end = np.asarray(res.v)[-1]
    rows.append((eta, res.info["stability_ratio_start"], res.info["diverged"], mm["ood_loss"][-1], np.linalg.norm(v_end), res.info["stability_ratio_end"]))
    print(f"eta = {eta:.3f}: rho at start {res.info['stability_ratio_start']:4.2f}  "
          + ("DIVERGED" if res.info["diverged"] else f"end: OOD {mm['ood_loss'][-1]:.3e}, |v| {np.linalg.norm(v_end):.2f}, rho {res.info['stability_ratio_end']:.2f}"))

ok = [r for r in rows if not r[2]]
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.semilogy([r[0] for r in ok], [r[3] for r in ok], "o-", label="GD, OOD loss at the end")
ax.axhline(ref["ft"]["ood_loss"][-1], color="k", lw=1, label="FT (flow)")
ax.axhline(ref["lp"]["ood_loss"][-1], color="k", ls=":", lw=1, label="LP")
for r in rows:
    if r[2]:
        ax.axvline(r[0], color="r", alpha=0.3)
ax.set(xlabel=r"$\eta_v = \eta_B = \eta$", title="equal rates (red: diverged)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# For $\eta \le 0.002$ GD ends at the flow's answer. From $\eta \approx 0.004$ the start is unstable ($\rho > 1$), but
# instead of diverging GD is thrown out of the sharp region and settles at a *flatter* minimum, one with
# a smaller head (at $\eta = 0.007$, $\|v\|$ drops from 3.2 to about 0.5) and $\rho < 1$. A smaller head is exactly
# what FT's OOD error needed: the OOD loss falls by a factor of about 50. A slightly larger step and GD
# diverges. So the paper's gradient-flow picture is the small-step limit; large
# learning rates add an implicit bias towards small heads that partly undoes feature distortion here.
# (One problem; the window of step sizes where this happens is narrow and problem-specific.)
#
# ### Layer-wise rates: a slow feature rate acts like LP-FT
#
# Now give the head a large step, $\eta_v = 0.1$, and shrink the feature rate. LP alone is stable up to
# $\eta_v = 1/\lambda_{max}(B_{S,0}GB_{S,0}^\top) \approx 0.31$ (`gd.lp_stability_limit`). That is notebook 1's limit
# $2/\lambda_{max}(A)$ in other clothes: the LP matrix is $A = 2B_0X^\top XB_0^\top = 2B_{S,0}GB_{S,0}^\top$ (with
# $B_{S,0} = B_0U_S$), so $2/\lambda_{max}(A) = 1/\lambda_{max}(B_{S,0}GB_{S,0}^\top)$. The cell checks that the two agree.

# %%
X_, B0_ = np.asarray(p.X), np.asarray(p.B0)
A = 2 * B0_ @ X_.T @ X_ @ B0_.T  # notebook 1's LP matrix
print("LP stability limit for eta_v:", gd.lp_stability_limit(lt.reduce(p)), "  2 / lambda_max(A):", 2 / np.linalg.eigvalsh(A).max())
eta_Bs = [3e-3, 1e-3, 1e-4, 1e-5]
layer = {}
for eta_B in eta_Bs:
    res = gd.simulate_gd(p, 0.1, eta_B, 20000, gtol=1e-10, save_at=save_at)
    layer[eta_B] = lt.trajectory_metrics(res)
    mm = layer[eta_B]
    print(f"eta_v = 0.1, eta_B = {eta_B:.0e}: OOD {mm['ood_loss'][-1]:.3e}  train loss {mm['train_loss'][-1]:.1e}  "
          f"distortion {mm['distortion_id'][-1]:.3f}")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
steps = np.asarray(res.times)
for i, eta_B in enumerate(eta_Bs):
    ax.loglog(steps[1:], layer[eta_B]["ood_loss"][1:], color=plt.cm.viridis(i / len(eta_Bs)), label=rf"$\eta_B$ = {eta_B:.0e}")
ax.axhline(ref["lpft"]["ood_loss"][-1], color="k", ls="--", lw=1, label="LP-FT (flow)")
ax.set(xlabel="GD step", ylabel="OOD loss", title=r"$\eta_v = 0.1$, feature rate $\eta_B$ varies")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# With a feature rate 1000 times smaller than the head's ($\eta_B = 10^{-4}$), the head converges to the linear
# probe before the features have moved much, and the features then adjust gently: GD lands close to
# LP-FT's OOD loss without a separate probing phase. With $\eta_B = 10^{-5}$ the features are so slow that 20 000 steps do not
# finish fitting the training data. LP-FT can be read as the extreme case of layer-wise learning rates.
#
# ## 5.4 Label noise
#
# The paper's theory is noiseless ($y = Xw_\star$). With noise, $y = Xw_\star + \sigma\xi$, the flows fit the noisy
# targets; `Problem.random(..., label_noise=σ)` draws them. The paper's statements assume noiseless labels:
# `noise.is_noisy` tells noisy problems apart, and loading a noisy problem file needs
# `Problem.load(path, allow_label_noise=True)`. We measure the **ID test loss** on fresh, clean ID inputs
# (`noise.noisy_metrics`, exact expectation) and the OOD loss, over a few seeds.
#
# **Predict, then run.** Without noise FT fits $S$ exactly and beats LP in distribution. As $\sigma$ grows, which
# method's ID test loss grows fastest?

# %%
sigmas = [0.0, 0.03, 0.1, 0.3, 1.0]
noise_seeds = range(3)
out = {method: np.zeros((len(sigmas), len(noise_seeds), 2)) for method in ("lp", "ft", "lpft")}
for i, sigma in enumerate(sigmas):
    for j, seed in enumerate(noise_seeds):
        pn = lt.Problem.random(seed=seed, d=20, k=2, m=5, n=10, eps=0.1, label_noise=sigma)
        for method in out:
            tr = lt.simulate(pn, method, [np.inf])
            out[method][i, j] = noise.noisy_metrics(tr)["id_test_loss_exact"][-1], lt.trajectory_metrics(tr)["ood_loss"][-1]
print("is_noisy(sigma = 0.1 problem):", noise.is_noisy(lt.Problem.random(seed=0, d=20, k=2, m=5, n=10, eps=0.1, label_noise=0.1)))

fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
x = np.array(sigmas[1:])  # sigma > 0 on the log axis; sigma = 0 is printed below
style = dict(lp=dict(marker="o", ms=6), ft=dict(marker="s", ms=11, mfc="none", mew=1.5), lpft=dict(marker="x", ms=7, ls="--"))
for i, method in enumerate(out):
    med = np.median(out[method], axis=1)
    ax[0].loglog(x, med[1:, 0], color=f"C{i}", label=method, **style[method])
    ax[1].loglog(x, med[1:, 1], color=f"C{i}", label=method, **style[method])
ax[0].set(xlabel=r"label noise $\sigma$", title="ID test loss (clean labels), median")
ax[1].set(xlabel=r"label noise $\sigma$", title="OOD loss, median")
ax[0].legend()
plt.tight_layout()
plt.show()
for method in out:
    med = np.median(out[method], axis=1)
    print(f"{method:>5}: ID test loss by sigma {med[:, 0]}   OOD {med[:, 1]}")

# %% [markdown]
# In the left panel FT (open squares) and LP-FT (crosses, dashed) coincide: both end at the least-squares fit
# of the noisy labels on $S$ (the printed values are identical). In the right panel LP and LP-FT are close and
# FT lies far above both.
#
# Noise erodes FT's ID advantage. Without noise FT and LP-FT fit $S$ exactly and beat LP in distribution.
# With noise they fit the *noise* in $S$ too (the two reach the same point on $S$: the least-squares fit
# of the noisy labels, hence identical ID test losses), and their ID test loss grows like $\sigma^2$. LP has
# only $k = 2$ parameters, which average part of the noise out: at $\sigma = 0.1$ it ties with them, and from
# $\sigma = 0.3$ on it has the lowest ID test loss of the three. Out of distribution LP-FT stays close to LP for small
# noise (slightly worse at $\sigma = 0.3$, clearly worse at $\sigma = 1$), and FT stays dominated by its head. (Medians of three seeds: a hint, not
# a law.)
#
# ## Summary
#
# * **WiSE-FT**: $w(\alpha)$ is quadratic, losses are quartic in $\alpha$; here interpolation does not beat the
#   better endpoint.
# * **L2-SP** keeps Lemma A.3, breaks balancedness, and in the limit trades ID fit for less feature
#   change; its limits have LP-like OOD loss, but reaching them takes much longer than $1/\lambda$.
# * **GD**: small steps are the flow; steps beyond the stability edge can settle at flatter minima with
#   smaller heads and better OOD; a slow feature rate reproduces LP-FT.
# * **Label noise** erodes FT's ID advantage: LP's low capacity averages part of the noise out.
#
# ## Exercises
#
# 1. **The best $\alpha$.** Use the quartic coefficients `info["ood_loss_poly"]` of WiSE-FT from LP to find the
#    $\alpha \in [0, 1]$ that minimises the OOD loss (roots of the derivative). Is it interior?
# 2. **L2-SP approaches LP.** Using the L2-SP runs above, compute $\|w_\lambda - w_{lp}\|$ at $t = \infty$ for
#    $\lambda = 1, 10, 100$. How fast does it shrink with $\lambda$?
# 3. **Surgical fine-tuning.** `lpft_theory.variants.frozen_head.simulate_frozen_head(p, times, init="lp")` tunes only
#    the features under the LP head. Its docstring claims the limit has OOD error
#    $e = \Pi_{S^\perp}(B_0^\top v_h - w_\star)$. Check it, and compare its OOD loss with LP-FT's.

# %% [markdown]
# ---
# ## Solutions
#
# <details><summary><b>Solution 1</b></summary>
#
# The derivative of the quartic is a cubic; evaluate the quartic at its real roots in $[0, 1]$ and at
# the two ends. For this problem the minimum is interior, but barely: at $\alpha \approx 0.99$, and it improves on
# $\alpha = 1$ (LP-FT) by about one part in $10^5$.
#
# </details>
#
# <details><summary><b>Solution 2</b></summary>
#
# The gap shrinks by a factor of about 2.3 from $\lambda = 1$ to $10$ and 4.4 from $10$ to $100$: it is heading for
# the factor 10 per decade of a $1/\lambda$ law (the features relax to $B_0 + O(1/\lambda)$), but $\lambda \le 100$ is not yet
# the asymptotic regime, as $\lambda\cdot$gap, still growing, shows. (Try $\lambda = 1000$: the module then
# switches to an implicit solver.)
#
# </details>
#
# <details><summary><b>Solution 3</b></summary>
#
# With the head frozen, $w = B^\top v_h$ follows linear-regression gradient flow on $S$ and never changes
# on $S^\perp$, so the limit fits $S$ exactly and keeps $B_0^\top v_h$ on $S^\perp$. With the LP head that is
# almost LP-FT; here it is even a little better.
#
# </details>
#
# The code of the solutions is in the next cell (collapsed in JupyterLab: click to expand).

# %% jupyter={"source_hidden": true}
# Solution 1
traj = wise.wise_ft(p, alphas, wise_from="lp")
info = traj.info
poly = np.polynomial.Polynomial(info["ood_loss_poly"])
crit = [r.real for r in poly.deriv().roots() if abs(r.imag) < 1e-12 and 0 <= r.real <= 1]
cands = np.array([0.0, 1.0] + crit)
best = cands[np.argmin(poly(cands))]
print("candidates:", cands, " OOD loss there:", poly(cands))
print(f"best alpha {best:.4f}: OOD {poly(best):.6e} vs alpha = 1: {poly(1.0):.6e}")

# Solution 2
w_lp = np.asarray(lt.simulate(p, "lp", [np.inf]).w())[-1]
for lam in lams:
    gap = np.linalg.norm(np.asarray(l2_traj[lam].w())[-1] - w_lp)
    print(f"lambda = {lam:>6}: |w_lambda - w_lp| = {gap:.3e}   lambda * gap = {lam * gap:.3f}")

# Solution 3
from lpft_theory.variants import frozen_head

fh = frozen_head.simulate_frozen_head(p, [np.inf], init="lp")
B0, w_star, X = np.asarray(p.B0), np.asarray(p.w_star), np.asarray(p.X)
_, s, Vt = np.linalg.svd(X)
P_perp = np.eye(20) - Vt[:5].T @ Vt[:5]
v_h = np.asarray(fh.v)[-1]
e_pred = P_perp @ (B0.T @ v_h - w_star)
e_sim = np.asarray(fh.w())[-1] - w_star
print("|e_sim - e_pred| =", np.linalg.norm(e_sim - e_pred))
print(f"frozen-head (LP head) OOD loss {lt.trajectory_metrics(fh)['ood_loss'][-1]:.4e}   LP-FT {ref['lpft']['ood_loss'][-1]:.4e}")

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
# # 2. Feature distortion
#
# Notebook 1 showed fine-tuning (FT) fitting the training data perfectly and still doing badly
# out of distribution. This notebook takes the mechanism apart. Two exact facts about the FT flow
# do all the work:
#
# * **Lemma A.3**: FT changes the features only inside the ID subspace $S$. For every $x \in S^\perp$,
#   $B(t)x = B_0x$ at all times.
# * **Lemma A.4** (balancedness): $vv^\top - BB^\top$ is constant along FT.
#
# We check both numerically, then build the paper's two-dimensional toy example (its Figure 2)
# step by step, with every number derived by hand and compared to the simulation, explore it with
# sliders and watch an animation of FT. We end by measuring feature distortion on ID and OOD inputs,
# as the paper does for deep networks.
#
# **Learning objectives.** After this notebook you can
#
# * prove and check numerically that FT changes the features only on $S$ (Lemma A.3), and that
#   $vv^\top - BB^\top$ is conserved (Lemma A.4);
# * derive the LP, FT and LP-FT solutions of the 2-D toy by hand from those two facts;
# * explain why FT's OOD error in the toy comes from the initial head, and LP's only from the feature error;
# * measure feature distortion on ID and OOD inputs.
#
# **Prerequisites.** Notebook 1 (the model, $S$, the three flows). Linear algebra: projections, the trace.
#
# **Run time.** About 30 s on a laptop CPU (measured: 84 s of cell time on a shared 2-core
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

import matplotlib.pyplot as plt
import numpy as np

import lpft_theory as lt

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 2.1 Features change only inside $S$ (Lemma A.3)
#
# The FT flow moves the features along $\dot B = -\nabla_B \hat L = -2\,v\,r^\top X$ with $r = XB^\top v - y$.
# Let $\Pi_{S^\perp}$ be the orthogonal projector onto $S^\perp$. Since $X\Pi_{S^\perp} = 0$,
#
# $$ \frac{d}{dt}\big(B\,\Pi_{S^\perp}\big) = -2\,v\,r^\top X\Pi_{S^\perp} = 0
# \quad\Longrightarrow\quad B(t)\,\Pi_{S^\perp} = B_0\,\Pi_{S^\perp}\ \text{ for all } t .$$
#
# The library's default solver works in *reduced coordinates*: it integrates only $B_S = BU_S$, the part of
# $B$ acting on $S$, and keeps $B$'s $S^\perp$ part fixed. That is fast, but it would make a numerical
# check of Lemma A.3 circular: the lemma is built in. So here we ask for `coords="full"`, which integrates
# all $k + kd$ coordinates of $(v, B)$ straight from the gradient formulas, and we look at what happens to
# $B$ on $S^\perp$.

# %%
p = lt.Problem.random(seed=0, d=20, k=2, m=5, n=10, eps=0.1)
X, B0 = np.asarray(p.X), np.asarray(p.B0)

# orthonormal bases of S = rowspace(X) and of its complement, by SVD
_, s, Vt = np.linalg.svd(X, full_matrices=True)
m = int(np.sum(s > 1e-10 * s[0]))
U_S, U_perp = Vt[:m].T, Vt[m:].T
P_perp = U_perp @ U_perp.T

ts = np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 41)])
full = lt.simulate(p, "ft", ts, coords="full")  # integrates (v, B) in R^2 x R^{2x20}
B_t, v_t = np.asarray(full.B()), np.asarray(full.v)

change_perp = np.linalg.norm((B_t - B0) @ P_perp, ord=2, axis=(1, 2))
change_S = np.linalg.norm((B_t - B0) @ U_S, ord=2, axis=(1, 2))

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(ts[1:], change_S[1:], label=r"$\|(B(t)-B_0)\Pi_S\|_2$")
ax.loglog(ts[1:], np.maximum(change_perp[1:], 1e-18), label=r"$\|(B(t)-B_0)\Pi_{S^\perp}\|_2$")
ax.set(xlabel="t", title="FT in full coordinates: where do the features change?")
ax.legend()
plt.show()
print("largest change on S-perp over the run:", change_perp.max())
print("largest change on S                  :", change_S.max())

# %% [markdown]
# On $S$ the features change by order one (0.34 in spectral norm); on $S^\perp$ the change is at the level of
# floating-point rounding, $10^{-16}$ to $10^{-15}$, creeping up only as rounding errors accumulate over
# the solver's steps. (The metric `perp_drift` of `lt.trajectory_metrics` measures
# the same quantity.) The full and reduced solvers agree, as they must:

# %%
red = lt.simulate(p, "ft", ts)
print("perp_drift from trajectory_metrics (full coords):", lt.trajectory_metrics(full)["perp_drift"].max())
print("max |v_full - v_reduced| :", np.max(np.abs(v_t - np.asarray(red.v))))
print("max |B_full - B_reduced| :", np.max(np.abs(B_t - np.asarray(red.B()))))

# %% [markdown]
# **What this means.** Split any input into its ID and OOD parts, $x = \Pi_S x + \Pi_{S^\perp}x$. Fine-tuning
# changes how the network sees $\Pi_S x$, and leaves $\Pi_{S^\perp}x$ seen through the *old* features $B_0$.
# The head, meanwhile, has been trained to go with the *new* features. On $S^\perp$ the fine-tuned
# predictor is $w(t)^\top x = v(t)^\top B_0 x$: a head fitted to distorted features, applied to undistorted ones.
# That mismatch is the OOD error.
#
# ## 2.2 Balancedness (Lemma A.4)
#
# The second fact is a conservation law. With $g = X^\top r$, the FT flow is $\dot v = -2Bg$ and
# $\dot B = -2vg^\top$, so
#
# $$ \frac{d}{dt}(vv^\top) = \dot v v^\top + v\dot v^\top = -2Bgv^\top - 2vg^\top B^\top, \qquad
#    \frac{d}{dt}(BB^\top) = \dot BB^\top + B\dot B^\top = -2vg^\top B^\top - 2Bgv^\top . $$
#
# The two are equal: $vv^\top - BB^\top$ never changes. Its trace gives the scalar version
#
# $$ \|v(t)\|^2 - \|B(t)\|_F^2 = \|v_0\|^2 - \|B_0\|_F^2 = \|v_0\|^2 - k . $$
#
# Head and features are locked together: the head can only grow if the features grow by the same amount
# (in squared norm).
# We check it on the full-coordinate trajectory above.

# %%
D = np.einsum("ti,tj->tij", v_t, v_t) - np.einsum("tid,tjd->tij", B_t, B_t)
drift = np.linalg.norm(D - D[0], axis=(1, 2))
moved = np.linalg.norm(np.einsum("ti,tj->tij", v_t, v_t) - np.outer(v_t[0], v_t[0]), axis=(1, 2))

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.loglog(ts[1:], moved[1:], label=r"$\|v(t)v(t)^\top - v_0v_0^\top\|_F$ (for scale)")
ax.loglog(ts[1:], np.maximum(drift[1:], 1e-18), label=r"$\|D(t) - D(0)\|_F$, $D = vv^\top - BB^\top$")
ax.set(xlabel="t", title="Lemma A.4: balancedness")
ax.legend()
plt.show()
print("largest drift of vv^T - BB^T:", drift.max())
print("library's balancedness_drift metric:", lt.trajectory_metrics(full)["balancedness_drift"].max())

# %% [markdown]
# The drift stays below the solver's tolerance ($10^{-10}$ relative), many orders of magnitude below the
# changes of $vv^\top$ and $BB^\top$ themselves.
#
# ## 2.3 The two-dimensional toy, step by step
#
# The paper's Figure 2 makes all of this visible in the plane. We take
#
# * $d = 2$, $k = 1$: one feature $B = (b_1, b_2)$, a scalar head $v$, predictor $w = vB \in \mathbb{R}^2$;
# * one training input $x_{id} = e_1$, so $S = \operatorname{span}(e_1)$ and the OOD direction is $e_2$;
# * pretrained feature $B_0 = (\cos a, \sin a)$ with $a = 50°$;
# * ground truth $w_\star = (1, 1)$, so the true feature direction is at $45°$ and
#   $\varepsilon = d(B_0, B_\star) = 2\sin(5°/2) \approx 0.087$;
# * initial head $v_0 = 0.1$: small and positive, as in the paper's figure, the README and `figures/toy_2d.png`
#   (`lpft_theory.toy.TOY_DEFAULTS`).
#
# This problem is outside the regime of the theorems ($m + k < d$ fails: $1 + 1 = 2$), so the library
# warns (a `RegimeWarning`); it is an illustration, and we silence the warning knowingly. We build it
# from arrays with `Problem.from_arrays`.

# %%
a = np.deg2rad(50.0)
w_star = np.array([1.0, 1.0])
v0 = 0.1


def toy(a, v0, w_star=w_star):
    """The 2-D toy of the paper's Fig. 2: d = 2, k = 1, one training point x_id = e1."""
    X = np.array([[1.0, 0.0]])
    B0 = np.array([[np.cos(a), np.sin(a)]])
    v_star = np.linalg.norm(w_star)
    with lt.problem.regime_warnings_silenced():
        return lt.Problem.from_arrays(
            X, X @ w_star, B0, np.array([v0]), w_star, B_star=(w_star / v_star)[None, :], v_star=np.array([v_star])
        )


pt = toy(a, v0)
print("d(B0, B*) =", float(lt.feature_distance(pt.B0, pt.B_star)), " vs 2 sin(2.5 deg) =", 2 * np.sin(np.deg2rad(2.5)))

# %% [markdown]
# ### Step 1: linear probing
#
# LP keeps $B_0$ and fits $v$ to the single training point: $v\,B_0 x_{id} = v\cos a = w_{\star,1}$, so
#
# $$ v_{lp} = \frac{w_{\star,1}}{\cos a}, \qquad w_{lp} = v_{lp}B_0 = (w_{\star,1},\ w_{\star,1}\tan a). $$
#
# Its projection on $e_1$ is exactly right (that is all the training data asks for), and its OOD
# coordinate is off by $w_{\star,1}\tan a - w_{\star,2}$, small because $B_0$ is nearly parallel to $w_\star$.

# %%
tt = np.concatenate([[0.0], np.geomspace(1e-3, 100.0, 51)])  # t = 100 is long past convergence here
lp = lt.simulate(pt, "lp", tt)
w_lp_sim = np.asarray(lp.w())[-1]
w_lp = np.array([w_star[0], w_star[0] * np.tan(a)])
print("w_lp by hand:", w_lp, "  simulated:", w_lp_sim, "  difference:", np.abs(w_lp - w_lp_sim).max())

# %% [markdown]
# ### Step 2: fine-tuning
#
# By Lemma A.3 only $b_1$ moves; $b_2 = \sin a$ forever. Balancedness with $k = 1$ says
# $v^2 - b_1^2 - b_2^2 = v_0^2 - 1$, i.e. $v^2 - b_1^2 = v_0^2 - \cos^2 a$. At the end of training the data
# point is fitted, $v\,b_1 = w_{\star,1}$. Substituting $b_1 = w_{\star,1}/v$:
#
# $$ v^4 - c\,v^2 - w_{\star,1}^2 = 0, \quad c = v_0^2 - 1 + \sin^2 a
#    \qquad\Longrightarrow\qquad v_\infty^2 = \frac{c + \sqrt{c^2 + 4w_{\star,1}^2}}{2}. $$
#
# Here the head starts positive and stays positive, so $v_\infty$ is the positive root, and the fine-tuned
# predictor is
#
# $$ w_{ft} = v_\infty B_\infty = (w_{\star,1},\ v_\infty\sin a). $$
#
# The OOD coordinate is set by how much the head grew, not by $w_\star$.
#
# **Predict, then run.** LP's OOD error is $|w_{\star,1}\tan a - w_{\star,2}| \approx 0.19$. Before running the
# next cell, compute $v_\infty$ for $v_0 = 0.1$ by hand: is FT's OOD error $|v_\infty \sin a - 1|$ larger or
# smaller than LP's?

# %%
c = v0**2 - 1 + np.sin(a) ** 2
v_inf = np.sqrt((c + np.sqrt(c**2 + 4 * w_star[0] ** 2)) / 2)
w_ft = np.array([w_star[0], v_inf * np.sin(a)])

ft = lt.simulate(pt, "ft", tt)
w_path_ft = np.asarray(ft.w())
print("w_ft by hand:", w_ft, "  simulated:", w_path_ft[-1], "  difference:", np.abs(w_ft - w_path_ft[-1]).max())

# the library packages the same toy and closed forms in lpft_theory.toy; they agree with ours
import lpft_theory.toy as toy_lib

print("lpft_theory.toy.ft_closed_form:", toy_lib.ft_closed_form(a, w_star, v0)["w_ft"])

# %% [markdown]
# ### Step 3: LP-FT
#
# LP already fits the single training point exactly: the residual is zero at $(v_{lp}, B_0)$, hence the
# gradient is zero, and FT started there does not move. In this toy LP-FT *is* LP.

# %%
lpft = lt.simulate(pt, "lpft", tt)
print("LP-FT end point:", np.asarray(lpft.w())[-1], "  = w_lp:", w_lp)

# %% [markdown]
# ### Step 4: the picture
#
# In the plane of predictors $w$, the training data pins down only $w_1 = w_{\star,1}$ (the dotted vertical
# line). LP moves along the line through $B_0$ until it meets that line. FT bends the feature towards
# $e_1$ and lands higher or lower on the same vertical line, at a height set by balancedness.

# %%
w_path_lp = np.asarray(lp.w())
fig, ax = plt.subplots(figsize=(5, 5))
ax.axvline(w_star[0], color="gray", ls=":", label=r"fits $x_{id}$: $w_1 = w_{\star,1}$")
ax.plot([0, 1.6 * np.cos(a)], [0, 1.6 * np.sin(a)], color="C0", alpha=0.3, lw=6, label="span of $B_0$")
ax.plot(*w_path_lp.T, "C0", lw=2, label="LP path")
ax.plot(*w_path_ft.T, "C1", lw=2, label="FT path")
ax.plot(*w_star, "k*", ms=14, label=r"$w_\star$")
ax.plot(*w_lp, "C0o", ms=8, label=f"$w_{{lp}}$ (= LP-FT), OOD err {abs(w_lp[1] - w_star[1]):.3f}")
ax.plot(*w_ft, "C1s", ms=8, label=f"$w_{{ft}}$, OOD err {abs(w_ft[1] - w_star[1]):.3f}")
ax.plot(*(v0 * np.asarray(pt.B0)[0]), "ko", mfc="none", label=r"start $v_0B_0$")
ax.set(xlabel="$w_1$ (ID direction $e_1$)", ylabel="$w_2$ (OOD direction $e_2$)", xlim=(-0.1, 1.4), ylim=(-0.1, 1.4))
ax.set_aspect("equal")
ax.legend(fontsize=8, loc="upper left")
plt.show()

# %% [markdown]
# Both methods fit the training point. LP's OOD error comes only from the feature error
# ($a = 50°$ instead of $45°$). FT's OOD error comes from the head: it started at $v_0 = 0.1$, far from the
# $\|w_\star\| = \sqrt 2$ it would need, and the features bent to fit the data instead of the head growing to
# the right size. This is the paper's *head alignment error* $\varphi$ at work; notebook 3 puts a number on it.
#
# What if the head starts with the wrong sign? Balancedness involves only $v_0^2$, so $|v_\infty|$ is the
# same as before; the question is whether $v$ can pass through zero. The conserved quantity is
# $v^2 - b_1^2 = v_0^2 - \cos^2 a$.
#
# * If $v_0^2 < \cos^2 a$ (as for $v_0 = -0.1$), then $|b_1| > |v|$ throughout, $b_1$ never vanishes, and $v$
#   is free to cross zero: the head flips sign and FT ends at the same $w_{ft}$ as from $+0.1$.
# * If $v_0^2 > \cos^2 a$ (say $v_0 = -1$), $v$ can never reach zero. The head stays negative, $b_1$ turns
#   negative to fit the data, and $w_{ft} = (w_{\star,1}, -|v_\infty|\sin a)$: the OOD prediction has the
#   wrong sign.

# %%
for v0_neg in (-0.1, -1.0):
    c_neg = v0_neg**2 - 1 + np.sin(a) ** 2
    v_abs = np.sqrt((c_neg + np.sqrt(c_neg**2 + 4 * w_star[0] ** 2)) / 2)
    sign = 1.0 if v0_neg**2 < np.cos(a) ** 2 else -1.0
    w_end = np.asarray(lt.simulate(toy(a, v0_neg), "ft", tt).w())[-1]
    print(f"v0 = {v0_neg}: simulated w_ft = {w_end}, by hand = {np.array([w_star[0], sign * v_abs * np.sin(a)])}")

# %% [markdown]
# ### Step 5: explore the toy yourself
#
# Everything above has a closed form, so the three paths can be redrawn instantly for any parameters.
# `lpft_theory.toy.toy_paths` draws them in the $w$-plane from the conservation laws alone (no ODE): the LP path
# is the segment $vB_0$ from $v_0$ to $v_{lp}$; the FT path is $w(v) = (v\,b_1(v),\ v\sin a)$ with
# $b_1(v)^2 = v^2 - v_0^2 + \cos^2 a$ (Lemma A.4 with $b_2 = \sin a$ frozen, Lemma A.3), for $v$ from $v_0$ to
# $v_\infty$; LP-FT is the LP path (FT never leaves $w_{lp}$). `tests/test_toy_explorer.py` checks that these
# curves agree with the simulated flows to $10^{-8}$.
#
# `draw_toy` below takes the angle $a$ of $B_0$ (degrees), $v_0$ and $w_\star = (w_1, w_2)$, draws the paths and
# returns the three OOD errors $\|w - w_\star\|$; `simulate=True` also runs the ODE solver and overlays its
# points. The sliders keep $v_0 > 0$, $w_1 > 0$ and $|a| < 90°$, where the head keeps its sign along FT
# (the closed form's assumption; negative heads are the case discussed just above).
#
# **Predict, then run.** Move $a$ towards $45°$ (perfect features). Does FT's OOD error go to zero? Now raise $v_0$
# towards $\|w_\star\| = \sqrt 2$. What happens to FT, and to LP?

# %%
def draw_toy(a_deg=50.0, v0=0.1, w1=1.0, w2=1.0, simulate=False):
    """Draw the toy's LP, FT and LP-FT paths (closed forms, lpft_theory.toy.toy_paths); with
    ``simulate=True`` overlay the ODE solution (lpft_theory.toy.simulate_toy). Returns the OOD errors."""
    a_, ws = np.deg2rad(a_deg), np.array([w1, w2])
    paths = toy_lib.toy_paths(a_, ws, v0)
    errs = {m: float(np.sqrt(paths[m]["ood"])) for m in ("lp", "ft", "lpft")}
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.axvline(w1, color="gray", ls=":", label=r"fits $x_{id}$")
    ax.plot(*paths["lp"]["w"].T, "C0", lw=2, label=f"LP = LP-FT, OOD err {errs['lp']:.3f}")
    ax.plot(*paths["ft"]["w"].T, "C1", lw=2, label=f"FT, OOD err {errs['ft']:.3f}")
    ax.plot(*ws, "k*", ms=14, label=r"$w_\star$")
    ax.plot(*paths["lp"]["w"][0], "ko", mfc="none", label=r"start $v_0B_0$")
    if simulate:
        sim = toy_lib.simulate_toy(a_, ws, v0, times=tt)
        ax.plot(*sim["lp"]["w"].T, "C0.", ms=4, label="LP, simulated")
        ax.plot(*sim["ft"]["w"].T, "C1.", ms=4, label="FT, simulated")
    lim = 1.2 * max(np.abs(np.concatenate([paths["lp"]["w"], paths["ft"]["w"], ws[None]])).max(), 0.5)
    ax.set(xlabel="$w_1$ (ID)", ylabel="$w_2$ (OOD)", xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    ax.legend(fontsize=7, loc="lower left")
    plt.show()
    print("OOD error |w - w*|:  " + "   ".join(f"{m}: {e:.4f}" for m, e in errs.items()))
    return errs


# a static view (the paper's parameters, with the simulation overlaid); the sliders below redraw it
toy_errors = draw_toy(simulate=True)

# %%
# The sliders need a widget front end (JupyterLab, Notebook 7, VS Code, Colab) and ipywidgets
# (`pip install -e ".[notebooks]"`); without them this cell only says so, and draw_toy can be called directly.
try:
    import ipywidgets as widgets
    from IPython.display import display
except ImportError:
    widgets = None
    print("ipywidgets is not installed: call draw_toy(a_deg, v0, w1, w2, simulate=True) directly instead")

if widgets is not None:
    controls = dict(
        a_deg=widgets.FloatSlider(value=50.0, min=-85.0, max=85.0, step=1.0, description="a (deg)"),
        v0=widgets.FloatSlider(value=0.1, min=0.01, max=2.0, step=0.01, description="v0"),
        w1=widgets.FloatSlider(value=1.0, min=0.05, max=2.0, step=0.05, description="w*_1"),
        w2=widgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.05, description="w*_2"),
    )
    explorer = widgets.interactive(draw_toy, simulate=widgets.fixed(False), **controls)
    sim_button = widgets.Button(description="simulate (ODE)", tooltip="overlay the ODE solution: a few seconds")
    sim_output = widgets.Output()

    def _run_simulation(_):
        with sim_output:
            sim_output.clear_output(wait=True)
            draw_toy(**{name: c.value for name, c in controls.items()}, simulate=True)

    sim_button.on_click(_run_simulation)
    display(widgets.VBox([explorer, sim_button, sim_output]))

# %% [markdown]
# ### Step 6: watching FT move
#
# The animation shows FT on the toy in time: the feature $B(t)$ (blue arrow) turns towards $e_1$ while its
# $e_2$-coordinate stays at $\sin a$ (Lemma A.3), and the predictor $w(t) = v(t)B(t)$ (orange dot) climbs to the
# line $w_1 = w_{\star,1}$. Time runs on a log scale, from $t = 10^{-3}$ to $100$.

# %%
import tempfile

from IPython.display import Image
from matplotlib.animation import FuncAnimation, PillowWriter

B_ft, w_ft_path = np.asarray(ft.B())[:, 0, :], np.asarray(ft.w())
frames = range(1, len(tt), 2)  # every other save time: 25 frames
fig, ax = plt.subplots(figsize=(4, 4), dpi=70)
ax.axvline(w_star[0], color="gray", ls=":")
ax.plot(*w_star, "k*", ms=12)
ax.plot(*w_ft_path.T, "C1", alpha=0.3)
ax.axhline(np.sin(a), color="C0", ls=":", lw=1)
feature = ax.annotate("", xy=B_ft[0], xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="C0", lw=2))
dot, = ax.plot(*w_ft_path[0], "C1o", ms=8)
label = ax.set_title("")
ax.set(xlim=(-0.1, 1.3), ylim=(-0.1, 1.3), aspect="equal", xlabel="$w_1$, $b_1$", ylabel="$w_2$, $b_2$")


def _frame(i):
    feature.xy = B_ft[i]
    dot.set_data([w_ft_path[i, 0]], [w_ft_path[i, 1]])
    label.set_text(f"FT, t = {tt[i]:.3g}: B(t) arrow, w(t) dot")
    return feature, dot, label


anim = FuncAnimation(fig, _frame, frames=frames, interval=120)
gif = os.environ.get("LPFT_THEORY_ANIMATION_GIF") or os.path.join(tempfile.mkdtemp(), "ft_animation.gif")
anim.save(gif, writer=PillowWriter(fps=8))  # LPFT_THEORY_ANIMATION_GIF=<path> keeps a copy (docs/assets)
plt.close(fig)
Image(filename=gif)

# %% [markdown]
# ## 2.4 Distortion on ID and OOD inputs
#
# The paper measures feature distortion directly in deep networks: the average change
# $\|(B - B_0)x\|$ of the features of an input $x$, over ID and over OOD inputs (`docs/theory.md` §6). On
# Living-17 it found 0.0188 for ID and 0.0167 for OOD inputs after FT, and about 20 times less change
# with LP-FT.
#
# In the linear model we can say exactly what happens: $(B(t)-B_0)x = (B(t)-B_0)\Pi_S x$, so only the ID
# component of an input sees any change. `trajectory_metrics` reports
#
# * `distortion_id` $= \frac1n\sum_i \|(B - B_0)x_i\|$ over the training inputs, and
# * `distortion_ood` $= \mathbb{E}\|(B - B_0)x\|$ for $x \sim N(0, \Sigma)$ (a fixed sample of 256 draws),
#
# here with $\Sigma = I$ in $d = 20$ dimensions. Let us compare FT and LP-FT on the random problem of
# Section 2.1.

# %%
curves = {}
for method in ("ft", "lpft"):
    curves[method] = lt.trajectory_metrics(lt.simulate(p, method, ts))

fig, ax = plt.subplots(figsize=(6, 3.5))
for method, ls in (("ft", "-"), ("lpft", "--")):
    ax.plot(ts[1:], curves[method]["distortion_id"][1:], "C0" + ls, label=f"{method}: ID inputs")
    ax.plot(ts[1:], curves[method]["distortion_ood"][1:], "C3" + ls, label=f"{method}: OOD inputs")
ax.set(xscale="log", yscale="log", xlabel="t", title=r"feature change $\|(B(t)-B_0)x\|$, averaged")
ax.legend(fontsize=8)
plt.show()
for method in ("ft", "lpft"):
    mm = curves[method]
    print(f"{method:>5} at t = 10: ID {mm['distortion_id'][-1]:.4f}   OOD {mm['distortion_ood'][-1]:.4f}")
print("FT / LP-FT distortion ratio (ID):", curves["ft"]["distortion_id"][-1] / curves["lpft"]["distortion_id"][-1])

# %% [markdown]
# Two observations, both in line with the paper's deep-network measurements.
#
# * LP-FT distorts the features an order of magnitude less than FT: it starts from a head that nearly
#   fits, so the gradient, and with it the feature change, is small.
# * ID and OOD inputs see similar *average* changes here: an isotropic OOD input in $\mathbb{R}^{20}$ still
#   has a component in $S$ of about the same size as a training input. The change is not spread over
#   the input: it sits entirely in $S$. An input purely in $S^\perp$ sees no change at all:

# %%
B_end = np.asarray(red.B())[-1]
rng = np.random.default_rng(0)
x_id = U_S @ rng.standard_normal(m)
x_ood = U_perp @ rng.standard_normal(20 - m)
for name, x in (("x in S", x_id), ("x in S-perp", x_ood), ("x = sum of both", x_id + x_ood)):
    print(f"{name:>16}: |(B - B0) x| = {np.linalg.norm((B_end - B0) @ x):.3e}")

# %% [markdown]
# ## Summary
#
# * FT changes features only on the ID subspace (Lemma A.3); we saw it in full coordinates, where it is
#   not built in.
# * $vv^\top - BB^\top$ is conserved (Lemma A.4): head and features grow together.
# * In the 2-D toy those two facts determine the FT solution in closed form; its OOD error comes from the
#   head it started with, while LP's comes only from the feature error.
# * LP-FT distorts features far less than FT, because it starts where the gradient is small.
#
# ## Exercises
#
# 1. **Predict $\|B_\infty\|_F$ from the head.** On the random problem `p`, use the trace of Lemma A.4 to
#    predict $\|B(t)\|_F$ at $t = 10$ from $\|v(10)\|$, and compare with the simulation.
# 2. **Perfect features.** In the toy, take $a = 45°$, so $B_0 \parallel w_\star$ ($\varepsilon = 0$). What do LP,
#    FT and LP-FT give for $v_0 = 0.1$? Which $v_0$ makes FT exact? (Try it in the explorer first.)
# 3. **Distortion by direction.** In the toy, plot $|(B_\infty - B_0)x|$ for unit inputs
#    $x = (\cos\beta, \sin\beta)$ against $\beta$. Where is it zero, and why?

# %% [markdown]
# ---
# ## Solutions
#
# <details><summary><b>Solution 1</b></summary>
#
# Take the trace of Lemma A.4: $\|v(t)\|^2 - \|B(t)\|_F^2 = \|v_0\|^2 - \|B_0\|_F^2$ and $\|B_0\|_F^2 = k$ (orthonormal
# rows), so $\|B(t)\|_F^2 = \|v(t)\|^2 - \|v_0\|^2 + k$.
#
# </details>
#
# <details><summary><b>Solution 2</b></summary>
#
# LP and LP-FT are exact ($w_{lp} = w_\star$). FT is not: with $a = 45°$, $c = v_0^2 - \tfrac12$ and the
# OOD coordinate is $v_\infty/\sqrt2$, which equals $w_{\star,2} = 1$ only if $v_\infty^2 = 2$, i.e.
# $c + \sqrt{c^2+4} = 4$, i.e. $c = 3/2$ and $v_0 = \sqrt2 = \|w_\star\|$ (a positive head of exactly the right
# size). This is Proposition 3.7 of the paper in miniature: with perfect features, LP-FT is exact and FT
# from a generic head is not.
#
# </details>
#
# <details><summary><b>Solution 3</b></summary>
#
# $(B_\infty - B_0)x = (b_{1,\infty} - \cos a)\cos\beta$: zero exactly at $\beta = \pm 90°$, the OOD
# direction $e_2 \in S^\perp$ (Lemma A.3), and largest along the training input $e_1$.
#
# </details>
#
# The code of the solutions is in the next cell (collapsed in JupyterLab: click to expand).

# %% jupyter={"source_hidden": true}
# Solution 1
v10, B10 = np.asarray(red.v)[-1], np.asarray(red.B())[-1]
print("predicted |B(10)|_F:", np.sqrt(v10 @ v10 - np.asarray(p.v0) @ np.asarray(p.v0) + 2), "  simulated:", np.linalg.norm(B10))

# Solution 2
p45 = toy(np.deg2rad(45.0), 0.1)
for method in ("lp", "ft", "lpft"):
    w_end = np.asarray(lt.simulate(p45, method, tt).w())[-1]
    print(f"a = 45 deg, {method:>4}: w = {w_end}, OOD error {abs(w_end[1] - 1):.3e}")
w_end = np.asarray(lt.simulate(toy(np.deg2rad(45.0), np.sqrt(2)), "ft", tt).w())[-1]
print("a = 45 deg, FT from v0 = sqrt(2): w =", w_end)

# Solution 3
beta = np.linspace(-np.pi, np.pi, 361)
dB = (np.asarray(ft.B())[-1] - np.asarray(pt.B0))[0]
change = np.abs(dB @ np.stack([np.cos(beta), np.sin(beta)]))
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(np.rad2deg(beta), change)
ax.set(xlabel=r"$\beta$ (degrees)", ylabel=r"$|(B_\infty - B_0)x|$", xticks=[-180, -90, 0, 90, 180])
plt.show()

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
# # 1. The setting, and what gradient flow does
#
# This notebook sets up the linear model of Kumar et al., *Fine-Tuning can Distort Pretrained Features
# and Underperform Out-of-Distribution* (ICLR 2022, Section 3), and watches the three training methods
# of the paper move:
#
# * **LP**, linear probing: train only the head, keep the pretrained features;
# * **FT**, fine-tuning: train head and features together;
# * **LP-FT**: linear probing first, then fine-tuning from the probed head.
#
# **Learning objectives.** After this notebook you can
#
# * write the model $w = B^\top v$ and its training loss, and say what the *ID subspace* $S$ is and why the
#   training data says nothing about $w$ on $S^\perp$;
# * state LP, FT and LP-FT as gradient flows, and solve the LP flow in closed form;
# * show (with autodiff) that FT's feature gradient lies in $S$;
# * relate gradient *flow* (what the theory studies) to gradient *descent* (what people run), including the
#   step-size limit $\eta < 2/\lambda_{max}$.
#
# **Prerequisites.** Linear algebra (row spaces, orthogonal projections, eigenvalues, the SVD), the gradient
# of a least-squares loss, and reading NumPy. No knowledge of the paper is assumed.
#
# **Run time.** About 20 s on a laptop CPU (measured: 63 s of cell time on a shared 2-core
# machine under load; JAX compiles each solver once, which is most of it).
#
# **Notation.** Every symbol is defined on the shared [notation page](../docs/notation.md) (the *Notation*
# page of the documentation site). The first code cell installs the package if it is missing (on a hosted
# service) and switches JAX to float64: every theory check in this project is done in double precision.

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

import numpy as np
import matplotlib.pyplot as plt
import scipy.linalg

import lpft_theory as lt

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1.1 The model: $w = B^\top v$
#
# An input $x \in \mathbb{R}^d$ goes through a *feature extractor* $B \in \mathbb{R}^{k\times d}$ (its
# $k$ rows are the features) and then a linear *head* $v \in \mathbb{R}^k$:
#
# $$ f(x) = v^\top B x = (B^\top v)^\top x, \qquad w := B^\top v \in \mathbb{R}^d .$$
#
# So the network is a linear predictor $w$, but *parametrised* as a product. That product is what
# makes the dynamics interesting: the same $w$ can be reached in many ways, and which one training
# picks depends on where it starts.
#
# The labels come from a ground truth $w_\star = B_\star^\top v_\star$ with no noise: $y = w_\star^\top x$.
# Pretraining gave us features $B_0$ with orthonormal rows that are *$\varepsilon$-good*:
#
# $$ d(B_0, B_\star) = \min_{U \in O(k)} \|B_0 - U B_\star\|_2 \le \varepsilon .$$
#
# The minimum over orthogonal $U$ is there because the features are only defined up to a rotation
# of the $k$-dimensional feature space (the head can undo any such rotation).
#
# `Problem.random` draws such an instance with $d(B_0, B_\star) = \varepsilon$ exactly. We use small
# sizes: $d = 20$ input dimensions, $k = 2$ features, and $n = 10$ training points spanning an
# $m = 5$-dimensional subspace.

# %%
p = lt.Problem.random(seed=0, d=20, k=2, m=5, n=10, eps=0.1)
X, y = np.asarray(p.X), np.asarray(p.y)
B0, v0 = np.asarray(p.B0), np.asarray(p.v0)
B_star, v_star, w_star = np.asarray(p.B_star), np.asarray(p.v_star), np.asarray(p.w_star)

print("X:", X.shape, " y:", y.shape, " B0:", B0.shape, " v0:", v0.shape)
print("B0 B0^T =\n", B0 @ B0.T)
print("d(B0, B*) =", float(lt.feature_distance(B0, B_star)))
print("labels are noiseless: max|y - X w*| =", np.max(np.abs(y - X @ w_star)))

# %% [markdown]
# ## 1.2 The ID subspace $S$
#
# The $n$ training inputs are the rows of $X$. They span the **ID subspace**
# $S = \operatorname{rowspace}(X)$, here of dimension $m = 5$ inside $\mathbb{R}^{20}$. Its orthogonal
# complement $S^\perp$ holds the directions the training data never shows: think of them as the
# *out-of-distribution* (OOD) directions.
#
# The training loss (the paper's normalisation: no $1/n$, no $1/2$) is
#
# $$ \hat L(v, B) = \|X B^\top v - y\|_2^2 = \|X(w - w_\star)\|_2^2 .$$
#
# It depends on $w$ only through $\Pi_S (w - w_\star)$: adding any vector of $S^\perp$ to $w$ leaves the
# training loss unchanged. Fitting the training data pins down $w$ on $S$ and says *nothing* about $w$
# on $S^\perp$. Where $w$ ends up on $S^\perp$ is decided by the training dynamics alone, and that is what
# the OOD error measures.

# %%
U, s, Vt = np.linalg.svd(X, full_matrices=True)
m = int(np.sum(s > 1e-10 * s[0]))
U_S, U_perp = Vt[:m].T, Vt[m:].T  # orthonormal bases of S and S-perp (as columns)
print("rank of X (= dim S):", m)

rng = np.random.default_rng(1)
w = rng.standard_normal(20)
z = U_perp @ rng.standard_normal(20 - m)  # a random vector of S-perp
loss = lambda w: np.sum((X @ w - y) ** 2)
print("loss(w) =", loss(w), "   loss(w + z) =", loss(w + z), "   (z in S-perp)")

# %% [markdown]
# We measure two kinds of error of $e = w - w_\star$:
#
# * the **ID-subspace loss** $\|\Pi_S e\|^2$, the worst squared error over unit inputs in $S$;
# * the **OOD loss** $L_{ood} = e^\top \Sigma e$ for an OOD input distribution with second moment $\Sigma$.
#   With $\Sigma = I$ (the default here) it is $\|e\|^2$, the worst squared error over *all* unit inputs.
#
# ## 1.3 Gradients, and a first look at why features change only inside $S$
#
# With the residual $r = XB^\top v - y \in \mathbb{R}^n$,
#
# $$ \nabla_v \hat L = 2 B X^\top r, \qquad \nabla_B \hat L = 2\, v\, r^\top X .$$
#
# The rows of $\nabla_B \hat L$ are multiples of $r^\top X$, a combination of training inputs, so they lie
# in $S$. Let us check both formulas against automatic differentiation, which knows nothing about them.

# %%
import jax.numpy as jnp


def train_loss(v, B):
    return jnp.sum((jnp.asarray(X) @ (B.T @ v) - jnp.asarray(y)) ** 2)


g_v, g_B = jax.grad(train_loss, argnums=(0, 1))(jnp.asarray(v0), jnp.asarray(B0))
r = X @ (B0.T @ v0) - y
print("grad_v: autodiff vs formula, max diff", np.max(np.abs(g_v - 2 * B0 @ X.T @ r)))
print("grad_B: autodiff vs formula, max diff", np.max(np.abs(g_B - 2 * np.outer(v0, r @ X))))
print("size of grad_B's component in S-perp:", np.linalg.norm(np.asarray(g_B) @ U_perp))

# %% [markdown]
# ## 1.4 The three methods as gradient flows
#
# The theory studies **gradient flow**, the continuous-time limit of gradient descent with a
# vanishing step size. Each method is an ODE started at $(v_0, B_0)$:
#
# | method | dynamics |
# |---|---|
# | LP | $\dot v = -\nabla_v \hat L(v, B_0)$, $\quad \dot B = 0$ |
# | FT | $\dot v = -\nabla_v \hat L(v, B)$, $\quad \dot B = -\nabla_B \hat L(v, B)$ |
# | LP-FT | LP until its limit $v_{lp}^\infty$, then FT from $(v_{lp}^\infty, B_0)$ |
#
# ### The linear probe in closed form
#
# LP is least squares in $v$ with the features fixed. Its loss is the quadratic
# $\|X B_0^\top v - y\|^2$, so the flow is linear:
#
# $$ \dot v = -(A v - b), \qquad A = 2 B_0 X^\top X B_0^\top,\quad b = 2 B_0 X^\top y, $$
#
# with the solution $v(t) = v_\infty + e^{-tA}(v_0 - v_\infty)$, where $v_\infty = A^{-1} b$ when $A$ is
# invertible (it is here: $XB_0^\top$ is injective). `lt.lp_closed_form` evaluates exactly this, through
# an eigendecomposition of $A$. Below we compare three things:
#
# 1. the library's closed form;
# 2. the library integrating the LP ODE numerically (`lp_solver="ode"`);
# 3. our own two-line version using `scipy.linalg.expm`.

# %%
# one time grid for the whole notebook: 0, then 10^-3 ... 10 in steps of 0.1 decade
# (reusing one grid lets JAX compile each solver once)
ts = np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 41)])
lp_closed = lt.simulate(p, "lp", ts)  # closed form (the default)
lp_ode = lt.simulate(p, "lp", ts, lp_solver="ode")  # diffrax, rtol 1e-10

A = 2 * B0 @ X.T @ X @ B0.T
b = 2 * B0 @ X.T @ y
v_inf = np.linalg.solve(A, b)
v_expm = np.array([v_inf + scipy.linalg.expm(-t * A) @ (v0 - v_inf) for t in ts])

print("closed form vs scipy expm, max diff:", np.max(np.abs(np.asarray(lp_closed.v) - v_expm)))
print("closed form vs ODE,        max diff:", np.max(np.abs(np.asarray(lp_closed.v) - np.asarray(lp_ode.v))))
print("ODE solver steps:", lp_ode.num_steps)
print("eigenvalues of A:", np.linalg.eigvalsh(A))

fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
for i in range(2):
    ax[0].plot(ts[1:], np.asarray(lp_closed.v)[1:, i], label=f"closed form $v_{i+1}$")
    ax[0].plot(ts[1:], np.asarray(lp_ode.v)[1:, i], "k:", lw=2)
ax[0].set(xscale="log", xlabel="t", title="LP head $v(t)$ (dotted: ODE solver)")
ax[0].legend()
ax[1].semilogy(ts[1:], np.abs(np.asarray(lp_closed.v) - np.asarray(lp_ode.v)).max(axis=1)[1:])
ax[1].set(xscale="log", xlabel="t", title="|closed form - ODE|")
plt.tight_layout()
plt.show()

# %% [markdown]
# The two eigenvalues of $A$ set the two time scales of the probe: the error along each eigenvector decays
# like $e^{-\lambda t}$. At $t = 1/\lambda_{min}(A)$ the slow component has shrunk only to $e^{-1} \approx 37\,\%$;
# it takes $t \approx 4.6/\lambda_{min}(A)$ to get below $1\,\%$ (the cell below checks both). The ODE solver agrees
# with the exact solution to about its tolerance; the closed form is what the library uses, because it is
# exact and free.

# %%
lams, V = np.linalg.eigh(A)  # eigenvalues in increasing order; V[:, 0] is the slow direction
lam_min, slow = lams[0], V[:, 0]
for c in (1.0, 4.6):
    t_c = c / lam_min
    v_c = v_inf + scipy.linalg.expm(-t_c * A) @ (v0 - v_inf)  # the exact LP flow at t_c
    left = (slow @ (v_c - v_inf)) / (slow @ (v0 - v_inf))
    print(f"t = {c} / lambda_min = {t_c:.2f}:  slow component of the error left: {left:.3f}")

# %% [markdown]
#
# ## 1.5 Fine-tuning: watching $v(t)$ and $B(t)$ move
#
# FT has no closed form: the product $B^\top v$ makes the flow nonlinear. `lt.simulate` integrates it
# with an adaptive Runge–Kutta method (diffrax's Tsit5, relative tolerance $10^{-10}$). (One can also
# ask for $t = \infty$: the integration then continues, with an implicit solver, until the gradient is
# negligible. On this problem $t = 10$ is already past convergence.)

# %%
ft = lt.simulate(p, "ft", ts)
B_t = np.asarray(ft.B())  # full B(t), shape (T, k, d)
v_t = np.asarray(ft.v)
met = lt.trajectory_metrics(ft)

fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
ax[0].plot(ts[1:], v_t[1:], label=["$v_1$", "$v_2$"])
ax[0].legend()
ax[0].set(xscale="log", xlabel="t", title="FT head $v(t)$")
ax[1].plot(ts[1:], np.linalg.norm(B_t - B0, axis=(1, 2))[1:], label=r"$\|B(t)-B_0\|_F$")
ax[1].plot(ts[1:], np.linalg.norm((B_t - B0) @ U_S, axis=(1, 2))[1:], "--", label="its part in $S$")
ax[1].plot(ts[1:], np.linalg.norm((B_t - B0) @ U_perp, axis=(1, 2))[1:], ":", label=r"its part in $S^\perp$")
ax[1].set(xscale="log", xlabel="t", title="how far the features moved")
ax[1].legend()
ax[2].loglog(ts[1:], met["train_loss"][1:])
ax[2].set(xlabel="t", title=r"training loss $\hat L$")
plt.tight_layout()
plt.show()

# %% [markdown]
# Four things to notice:
#
# * the training loss falls to (numerically) zero: FT fits the training data exactly;
# * the features move, by a lot compared with $\varepsilon = 0.1$, and fast (by $t \approx 0.03$);
# * the head barely moves. The feature gradient $2vr^\top X$ is proportional to the head, and this
#   random head is large ($\|v_0\| \approx 3.3$), so the quickest way down the loss is to change the
#   features. FT fits the data by *distorting the features* and keeps its random head;
# * all of that movement happens inside $S$. The $S^\perp$ part stays *exactly* zero, because the
#   gradient of $B$ has its rows in $S$ (Section 1.3). Notebook 2 is about this fact (Lemma A.3 of the
#   paper) and its consequences.
#
# ## 1.6 LP vs FT vs LP-FT
#
# Now the three methods side by side. For LP-FT the time axis counts the FT phase, which starts from
# the converged probe $(v_{lp}^\infty, B_0)$. The table reports the last time, $t = 10$.
#
# **Predict, then run.** Before running the next cell, write down your guess: which method fits the
# training data best (lowest ID-subspace loss)? Which has the lowest OOD loss? Is the method that fits best
# also the one that generalises best out of distribution?

# %%
methods = {}
for method in ("lp", "ft", "lpft"):
    traj = lt.simulate(p, method, ts)
    methods[method] = lt.trajectory_metrics(traj)

fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
for method, mm in methods.items():
    ax[0].plot(ts[1:], mm["ood_loss"][1:], label=method)
    ax[1].plot(ts[1:], mm["id_subspace_loss"][1:], label=method)
ax[0].set(xscale="log", yscale="log", xlabel="t", title="OOD loss $\\|e\\|^2$")
ax[1].set(xscale="log", yscale="log", xlabel="t", title="ID-subspace loss $\\|\\Pi_S e\\|^2$")
ax[0].legend()
plt.tight_layout()
plt.show()

print(f"{'method':>6} {'train loss':>12} {'ID-subspace':>12} {'OOD loss':>12}   (at t = 10)")
for method, mm in methods.items():
    print(f"{method:>6} {mm['train_loss'][-1]:12.3e} {mm['id_subspace_loss'][-1]:12.3e} {mm['ood_loss'][-1]:12.3e}")

# %% [markdown]
# This is the paper's story in one table.
#
# * **LP** cannot fit the training data exactly: with $k = 2$ features it has only 2 parameters for a
#   5-dimensional subspace. But its OOD loss is small: with $\varepsilon$-good features, $B_0^\top v$ for the
#   right $v$ is close to $w_\star$ *everywhere*, including $S^\perp$.
# * **FT** fits the training data perfectly (ID-subspace loss $\approx 0$), yet its OOD loss is
#   about two thousand times larger than LP's. It fitted the data by changing the features inside $S$
#   and kept (almost) its random head. On $S^\perp$ its predictor is $\Pi_{S^\perp}B_0^\top v$: the untouched
#   pretrained features read out by that random head, which has nothing to do with $w_\star$.
# * **LP-FT** starts FT from a head that already nearly fits. The gradient is small, the features barely
#   move, and it keeps LP's OOD quality while improving the ID fit.
#
# The rest of the notebooks explain and test each of these sentences.
#
# ## 1.7 Gradient flow versus gradient descent
#
# Practitioners run **gradient descent** (GD), $\theta_{j+1} = \theta_j - \eta \nabla \hat L(\theta_j)$ with a
# step size $\eta$. Gradient flow is its $\eta \to 0$ limit: after $j$ steps, GD approximates the flow at
# time $t = j\eta$, with an error that shrinks like $O(\eta)$ (GD is the explicit Euler method for the
# flow).
#
# The step size cannot be arbitrary. For LP the loss is quadratic with Hessian $A$, and GD multiplies
# the error by $I - \eta A$ at each step, so it converges exactly when $\eta < 2/\lambda_{max}(A)$. For FT
# the same rule holds locally, with the Hessian $H$ of $\hat L$ in all parameters $(v, B)$. Its
# $B$-block is $2\,vv^\top \otimes X^\top X$, with top eigenvalue $2\|v\|^2\lambda_{max}(X^\top X)$: a large head
# makes the features' loss landscape steep. Let us compute $H$ at the start with `jax.hessian`.

# %%
k, d = B0.shape


def flat_loss(theta):
    return train_loss(theta[:k], theta[k:].reshape(k, d))


H = jax.jit(jax.hessian(flat_loss))(jnp.concatenate([jnp.asarray(v0), jnp.asarray(B0).ravel()]))
lam_H = np.linalg.eigvalsh(np.asarray(H)).max()
print(f"lambda_max(A), LP Hessian           : {np.linalg.eigvalsh(A).max():8.2f}")
print(f"lambda_max(H), FT Hessian at start  : {lam_H:8.2f}")
print(f"2 |v0|^2 lambda_max(X^T X)          : {2 * v0 @ v0 * np.linalg.eigvalsh(X.T @ X).max():8.2f}")

# %% [markdown]
# Now we write GD for FT ourselves, from the gradient formulas of Section 1.3, with step sizes
# $\eta = c/\lambda_{max}(H)$, and compare it with the flow at time $T = 1$ (after $T/\eta$ steps).

# %%
def gd_ft(v, B, eta, steps):
    """Plain gradient descent on the FT loss, from the formulas of Section 1.3."""
    for _ in range(steps):
        r = X @ (B.T @ v) - y
        v, B = v - eta * 2 * B @ (X.T @ r), B - eta * 2 * np.outer(v, r @ X)
    return v, B


i_T = 31  # ts[31] = 1: reuse the FT trajectory of Section 1.5
T = ts[i_T]
w_flow = np.asarray(ft.w())[i_T]
cs = np.array([1.0, 0.5, 0.25, 0.1, 0.05, 0.025])
errors = []
for c in cs:
    steps = int(round(T * lam_H / c))
    v_gd, B_gd = gd_ft(v0, B0, T / steps, steps)
    errors.append(np.linalg.norm(B_gd.T @ v_gd - w_flow))

fig, ax = plt.subplots(figsize=(4.5, 3.5))
ax.loglog(cs, errors, "o-", label="GD vs flow at $T=1$")
ax.loglog(cs, errors[-1] * cs / cs[-1], "k--", label=r"slope 1 ($\propto\eta$)")
ax.set(xlabel=r"$c = \eta\,\lambda_{max}(H)$", ylabel=r"$\|w_{GD} - w_{flow}\|$")
ax.legend()
plt.show()

# %% [markdown]
# The error falls in proportion to $\eta$: GD with small steps *is* the flow, up to $O(\eta)$. The
# theorems about gradient flow therefore describe GD with small learning rates. What happens with
# large learning rates is one of the open questions the paper lists (notebook 5 looks at it).
#
# Now the stability limit, on the linear probe, where the threshold $2/\lambda_{max}(A)$ is exact.
#
# **Predict, then run.** GD on the probe runs 200 steps with $\eta = c/\lambda_{max}(A)$ for $c = 0.5, 1.9, 2.1$.
# Which of the three converge, and which converges fastest?

# %%
def gd_lp(v, eta, steps):
    for _ in range(steps):
        v = v - eta * (A @ v - b)
    return v


for c in (0.5, 1.9, 2.1):
    v_end = gd_lp(v0, c / np.linalg.eigvalsh(A).max(), 200)
    print(f"eta = {c} / lambda_max:  |v_200 - v_inf| = {np.linalg.norm(v_end - v_inf):.3e}")

# %% [markdown]
# Below $2/\lambda_{max}$ GD converges (between $1/\lambda_{max}$ and $2/\lambda_{max}$ the top eigen-direction
# flips sign at every step, but shrinks); just above, it diverges. Notice that $c = 1.9$ ends *closer* than
# $c = 0.5$: after 200 steps the error left is along the slow eigenvector, which shrinks by a factor
# $|1 - \eta\lambda_{min}|$ per step, so the larger stable step wins. Gradient flow has no such limit: it is
# what GD approaches when the step is far below it. Note the contrast of scales: the probe tolerates
# steps about $\lambda_{max}(H)/\lambda_{max}(A) \approx 80$ times larger than fine-tuning does here.
#
# ## Summary
#
# * The model is a factorised linear predictor $w = B^\top v$.
# * The training loss sees $w$ only on the ID subspace $S = \operatorname{rowspace}(X)$; what happens on
#   $S^\perp$ is decided by the dynamics.
# * LP is a linear ODE with a closed form; FT is nonlinear and integrated numerically; LP-FT chains them.
# * FT's feature gradient lives in $S$, so FT changes the features only there.
# * Gradient descent with step $\eta$ tracks gradient flow up to $O(\eta)$, and is stable only for
#   $\eta < 2/\lambda_{max}$ of the Hessian.
#
# ## Exercises
#
# 1. **A zero head.** Build the problem with `head="zero"`. What is $\nabla_B \hat L$ at $t = 0$? Does FT
#    still move the features? Simulate it and plot $\|B(t) - B_0\|_F$.
# 2. **LP is least squares.** Check that the LP limit `lt.lp_limit(lt.reduce(p))` equals the least-squares
#    solution of $X B_0^\top v \approx y$ computed with `np.linalg.lstsq`.
# 3. **Stopping the probe early.** LP-FT normally runs LP to convergence. Run it with
#    `lt.simulate(p, "lpft", ts, lp_time=...)` for LP times $0, 0.01, 0.1, 1, 10$ and compare the OOD
#    loss at the end. What does "LP-FT with `lp_time=0`" amount to?
#
# The solutions follow, collapsed: try first, then open them.

# %% [markdown]
# ---
# ## Solutions
#
# <details><summary><b>Solution 1</b> (a zero head)</summary>
#
# With $v_0 = 0$ the feature gradient $2 v r^\top X$ vanishes at $t = 0$, but the head gradient
# $2 B X^\top r$ does not. The head moves first, $v(t) \approx -t\,\nabla_v \hat L$; as soon as $v \ne 0$ the
# features follow, so $\|B(t) - B_0\|$ grows like $t^2$ at small $t$ (slope 2 on a log-log plot) instead of
# like $t$. The code cell below prints $\nabla_B \hat L = 0$ at $t = 0$ and a slope of about 2.
#
# </details>
#
# <details><summary><b>Solution 2</b> (LP is least squares)</summary>
#
# The probe's loss $\|XB_0^\top v - y\|^2$ is an ordinary least-squares problem in $v$; since
# $XB_0^\top$ is injective its minimiser is unique, and the flow converges to it. The code cell below prints
# the two solutions: they agree to the digits shown.
#
# </details>
#
# <details><summary><b>Solution 3</b> (stopping the probe early)</summary>
#
# While the probe is still far from its limit, probing longer helps a lot: a better head makes the gradient
# at the start of FT smaller, the features are distorted less, and the final OOD loss drops by orders of
# magnitude between `lp_time = 0.01` and `lp_time = 10` (the probe's slow time scale is
# $1/\lambda_{min}(A) \approx 0.8$). Once the probe has converged, probing longer changes nothing that matters:
# `lp_time = 10` and `lp_time = inf` differ only in the fourth digit, and here not even in the "longer is
# better" direction (the printed values show 10 slightly *below* inf). The lesson is "probe to convergence",
# not "the longer the better". With `lp_time=0` there is no probing at all: LP-FT *is* FT from the random
# head, and the code prints the same OOD loss as plain FT.
#
# </details>
#
# The code of all three solutions is in the next cell (collapsed in JupyterLab: click to expand).

# %% jupyter={"source_hidden": true}
# Solution 1: a zero head.
p0 = lt.Problem.random(seed=0, d=20, k=2, m=5, n=10, eps=0.1, head="zero")
r0 = np.asarray(p0.X) @ (np.asarray(p0.B0).T @ np.asarray(p0.v0)) - np.asarray(p0.y)
print("grad_B at t=0:", np.linalg.norm(2 * np.outer(np.asarray(p0.v0), r0 @ np.asarray(p0.X))))
ft0 = lt.simulate(p0, "ft", ts)
moved = np.linalg.norm(np.asarray(ft0.B()) - np.asarray(p0.B0), axis=(1, 2))
slope = np.diff(np.log(moved[1:6])) / np.diff(np.log(ts[1:6]))
print("log-log slope of ||B(t) - B0||_F at small t:", slope)
fig, ax = plt.subplots(figsize=(4.5, 3.5))
ax.loglog(ts[1:], moved[1:])
ax.set(xlabel="t", title=r"zero head: $\|B(t)-B_0\|_F$")
plt.show()

# Solution 2: LP is least squares.
v_lstsq = np.linalg.lstsq(X @ B0.T, y, rcond=None)[0]
print("LP limit:", np.asarray(lt.lp_limit(lt.reduce(p))), "  lstsq:", v_lstsq)

# Solution 3: LP-FT with a finite probing time.
for lp_time in (0.0, 0.01, 0.1, 1.0, 10.0, np.inf):
    mm = lt.trajectory_metrics(lt.simulate(p, "lpft", ts, lp_time=lp_time))
    print(f"lp_time = {lp_time:>5}: final OOD loss {mm['ood_loss'][-1]:.3e}")
print(f"plain FT         : final OOD loss {methods['ft']['ood_loss'][-1]:.3e}")

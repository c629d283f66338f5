r"""Label noise (beyond the paper): :math:`y = Xw_\star + \sigma\xi`, and the ID test loss.

The paper's theory is noiseless (``docs/theory.md`` §1: Y = Xw*). With noise the training
targets in S-coordinates become the least-squares solution
:math:`a_\star = G^{-1}Z^\top y = U_S^\top w_\star + G^{-1}Z^\top\sigma\xi`, the flows
(which only see :math:`a_\star`, see :mod:`lpft_theory.reduced`) fit that, and the
training loss has the floor :math:`\|y - Za_\star\|^2 = \sigma^2\|(I - P_X)\xi\|^2`
(``rp.label_offset``). The FT lower bound and the other statements assume noiseless
labels, so commands that check them must refuse or label noisy problems:
:func:`is_noisy` and :func:`label_residual` are the hooks.

Noisy problems come from :meth:`Problem.random(..., label_noise=σ, noise_seed=s)
<lpft_theory.problem.Problem.random>` or :func:`add_label_noise`. Loading a noisy
``.npz`` needs ``Problem.load(path, allow_label_noise=True)``; without it validation
refuses the file ("the theory is noiseless").

**ID test loss.** The Problem does not store the ID input distribution, so fresh ID
inputs are drawn from :math:`N(0, X^\top X/n)`, the Gaussian with the training inputs'
second moment (supported on S; for :meth:`Problem.random` it is the sample estimate
of the true ID covariance). Test labels are clean, :math:`y = w_\star^\top x`, so
the ID test loss is the excess risk :math:`\mathbb{E}[(e^\top x)^2] = e_S^\top(G/n)e_S`
(:func:`id_test_loss_exact`); a noisy test label adds σ² in expectation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..problem import LABEL_TOL, Problem


def label_residual(problem: Problem) -> dict:
    r"""How far the labels are from noiseless: ``absolute`` :math:`\|y - Xw_\star\|` and ``relative``
    :math:`\|y - Xw_\star\| / (\|X\|_2\|w_\star\| + \|y\|)` (the quantity :func:`~lpft_theory.problem.validate` checks)."""
    X = np.asarray(problem.X, dtype=np.float64)
    y = np.asarray(problem.y, dtype=np.float64)
    w = np.asarray(problem.w_star, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError("label_residual takes one problem, not a batch")
    absolute = float(np.linalg.norm(y - X @ w))
    scale = np.linalg.norm(X, 2) * np.linalg.norm(w) + np.linalg.norm(y)
    return dict(absolute=absolute, relative=absolute / scale if scale > 0 else 0.0)


def is_noisy(problem: Problem, tol: float = LABEL_TOL) -> bool:
    """True when ``y`` differs from ``X @ w_star`` by more than the noiseless tolerance (relative ``tol``).

    For a batch, True when any member is noisy. Commands that check the paper's bounds
    (which assume noiseless labels) should refuse or label such problems.
    """
    batch = tuple(problem.B0.shape[:-2])
    if batch:
        leaves = lambda i: jax.tree_util.tree_map(lambda a: a[i], problem)  # noqa: E731
        return any(is_noisy(leaves(i), tol) for i in np.ndindex(*batch))
    return label_residual(problem)["relative"] > tol


def add_label_noise(problem: Problem, sigma: float, seed: int) -> Problem:
    r"""A copy of ``problem`` with :math:`y \leftarrow y + \sigma\xi`, ξ ~ N(0, I_n) from ``default_rng(seed)``.

    ``sigma = 0`` returns the problem unchanged (same object).
    """
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"label noise sigma must be a finite number >= 0, got {sigma}")
    if seed is None or int(seed) != seed:
        raise TypeError(f"noise seed must be an integer, got {seed!r}")
    if problem.batch_shape:
        raise ValueError("add_label_noise takes one problem, not a batch")
    if sigma == 0.0:
        return problem
    y = np.asarray(problem.y) + sigma * np.random.default_rng(int(seed)).standard_normal(problem.n)
    return Problem.from_arrays(problem.X, y, problem.B0, problem.v0, problem.w_star, B_star=problem.B_star,
                               v_star=problem.v_star, sigma_ood=problem.sigma_ood, allow_label_noise=True)


def id_test_draws(rp, n_test: int = 1000, seed: int = 0) -> jax.Array:
    r"""``n_test`` fresh ID inputs in S-coordinates, :math:`U_S^\top x` with x ~ N(0, XᵀX/n): shape (n_test, m)."""
    n_test = int(n_test)
    if n_test < 1:
        raise ValueError(f"n_test must be >= 1, got {n_test}")
    n = rp.Z.shape[-2]
    cov = np.asarray(rp.G, dtype=np.float64) / n
    L = np.linalg.cholesky(cov)
    xi = np.random.default_rng(seed).standard_normal((n_test, cov.shape[0]))
    return jnp.asarray(xi @ L.T, dtype=rp.G.dtype)


def id_test_loss(rp, v, B_S, draws) -> jax.Array:
    r"""Mean of :math:`(v^\top Bx - w_\star^\top x)^2` over the fresh ID draws (clean labels)."""
    e_S = (B_S.T @ v) - rp.w_red[: rp.m]
    return jnp.mean((draws @ e_S) ** 2)


def id_test_loss_exact(rp, v, B_S) -> jax.Array:
    r"""Its expectation :math:`e_S^\top (G/n) e_S` over x ~ N(0, XᵀX/n)."""
    e_S = (B_S.T @ v) - rp.w_red[: rp.m]
    return e_S @ (rp.G @ e_S) / rp.Z.shape[-2]


def noisy_metrics(traj, n_test: int = 1000, seed: int = 0) -> dict:
    """``id_test_loss`` (fresh draws), ``id_test_loss_exact`` and ``train_loss`` at every saved state, (T,) arrays."""
    from ..metrics import train_loss

    rp = traj.rp
    draws = id_test_draws(rp, n_test, seed)
    f = jax.vmap(lambda v, B: (id_test_loss(rp, v, B, draws), id_test_loss_exact(rp, v, B), train_loss(rp, v, B)))
    a, b, c = f(traj.v, traj.B_S)
    return dict(id_test_loss=np.asarray(a), id_test_loss_exact=np.asarray(b), train_loss=np.asarray(c))

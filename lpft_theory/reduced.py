r"""Reduced coordinates: everything the flows and metrics touch is O(k·m) or O(m²).

Derived in ``docs/theory.md`` §3. Let :math:`U_S \in \mathbb{R}^{d\times m}` be an
orthonormal basis of :math:`S = \operatorname{rowspace}(X)`, :math:`Z = XU_S`,
:math:`G = Z^\top Z`. Split :math:`B = B_S U_S^\top + B_\perp` with
:math:`B_\perp = B_0(I - U_SU_S^\top)`; by Lemma A.3 the FT flow never changes
:math:`B_\perp`, and

.. math:: \dot v = -2B_S r,\quad \dot B_S = -2 v r^\top,\quad r = G(B_S^\top v - a_\star),

where :math:`a_\star = G^{-1}Z^\top y` (:math:`= U_S^\top w_\star` for noiseless labels).

For the OOD error :math:`e = B^\top v - w_\star` we add an orthonormal basis ``W``
(d × r, r = 2k+1, zero-padded) of :math:`\Pi_{S^\perp}\operatorname{span}(B_0^\top, B_\star^\top, w_\star)`.
Every vector that matters lies in :math:`\operatorname{span}(Q)`, :math:`Q = [U_S, W]`,
so in the coordinates :math:`\tilde x = Q^\top x` (dimension m + r):

* :math:`\tilde B = [B_S, B_\perp W]`, :math:`\tilde w_\star = Q^\top w_\star`,
  :math:`\tilde e = \tilde B^\top v - \tilde w_\star` with :math:`\|e\| = \|\tilde e\|`;
* :math:`L_{ood} = \tilde e^\top (Q^\top\Sigma Q)\tilde e` exactly.

Zero-padded columns of ``W`` contribute zero coordinates and change nothing.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import geometry
from .problem import Problem, _member_row_spaces

#: Number of OOD draws x ~ N(0, Σ) used for the OOD distortion metric.
DEFAULT_N_OOD = 256


class FlowView(eqx.Module):
    r"""What the vector fields read, and nothing else: the one view of a reduced problem for every flow.

    ``G`` (m, m) = ZᵀZ, ``a_star`` (m,) = the least-squares target in S-coordinates, ``B_S0`` (k, m) =
    :math:`B_0U_S`, ``v0`` (k,) the initial head. Keeping the d-sized basis and the metric draws out of
    the solve keeps them off the accelerator. Batched views carry a leading axis on every field.
    Padding to a larger (k, m) with zero rows, columns and entries is exact (the padded
    coordinates are fixed points of every field), which the observer uses to share compilations.
    """

    G: jax.Array
    a_star: jax.Array
    B_S0: jax.Array
    v0: jax.Array


class ReducedProblem(eqx.Module):
    """A problem in reduced coordinates (see the module docstring).

    Flow fields: ``G`` (m,m), ``a_star`` (m,), ``v0`` (k,), ``B0_red`` (k, m+r).
    Metric fields: ``w_red`` (m+r,), ``sigma_red`` (m+r, m+r), ``Bstar_red`` (k, m+r; NaN if
    B* is unknown), ``Z`` (n, m) for ID distortion, ``ood_S`` (n_ood, m) draws of
    :math:`U_S^\\top x`, ``label_offset`` :math:`\\|y - Za_\\star\\|^2`, ``sigma_min``/``sigma_max``
    of Σ. Lift field: ``basis`` = Q (d, m+r), used only to rebuild full-size vectors.
    """

    G: jax.Array
    a_star: jax.Array
    v0: jax.Array
    B0_red: jax.Array
    w_red: jax.Array
    sigma_red: jax.Array
    Bstar_red: jax.Array
    Z: jax.Array
    ood_S: jax.Array
    label_offset: jax.Array
    sigma_min: jax.Array
    sigma_max: jax.Array
    basis: jax.Array
    m: int = eqx.field(static=True)

    @property
    def k(self) -> int:
        return self.B0_red.shape[-2]

    @property
    def d(self) -> int:
        return self.basis.shape[-2]

    @property
    def B_S0(self) -> jax.Array:
        """:math:`B_0U_S` (k, m), the S-part of the pretrained features."""
        return self.B0_red[..., :, : self.m]

    @property
    def flow(self) -> FlowView:
        """The :class:`FlowView` the vector fields read."""
        return FlowView(G=self.G, a_star=self.a_star, B_S0=self.B_S0, v0=self.v0)

    @property
    def U_S(self) -> jax.Array:
        return self.basis[..., :, : self.m]

    def lift_B(self, B_S) -> jax.Array:
        r"""Full feature matrix :math:`B = B_SU_S^\top + B_\perp` (…, k, d) from the S-part (…, k, m)."""
        B_perp_red = self.B0_red[..., :, self.m :]
        Bred = jnp.concatenate([B_S, jnp.broadcast_to(B_perp_red, B_S.shape[:-1] + B_perp_red.shape[-1:])], axis=-1)
        return Bred @ jnp.swapaxes(self.basis, -1, -2)

    def B_red(self, B_S) -> jax.Array:
        """Features in Q-coordinates (…, k, m+r) from the S-part (…, k, m)."""
        B_perp_red = self.B0_red[..., :, self.m :]
        return jnp.concatenate([B_S, jnp.broadcast_to(B_perp_red, B_S.shape[:-1] + B_perp_red.shape[-1:])], axis=-1)


def reduce(problem: Problem, n_ood: int = DEFAULT_N_OOD, seed: int = 0, *, host: bool = False) -> ReducedProblem:
    """Build the :class:`ReducedProblem` of one problem: O(n·d·m + d·k²) once (plus O(d³) for a dense Σ).

    ``host=True`` keeps the fields as numpy arrays (for host code that packs thousands of small problems,
    :func:`lpft_theory.theory.observe.pack`; the default gives JAX arrays).

    ``n_ood`` draws :math:`x\\sim N(0,\\Sigma)` (seeded by ``seed``) are kept in S-coordinates
    for the OOD distortion metric. Batched problems are reduced member by member and
    stacked (all members must have the same rank m).

    The basis :math:`U_S` is the one :meth:`Problem.row_space` keeps from validation, so X is not
    factorised again.
    """
    if problem.batch_shape:
        spaces = _member_row_spaces(problem.X)
        members = [_reduce_one(_index(problem, i), n_ood, seed, None if spaces is None else spaces[j], host)
                   for j, i in enumerate(np.ndindex(*problem.batch_shape))]
        ms = {r.m for r in members}
        if len(ms) != 1:
            raise ValueError(f"problem: batch members have different ID dimensions m={sorted(ms)}; batch only equal m")
        stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *members)
        return jax.tree_util.tree_map(lambda a: a.reshape(problem.batch_shape + a.shape[1:]), stacked)
    return _reduce_one(problem, n_ood, seed, None, host)


def _reduce_one(problem: Problem, n_ood: int, seed: int, space, host: bool = False) -> ReducedProblem:
    """:func:`reduce` of one problem; ``space`` its :class:`~lpft_theory.geometry.ColumnSpace` of Xᵀ if known."""
    X = np.asarray(problem.X, dtype=np.float64)
    y = np.asarray(problem.y, dtype=np.float64)
    B0 = np.asarray(problem.B0, dtype=np.float64)
    w = np.asarray(problem.w_star, dtype=np.float64)
    k, d = B0.shape
    Bstar = None if problem.B_star is None else np.asarray(problem.B_star, dtype=np.float64)

    U_S = (problem.row_space() if space is None else space).basis
    m = U_S.shape[1]
    Z = X @ U_S
    G = Z.T @ Z
    a_star = np.linalg.lstsq(Z, y, rcond=None)[0]
    label_offset = float(np.sum((y - Z @ a_star) ** 2))

    r = 2 * k + 1
    cols = [B0.T, w[:, None]] + ([Bstar.T] if Bstar is not None else [])
    M = np.concatenate(cols, axis=1)
    M = M - U_S @ (U_S.T @ M)
    W = geometry.column_basis(M, rtol=1e-13)
    W = W - U_S @ (U_S.T @ W)
    W = np.concatenate([W, np.zeros((d, r - W.shape[1]))], axis=1)
    Q = np.concatenate([U_S, W], axis=1)

    if problem.sigma_ood is None:
        sigma_red = np.diag(np.concatenate([np.ones(m), (np.linalg.norm(W, axis=0) > 0).astype(float)]))
        sigma_min = sigma_max = 1.0
    else:
        S = np.asarray(problem.sigma_ood, dtype=np.float64)
        sigma_red = Q.T @ S @ Q
        lam = np.linalg.eigvalsh(S)
        sigma_min, sigma_max = float(lam[0]), float(lam[-1])
    L = np.linalg.cholesky(sigma_red[:m, :m])
    xi = np.random.default_rng(seed).standard_normal((n_ood, m))
    ood_S = xi @ L.T

    dtype = np.float64 if jax.config.jax_enable_x64 else np.float32
    f = (lambda a: np.asarray(a, dtype=dtype)) if host else (lambda a: jnp.asarray(a, dtype=dtype))  # noqa: E731
    return ReducedProblem(
        G=f(G),
        a_star=f(a_star),
        v0=f(problem.v0),
        B0_red=f(B0 @ Q),
        w_red=f(Q.T @ w),
        sigma_red=f(sigma_red),
        Bstar_red=f(Bstar @ Q if Bstar is not None else np.full((k, m + r), np.nan)),
        Z=f(Z),
        ood_S=f(ood_S),
        label_offset=f(label_offset),
        sigma_min=f(sigma_min),
        sigma_max=f(sigma_max),
        basis=f(Q),
        m=m,
    )


def _index(tree, idx):
    return jax.tree_util.tree_map(lambda a: a[idx], tree)

r"""Subspace geometry: orthonormal bases, principal angles and the feature distance.

All functions take arrays and return arrays. Row spaces are the convention of the
paper: a feature extractor :math:`B \in \mathbb{R}^{k\times d}` has the features as rows,
and :math:`R(B) = \operatorname{rowspace}(B)`.

References are to Kumar et al., *Fine-Tuning can Distort Pretrained Features and
Underperform Out-of-Distribution*, ICLR 2022 (see ``docs/theory.md`` §1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import jax.numpy as jnp
import scipy.linalg
import scipy.optimize

#: Tolerance on ``max |B B^T - I|`` for "orthonormal rows".
ORTHONORMAL_TOL = 1e-8


def _xp(*arrays):
    """numpy when every input is a host array (numpy or Python numbers), else jax.numpy: host callers (the
    bound ingredients of a campaign, thousands of small problems) avoid JAX's per-operation dispatch, and
    code under ``jit`` gets jax.numpy."""
    return np if all(isinstance(a, (np.ndarray, np.generic, float, int)) for a in arrays) else jnp


def _check_pair(B, Bp, who: str) -> None:
    """Both 2-D with the same shape (k, d): k features in R^d each (shapes are static, so this works under jit)."""
    sB, sBp = tuple(np.shape(B)), tuple(np.shape(Bp))
    if len(sB) != 2 or len(sBp) != 2:
        raise ValueError(f"{who}: B and B_prime must be 2-D arrays (k, d), got shapes {sB} and {sBp}")
    if sB != sBp:
        raise ValueError(f"{who}: B and B_prime must have the same shape (k, d) (the same number k of features "
                         f"in the same R^d), got {sB} and {sBp}")


def orthonormal_rows_error(B) -> float:
    r"""Return :math:`\max_{ij} |(BB^\top - I)_{ij}|`."""
    B = np.asarray(B, dtype=np.float64)
    return float(np.max(np.abs(B @ B.T - np.eye(B.shape[0]))))


#: Row-block size of the tall-skinny QR in :func:`column_space`; below two blocks of rows the SVD is direct.
TSQR_BLOCK_ROWS = 8192


class ColumnSpace(NamedTuple):
    r"""One factorisation of a matrix M (p×q): ``basis`` (p × rank) orthonormal columns spanning
    :math:`\operatorname{range}(M)`, ``s`` all min(p, q) singular values (decreasing), ``rank`` the
    numerical rank (singular values above ``rtol · s_max``)."""

    basis: np.ndarray
    s: np.ndarray
    rank: int


def numerical_rank(s, shape, rtol: float | None = None) -> int:
    """Number of singular values ``s`` (decreasing) above ``rtol * s[0]``.

    The default ``rtol`` is ``max(shape) * machine_eps``, the convention of ``numpy.linalg.matrix_rank``.
    """
    s = np.asarray(s, dtype=np.float64)
    if rtol is None:
        rtol = max(shape) * np.finfo(np.float64).eps
    if s.size == 0 or not s[0] > 0.0:
        return 0
    return int(np.sum(s > rtol * s[0]))


def _tsqr(A, block_rows: int):
    r"""Tall-skinny QR of A (p×q, p ≥ q) by row blocks: :math:`A_i = Q_iR_i`, then
    :math:`[R_1; R_2; …] = Q_2R`, so that :math:`A = \operatorname{diag}(Q_i)\,Q_2\,R`.

    Every step is a Householder QR (backward stable), so R is the R factor of a matrix within
    O(ε‖A‖) of A, like one Householder QR of A, but each block factorisation works in cache (a
    LAPACK QR of the whole 10⁵×64 matrix is ~10× slower here). Returns the block factors
    ``Qs`` (list of (p_i, q_i)), the stacked factor ``Q2`` and ``R`` (q×q).
    """
    p, q = A.shape
    Qs, Rs = [], []
    for start in range(0, p, block_rows):
        Qi, Ri = np.linalg.qr(A[start : start + block_rows])
        Qs.append(Qi)
        Rs.append(Ri)
    Q2, R = np.linalg.qr(np.concatenate(Rs, axis=0))
    return Qs, Q2, R


def column_space(M, rtol: float | None = None, block_rows: int | None = None) -> ColumnSpace:
    r"""Orthonormal basis of range(M), the singular values and the rank, from one factorisation.

    For a tall M (p×q, p ≥ 2·``block_rows``) the factorisation is a thin QR by row blocks
    (:func:`_tsqr`, :math:`M = QR`, Q p×q) followed by the SVD of the small factor,
    :math:`R = U_R\,\mathrm{diag}(s)\,V^\top`; then :math:`M = (QU_R)\,\mathrm{diag}(s)\,V^\top` and
    the basis is the first ``rank`` columns of :math:`QU_R`. Both steps are backward stable, so the
    singular values are those of a matrix within O(ε‖M‖) of M and the basis spans range(M) to
    O(ε‖M‖/σ_rank), the accuracy of a direct SVD, in O(p·q) memory and O(p·q²) time.
    (A Gram matrix :math:`M^\top M` would square the condition number and lose every singular
    value below √ε·s_max.) Smaller or wide matrices use ``numpy.linalg.svd`` directly.

    ``rtol``: see :func:`numerical_rank`. ``block_rows`` defaults to :data:`TSQR_BLOCK_ROWS`.
    """
    M = np.asarray(M, dtype=np.float64)
    p, q = M.shape
    if M.size == 0:
        return ColumnSpace(np.zeros((p, 0)), np.zeros(0), 0)
    block_rows = TSQR_BLOCK_ROWS if block_rows is None else int(block_rows)
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if p < 2 * block_rows or block_rows < q:
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        rank = numerical_rank(s, M.shape, rtol)
        return ColumnSpace(U[:, :rank], s, rank)
    Qs, Q2, R = _tsqr(M, block_rows)
    UR, s, _ = np.linalg.svd(R)
    rank = numerical_rank(s, M.shape, rtol)
    basis = np.empty((p, rank))
    row = col = 0  # block i: rows of M, and rows of Q2 (min(p_i, q) of them; the last block may be short)
    for i, Qi in enumerate(Qs):  # basis block i = Q_i (Q2_i U_R[:, :rank]); one p×rank array, no p×q copy
        basis[row : row + Qi.shape[0]] = Qi @ (Q2[col : col + Qi.shape[1]] @ UR[:, :rank])
        row += Qi.shape[0]
        col += Qi.shape[1]
        Qs[i] = None
    return ColumnSpace(basis, s, rank)


def orthonormal_columns(A, block_rows: int | None = None) -> np.ndarray:
    r"""The Q factor (p×q, orthonormal columns) of a thin QR of a tall A (p ≥ q), in O(p·q) memory.

    Below two blocks of ``block_rows`` rows (default :data:`TSQR_BLOCK_ROWS`) this is
    ``numpy.linalg.qr(A)[0]``; above, the blocked QR of :func:`column_space` (:func:`_tsqr`),
    :math:`Q = \operatorname{diag}(Q_i)\,Q_2` (the same span, columns orthonormal to rounding; the signs
    of the columns may differ from LAPACK's).
    """
    A = np.asarray(A, dtype=np.float64)
    p, q = A.shape
    block_rows = TSQR_BLOCK_ROWS if block_rows is None else int(block_rows)
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if p < 2 * block_rows or block_rows < q:
        return np.linalg.qr(A)[0]
    Qs, Q2, _ = _tsqr(A, block_rows)
    out = np.empty((p, q))
    row = col = 0
    for i, Qi in enumerate(Qs):
        out[row : row + Qi.shape[0]] = Qi @ Q2[col : col + Qi.shape[1]]
        row += Qi.shape[0]
        col += Qi.shape[1]
        Qs[i] = None
    return out


def column_basis(M, rtol: float | None = None) -> np.ndarray:
    r"""Orthonormal basis (as columns) of the column space of ``M`` (see :func:`column_space`).

    Singular values below ``rtol * s_max`` are treated as zero; the default
    ``rtol`` is ``max(M.shape) * machine_eps``, as in ``numpy.linalg.matrix_rank``.
    Returns an array of shape ``(M.shape[0], rank)``.
    """
    return column_space(M, rtol).basis


def spectral_norm_wide(A) -> float:
    r""":math:`\|A\|_2` of a wide or tall matrix from its small Gram matrix, :math:`\sqrt{\lambda_{\max}}`.

    The largest eigenvalue of the Gram matrix has a small relative error (≈ ε times its size), so the
    largest singular value is accurate to rounding; O(size) memory and one matrix product.
    """
    A = np.asarray(A, dtype=np.float64)
    if A.size == 0:
        return 0.0
    G = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    return float(np.sqrt(max(np.linalg.eigvalsh(G)[-1], 0.0)))


def orthonormal_complement(U, rng: np.random.Generator | None = None, size: int | None = None) -> np.ndarray:
    r"""Orthonormal columns spanning (part of) the orthogonal complement of ``range(U)``.

    ``U`` (d×r) must have orthonormal columns. Returns ``size`` columns (all d−r by
    default). With ``rng`` the columns are a random orthonormal set in the complement,
    otherwise they come from a full QR decomposition.
    """
    U = np.asarray(U, dtype=np.float64)
    d, r = U.shape
    size = d - r if size is None else size
    if size > d - r:
        raise ValueError(f"size: the complement has dimension {d - r}, asked for {size} vectors")
    if rng is None:
        Q, _ = np.linalg.qr(U, mode="complete")
        return Q[:, r : r + size]
    G = rng.standard_normal((d, size))
    G -= U @ (U.T @ G)
    G -= U @ (U.T @ G)  # re-orthogonalise for accuracy
    Q, _ = np.linalg.qr(G)
    return Q


def cos_angles_to_subspace(B_rows, U_cols, complement: bool = False):
    r"""Cosines of the principal angles between ``rowspace(B)`` and a subspace.

    ``B_rows`` (k×d) has orthonormal rows; ``U_cols`` (d×m) orthonormal columns
    spanning a subspace :math:`S`. With ``complement=False`` the angles are to
    :math:`S`, with ``complement=True`` to :math:`S^\perp`, computed without forming
    a basis of :math:`S^\perp`: :math:`\cos\theta_i(R, S^\perp) = \sigma_i(\Pi_{S^\perp} B^\top)`.

    Returns :math:`\min(k, \dim)` values in decreasing order, where dim is the
    dimension of the target subspace; ``cos θ_max`` is the last one.
    """
    xp = _xp(B_rows, U_cols)
    B = xp.asarray(B_rows)
    U = xp.asarray(U_cols)
    k, d = B.shape
    m = U.shape[1]
    if complement:
        P = B.T - U @ (U.T @ B.T)
        count = min(k, d - m)
    else:
        P = U.T @ B.T
        count = min(k, m)
    s = singular_values(P)[:count]
    return xp.clip(s, 0.0, 1.0)


def singular_values(M):
    r"""Singular values of a tall or wide matrix (decreasing), in O(size) memory.

    A k×d matrix with k ≪ d is first reduced by a thin QR of its transpose (d×k → R, k×k), whose
    singular values are the same; an SVD routine applied to the k×d matrix directly may allocate
    d×d workspace (80 GB at d = 10⁵).
    """
    xp = _xp(M)
    M = xp.asarray(M)
    if M.shape[-2] < M.shape[-1]:
        M = xp.swapaxes(M, -1, -2)
    R = xp.linalg.qr(M, mode="r")
    return xp.linalg.svd(R, compute_uv=False)


def largest_principal_angle(B, Bp):
    r"""The largest principal angle :math:`\theta_{\max}` between two row spaces.

    Both inputs have orthonormal rows of the same count k. Computed as
    :math:`\operatorname{atan2}(\sin\theta_{\max}, \cos\theta_{\max})` with
    :math:`\cos\theta_{\max} = \sigma_{\min}(BB'^\top)` and
    :math:`\sin\theta_{\max} = \|B(I - B'^\top B')\|_2`, which is accurate for
    small and for large angles.
    """
    _check_pair(B, Bp, "largest_principal_angle")
    xp = _xp(B, Bp)
    B = xp.asarray(B)
    Bp = xp.asarray(Bp)
    c = xp.linalg.svd(B @ Bp.T, compute_uv=False)[-1]
    resid = B - (B @ Bp.T) @ Bp
    s = singular_values(resid)[0]
    return xp.arctan2(s, c)


def feature_distance(B, Bp, check: bool = True):
    r"""Feature distance :math:`d(B, B') = \min_{U \in O(k)} \|B - UB'\|_2` (spectral norm).

    Closed form for orthonormal rows (derived, ``docs/theory.md`` §1):
    :math:`d(B, B') = 2\sin(\theta_{\max}/2)`, with :math:`\theta_{\max}` the
    largest principal angle between the row spaces; the minimiser is the polar
    factor of :math:`BB'^\top`.

    The paper says "rotation matrices"; we minimise over the whole orthogonal
    group O(k), which is what makes the closed form hold.

    The closed form is only valid for orthonormal rows. With ``check=True`` (the
    default) a :class:`ValueError` is raised otherwise: use
    :func:`feature_distance_numerical` or :func:`feature_distance_bounds` for a
    general ``B`` (e.g. during fine-tuning). ``check=False`` skips the test (for
    use inside ``jit``).
    """
    _check_pair(B, Bp, "feature_distance")
    if check:
        for name, M in (("B", B), ("B_prime", Bp)):
            err = orthonormal_rows_error(M)
            if not err <= ORTHONORMAL_TOL:
                raise ValueError(
                    f"feature_distance: {name} must have orthonormal rows (max|MM^T-I| <= "
                    f"{ORTHONORMAL_TOL:g}), got {err:.3g}; use feature_distance_numerical or "
                    "feature_distance_bounds for general matrices"
                )
    return 2.0 * _xp(B, Bp).sin(largest_principal_angle(B, Bp) / 2.0)


def polar_factor(M):
    r"""Orthogonal polar factor :math:`U = PQ^\top` of :math:`M = P\Sigma Q^\top` (thin SVD; k×k for the
    k×k matrices it is used on, e.g. :math:`B_0B_\star^\top`, the minimiser in :math:`d(B_0, B_\star)`).
    A numpy input is computed with numpy (no JAX dispatch on the host), anything else with ``jnp``."""
    if isinstance(M, np.ndarray):
        P, _, Qt = np.linalg.svd(M, full_matrices=False)
        return P @ Qt
    P, _, Qt = jnp.linalg.svd(jnp.asarray(M), full_matrices=False)
    return P @ Qt


def procrustes_distance(B, Bp):
    r"""Upper bound :math:`\|B - U_\star B'\|_2` with :math:`U_\star` = polar factor of :math:`BB'^\top`.

    It is the value of :math:`\|B - UB'\|_2` at one orthogonal :math:`U` (the
    Frobenius-optimal one), hence an **upper bound** on :math:`d(B,B')` for any
    ``B``; it equals :math:`d(B,B')` when both have orthonormal rows. Works under
    ``jit``; this is what trajectories report as ``feature_distance``.
    """
    B = jnp.asarray(B)
    Bp = jnp.asarray(Bp)
    U = polar_factor(B @ Bp.T)
    return jnp.linalg.norm(B - U @ Bp, ord=2)


def feature_distance_lower_bound(B, Bp):
    r"""A lower bound on :math:`d(B, B')` valid for any ``B``, ``B'`` of the same shape.

    For every orthogonal U: :math:`\|B - UB'\|_2 \ge \|B(I - B'^+B')\|_2` (the part
    of B's rows outside rowspace(B'), which UB' cannot reach), and
    :math:`\ge \max_i |\sigma_i(B) - \sigma_i(B')|` (Weyl's inequality, since
    :math:`\sigma(UB') = \sigma(B')`). Returns the larger of the two.
    """
    B = jnp.asarray(B)
    Bp = jnp.asarray(Bp)
    proj = jnp.linalg.pinv(Bp) @ Bp
    outside = jnp.linalg.norm(B - B @ proj, ord=2)
    sB = jnp.linalg.svd(B, compute_uv=False)
    sBp = jnp.linalg.svd(Bp, compute_uv=False)
    return jnp.maximum(outside, jnp.max(jnp.abs(sB - sBp)))


def feature_distance_bounds(B, Bp):
    """``(lower, upper)`` bounds on :math:`d(B,B')` for general ``B`` (see the two functions)."""
    return feature_distance_lower_bound(B, Bp), procrustes_distance(B, Bp)


def _skew(params, k):
    A = np.zeros((k, k))
    iu = np.triu_indices(k, 1)
    A[iu] = params
    return A - A.T


def feature_distance_numerical(B, Bp, restarts: int = 8, seed: int = 0) -> float:
    r"""Numerical :math:`\min_{U\in O(k)} \|B - UB'\|_2` by local optimisation.

    Independent of the closed form: U is parametrised as :math:`D\,\exp(A)` with A
    skew-symmetric and D ∈ {I, diag(−1,1,…,1)} covering both components of O(k);
    Nelder–Mead then Powell from the polar factor and ``restarts`` random starts.
    Returns the smallest value found (an upper bound that is tight in practice).
    """
    _check_pair(B, Bp, "feature_distance_numerical")
    B = np.asarray(B, dtype=np.float64)
    Bp = np.asarray(Bp, dtype=np.float64)
    k = B.shape[0]
    if k == 1:
        return float(min(np.linalg.norm(B - Bp, 2), np.linalg.norm(B + Bp, 2)))
    rng = np.random.default_rng(seed)
    npar = k * (k - 1) // 2
    best = float(np.linalg.norm(B - np.asarray(polar_factor(B @ Bp.T)) @ Bp, 2))
    for sign in (1.0, -1.0):
        D = np.eye(k)
        D[0, 0] = sign

        def obj(p, D=D):
            U = D @ scipy.linalg.expm(_skew(p, k))
            return np.linalg.norm(B - U @ Bp, 2)

        starts = [np.zeros(npar)] + [rng.normal(scale=np.pi / 2, size=npar) for _ in range(restarts)]
        for p0 in starts:
            r = scipy.optimize.minimize(obj, p0, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000})
            r = scipy.optimize.minimize(obj, r.x, method="Powell", options={"xtol": 1e-12, "ftol": 1e-15})
            best = min(best, float(r.fun))
    return best

"""Feature distance and principal angles against independent numerics (scipy)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from lpft_theory import geometry


def random_rows(rng, k, d):
    return np.linalg.qr(rng.standard_normal((d, k)))[0].T


def random_orthogonal(rng, k):
    return np.linalg.qr(rng.standard_normal((k, k)))[0]


@pytest.mark.parametrize("k,d,seed", [(1, 4, 0), (2, 6, 1), (3, 7, 2), (3, 10, 3)])
def test_closed_form_matches_numerical_minimisation(k, d, seed):
    rng = np.random.default_rng(seed)
    B, Bp = random_rows(rng, k, d), random_rows(rng, k, d)
    closed = float(geometry.feature_distance(B, Bp))
    numeric = geometry.feature_distance_numerical(B, Bp, restarts=6, seed=seed)
    assert closed == pytest.approx(numeric, abs=1e-7)
    # 2 sin(theta_max / 2) with theta_max from scipy's principal angles (independent routine)
    theta = scipy.linalg.subspace_angles(B.T, Bp.T).max()
    assert closed == pytest.approx(2 * np.sin(theta / 2), abs=1e-12)


def test_closed_form_small_angle_accuracy():
    rng = np.random.default_rng(5)
    B = random_rows(rng, 2, 8)
    Q = geometry.orthonormal_complement(B.T, rng=rng, size=2).T
    theta = 1e-9
    Bp = np.cos(theta) * B + np.sin(theta) * Q  # principal angles (theta, theta)
    assert float(geometry.feature_distance(B, Bp)) == pytest.approx(2 * np.sin(theta / 2), rel=1e-6)


def test_symmetric_and_rotation_invariant():
    rng = np.random.default_rng(7)
    k, d = 3, 9
    B, Bp = random_rows(rng, k, d), random_rows(rng, k, d)
    base = float(geometry.feature_distance(B, Bp))
    assert float(geometry.feature_distance(Bp, B)) == pytest.approx(base, abs=1e-13)
    U, V = random_orthogonal(rng, k), random_orthogonal(rng, k)
    assert float(geometry.feature_distance(U @ B, V @ Bp)) == pytest.approx(base, abs=1e-13)
    R = random_orthogonal(rng, d)  # rotating the input space changes nothing
    assert float(geometry.feature_distance(B @ R, Bp @ R)) == pytest.approx(base, abs=1e-13)
    assert float(geometry.feature_distance(B, B)) == pytest.approx(0.0, abs=1e-7)


def test_non_orthonormal_rows_rejected_and_bounds_bracket_the_minimum():
    rng = np.random.default_rng(11)
    B = rng.standard_normal((2, 6))
    Bp = random_rows(rng, 2, 6)
    with pytest.raises(ValueError, match="B must have orthonormal rows"):
        geometry.feature_distance(B, Bp)
    lo, hi = (float(x) for x in geometry.feature_distance_bounds(B, Bp))
    numeric = geometry.feature_distance_numerical(B, Bp, restarts=6)
    assert lo <= numeric + 1e-9
    assert numeric <= hi + 1e-9


def test_angles_to_subspace_and_complement_match_scipy():
    rng = np.random.default_rng(3)
    d, k, m = 10, 3, 4
    B = random_rows(rng, k, d)
    U = np.linalg.qr(rng.standard_normal((d, m)))[0]
    U_perp = scipy.linalg.null_space(U.T)
    cos_S = np.asarray(geometry.cos_angles_to_subspace(B, U))
    cos_P = np.asarray(geometry.cos_angles_to_subspace(B, U, complement=True))
    ref_S = np.sort(np.cos(scipy.linalg.subspace_angles(B.T, U)))[::-1]
    ref_P = np.sort(np.cos(scipy.linalg.subspace_angles(B.T, U_perp)))[::-1]
    np.testing.assert_allclose(cos_S, ref_S[:k], atol=1e-12)
    np.testing.assert_allclose(cos_P, ref_P[:k], atol=1e-12)


def test_column_basis_and_complement():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((7, 2)) @ rng.standard_normal((2, 5))  # rank 2
    Q = geometry.column_basis(M)
    assert Q.shape == (7, 2)
    np.testing.assert_allclose(Q.T @ Q, np.eye(2), atol=1e-13)
    np.testing.assert_allclose(Q @ (Q.T @ M), M, atol=1e-12)
    C = geometry.orthonormal_complement(Q)
    assert C.shape == (7, 5)
    np.testing.assert_allclose(C.T @ Q, 0.0, atol=1e-13)
    with pytest.raises(ValueError, match="size"):
        geometry.orthonormal_complement(Q, size=6)


@pytest.mark.parametrize("p,q,r,block", [(1000, 20, 7, 64), (1005, 20, 20, 100), (530, 12, 3, 16), (3000, 64, 32, 128)])
def test_column_space_blocked_qr_matches_direct_svd(p, q, r, block):
    # tall rank-r matrices with graded singular values (down to 1e-6 s_max); the last block may be short
    rng = np.random.default_rng(p + q)
    M = (rng.standard_normal((p, r)) @ rng.standard_normal((r, q))) * np.geomspace(1.0, 1e-6, q)
    blocked = geometry.column_space(M, block_rows=block)  # p >= 2 * block: the blocked-QR path
    direct = geometry.column_space(M, block_rows=10**9)  # numpy SVD of M
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(direct.s, s, rtol=0, atol=1e-15 * s[0])
    assert blocked.rank == direct.rank == np.linalg.matrix_rank(M) == r
    np.testing.assert_allclose(blocked.s, s, rtol=0, atol=1e-14 * s[0])
    B = blocked.basis
    assert B.shape == (p, r)
    np.testing.assert_allclose(B.T @ B, np.eye(r), atol=1e-13)
    # same subspace as the SVD's: projections agree, and M lies in the span
    np.testing.assert_allclose(B @ (B.T @ U[:, :r]), U[:, :r], atol=1e-11)
    np.testing.assert_allclose(B @ (B.T @ M), M, atol=1e-13 * s[0])
    np.testing.assert_array_equal(geometry.column_basis(M), direct.basis)  # small M: the direct path


def test_column_space_edge_cases():
    z = geometry.column_space(np.zeros((40, 3)), block_rows=8)
    assert z.rank == 0 and z.basis.shape == (40, 0)
    e = geometry.column_space(np.zeros((5, 0)))
    assert e.rank == 0 and e.basis.shape == (5, 0)
    assert geometry.numerical_rank([3.0, 1e-20], (10, 2)) == 1
    with pytest.raises(ValueError, match="block_rows"):
        geometry.column_space(np.ones((4, 2)), block_rows=0)
    A = np.random.default_rng(3).standard_normal((3, 500))
    assert geometry.spectral_norm_wide(A) == pytest.approx(np.linalg.norm(A, 2), rel=1e-13)
    assert geometry.spectral_norm_wide(A.T) == pytest.approx(np.linalg.norm(A, 2), rel=1e-13)


def test_orthonormal_columns_blocked_matches_lapack_span():
    A = np.random.default_rng(4).standard_normal((1003, 10))
    Q = geometry.orthonormal_columns(A, block_rows=64)  # blocked path (last block short)
    Q0 = np.linalg.qr(A)[0]
    np.testing.assert_allclose(Q.T @ Q, np.eye(10), atol=1e-13)
    np.testing.assert_allclose(Q @ (Q.T @ Q0), Q0, atol=1e-12)  # same span
    np.testing.assert_array_equal(geometry.orthonormal_columns(A), Q0)  # below two blocks: LAPACK's Q


def test_host_arrays_take_the_numpy_path_with_the_same_values():
    """numpy inputs are computed with numpy (no JAX dispatch, for host loops over many small problems),
    JAX inputs with jax.numpy; both give the same numbers to rounding."""
    from lpft_theory import geometry as g, metrics

    rng = np.random.default_rng(3)
    B = np.linalg.qr(rng.standard_normal((9, 3)))[0].T
    Bp = np.linalg.qr(rng.standard_normal((9, 3)))[0].T
    U = np.linalg.qr(rng.standard_normal((9, 4)))[0]
    v, vs = rng.standard_normal(3), rng.standard_normal(3)
    cases = [(g.cos_angles_to_subspace, (B, U)), (lambda a, b: g.cos_angles_to_subspace(a, b, complement=True), (B, U)),
             (g.largest_principal_angle, (B, Bp)), (g.feature_distance, (B, Bp)), (g.singular_values, (B,)),
             (metrics.head_alignment_error, (v, vs)), (lambda a, b: metrics.head_alignment_error(a, b, absolute=False), (v, vs))]
    for fn, args in cases:
        host = fn(*args)
        dev = fn(*(jnp.asarray(a) for a in args))
        assert isinstance(host, (np.ndarray, np.generic)) and not isinstance(host, jax.Array)
        assert isinstance(dev, jax.Array)
        np.testing.assert_allclose(np.asarray(host), np.asarray(dev), rtol=1e-13, atol=1e-15, equal_nan=True)

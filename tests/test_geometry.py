"""Feature distance and principal angles against independent numerics (scipy)."""

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

"""Metrics in reduced coordinates against direct full-dimensional formulas."""

import numpy as np
import pytest
import scipy.linalg

import lpft_theory as lt
from lpft_theory import geometry, metrics

SHAPE = dict(d=12, k=2, m=4, n=8)


@pytest.fixture(scope="module")
def aniso_traj():
    p = lt.Problem.random(seed=1, eps=0.3, sigma_ood="anisotropic", sigma_cond=20.0, **SHAPE)
    return p, lt.simulate(p, "ft", [0.0, 0.2, 3.0])


def test_losses_match_full_formulas(aniso_traj):
    p, traj = aniso_traj
    met = lt.trajectory_metrics(traj)
    X, y, w, S = (np.asarray(a) for a in (p.X, p.y, p.w_star, p.sigma_ood))
    P_S = scipy.linalg.orth(X.T)
    P_S = P_S @ P_S.T
    for i, (v, B) in enumerate(zip(np.asarray(traj.v), np.asarray(traj.B()))):
        e = B.T @ v - w
        assert met["train_loss"][i] == pytest.approx(np.sum((X @ B.T @ v - y) ** 2), rel=1e-10, abs=1e-20)
        assert met["ood_loss"][i] == pytest.approx(e @ S @ e, rel=1e-10)
        assert met["ood_loss_identity"][i] == pytest.approx(e @ e, rel=1e-10)
        assert met["id_subspace_loss"][i] == pytest.approx(np.sum((P_S @ e) ** 2), rel=1e-9, abs=1e-20)
        assert met["distortion_id"][i] == pytest.approx(
            np.mean(np.linalg.norm((B - np.asarray(p.B0)) @ X.T, axis=0)), rel=1e-10, abs=1e-15)


def test_feature_distance_along_trajectory(aniso_traj):
    p, traj = aniso_traj
    met = lt.trajectory_metrics(traj)
    Bs = np.asarray(p.B_star)
    assert met["feature_distance"][0] == pytest.approx(0.3, abs=1e-12)  # t = 0: closed form, exact eps
    for i, B in enumerate(np.asarray(traj.B())):
        numeric = geometry.feature_distance_numerical(B, Bs, restarts=3)
        assert met["feature_distance_lower"][i] <= numeric + 1e-9
        assert numeric <= met["feature_distance"][i] + 1e-9


def test_distortion_ood_is_the_gaussian_average():
    p = lt.Problem.random(seed=2, eps=0.3, sigma_ood="anisotropic", **SHAPE)
    rp = lt.reduce(p, n_ood=40000, seed=1)
    traj = lt.simulate(rp, "ft", [1.0])
    dB = np.asarray(traj.B()[0]) - np.asarray(p.B0)
    # independent Monte Carlo in the full space, x ~ N(0, Sigma)
    x = np.random.default_rng(123).multivariate_normal(np.zeros(p.d), np.asarray(p.sigma_ood), size=40000)
    ref = np.mean(np.linalg.norm(x @ dB.T, axis=1))
    got = float(metrics.distortion_ood(rp, traj.B_S[0]))
    assert got == pytest.approx(ref, rel=0.03)


def test_head_alignment_error_hand_cases():
    vs = np.array([3.0, 4.0])  # ||v*|| = 5, ||v*||^4 = 625
    assert float(lt.head_alignment_error(vs, vs)) == pytest.approx(0.0, abs=1e-12)
    assert float(lt.head_alignment_error(-vs, vs)) == pytest.approx(0.0, abs=1e-12)
    assert float(lt.head_alignment_error(np.zeros(2), vs)) == pytest.approx(25.0)
    v0 = np.array([6.0, 8.0])  # v0.v* = 50: (2500 - 625) = 1875
    assert float(lt.head_alignment_error(v0, vs)) == pytest.approx(np.sqrt(1875.0))
    assert float(lt.head_alignment_error(v0, vs, absolute=False)) == pytest.approx(np.sqrt(1875.0))
    # printed version without |.|: negative phi^2 -> undefined (NaN)
    assert np.isnan(float(lt.head_alignment_error(np.zeros(2), vs, absolute=False)))


def test_principal_angle_cosines_match_scipy():
    p = lt.Problem.random(seed=3, eps=0.2, id_overlap=0.4, **SHAPE)
    cos_S, cos_perp = (np.asarray(c) for c in lt.principal_angle_cosines(lt.reduce(p)))
    U_S = scipy.linalg.orth(np.asarray(p.X).T)
    U_P = scipy.linalg.null_space(U_S.T)
    B0 = np.asarray(p.B0)
    np.testing.assert_allclose(np.sort(cos_S), np.sort(np.cos(scipy.linalg.subspace_angles(B0.T, U_S))), atol=1e-12)
    np.testing.assert_allclose(np.sort(cos_perp), np.sort(np.cos(scipy.linalg.subspace_angles(B0.T, U_P))), atol=1e-12)
    np.testing.assert_allclose(cos_S**2, 0.4, atol=1e-12)

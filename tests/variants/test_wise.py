"""WiSE-FT (issue 7): endpoints, w(α) quadratic in α, losses quartic — checked on full matrices."""

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.variants import wise
from lpft_theory.metrics import trajectory_metrics

T = 3.0
SHAPE = dict(d=12, k=2, m=4, n=8)  # shared with the core tests (one compile)


@pytest.fixture(scope="module")
def problem():
    return lt.Problem.random(seed=0, eps=0.3, sigma_ood="anisotropic", **SHAPE)


def _full(traj, i):
    return np.asarray(traj.v[i]), np.asarray(traj.B()[i])


def test_endpoints_from_init(problem):
    alphas = [0.0, 0.5, 1.0]
    traj = wise.wise_ft(problem, alphas, "init", ft_time=T)
    info = traj.info
    ft = lt.simulate(problem, "ft", [T])
    v, B = _full(traj, 0)
    # α = 0 is the pretrained model, straight from the Problem's arrays
    np.testing.assert_allclose(v, np.asarray(problem.v0), atol=1e-14)
    np.testing.assert_allclose(B, np.asarray(problem.B0), atol=1e-13)
    # α = 1 is the fine-tuned model at time T
    v1, B1 = _full(traj, 2)
    np.testing.assert_allclose(v1, np.asarray(ft.v[-1]), atol=1e-13)
    np.testing.assert_allclose(B1, np.asarray(ft.B()[-1]), atol=1e-13)
    assert info["wise_from"] == "init" and np.asarray(traj.times).tolist() == alphas


def test_endpoints_from_lp(problem):
    traj = wise.wise_ft(problem, [0.0, 1.0], "lp", ft_time=T)
    X, y, B0 = (np.asarray(a) for a in (problem.X, problem.y, problem.B0))
    v_lp = np.linalg.lstsq(X @ B0.T, y, rcond=None)[0]  # independent LP limit
    v, B = _full(traj, 0)
    np.testing.assert_allclose(v, v_lp, atol=1e-10)
    np.testing.assert_allclose(B, B0, atol=1e-13)
    lpft = lt.simulate(problem, "lpft", [T])
    v1, B1 = _full(traj, 1)
    np.testing.assert_allclose(v1, np.asarray(lpft.v[-1]), atol=1e-13)
    np.testing.assert_allclose(B1, np.asarray(lpft.B()[-1]), atol=1e-13)


@pytest.mark.parametrize("wise_from", ["init", "lp"])
def test_w_is_quadratic_and_losses_quartic(problem, wise_from):
    alphas = np.linspace(-0.5, 1.5, 9)  # extrapolation too
    traj = wise.wise_ft(problem, alphas, wise_from, ft_time=T)
    info = traj.info
    w = np.asarray(traj.w())  # lifted: full B(α)^T v(α)
    v0, B0 = _full(traj, 2)  # α = 0
    v1, B1 = _full(traj, 6)  # α = 1
    assert alphas[2] == 0.0 and alphas[6] == 1.0
    for a, wa in zip(alphas, w):  # Bernstein form of the product of two linear interpolations
        want = (1 - a) ** 2 * B0.T @ v0 + a * (1 - a) * (B0.T @ v1 + B1.T @ v0) + a**2 * B1.T @ v1
        np.testing.assert_allclose(wa, want, atol=1e-12)
    # third differences vanish on a uniform grid, second ones do not (genuinely quadratic)
    assert np.max(np.abs(np.diff(w, n=3, axis=0))) < 1e-12
    assert np.max(np.abs(np.diff(w, n=2, axis=0))) > 1e-8
    # OOD loss e^T Σ e with the full Σ, against the quartic coefficients
    S = np.asarray(problem.sigma_ood)
    e = w - np.asarray(problem.w_star)
    ood_full = np.einsum("ad,de,ae->a", e, S, e)
    np.testing.assert_allclose(trajectory_metrics(traj)["ood_loss"], ood_full, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.polyval(info["ood_loss_poly"][::-1], alphas), ood_full, rtol=1e-9, atol=1e-14)
    X = np.asarray(problem.X)
    U = np.linalg.svd(X, full_matrices=False)[2][: SHAPE["m"]].T  # basis of S
    id_full = np.sum((e @ U) ** 2, axis=1)
    np.testing.assert_allclose(np.polyval(info["id_subspace_loss_poly"][::-1], alphas), id_full, rtol=1e-9, atol=1e-14)


def test_bad_alpha(problem):
    with pytest.raises(ValueError, match="alpha"):
        wise.wise_ft(problem, [], "init", ft_time=T)
    with pytest.raises(ValueError, match="alpha"):
        wise.wise_ft(problem, [0.0, float("nan")], "init", ft_time=T)
    with pytest.raises(ValueError, match="wise_from"):
        wise.wise_ft(problem, [0.0], "middle", ft_time=T)

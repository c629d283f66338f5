"""Projected FT (issue 15, item 4): γ = 0 is LP, γ = ∞ and γ above FT's distance are FT, the constraint holds
along the trajectory, S⊥ frozen on full matrices (Lemma A.3), training loss non-increasing, the limit is a KKT
point of min L on the ball."""

import math

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory import flows
from lpft_theory.metrics import train_loss, trajectory_metrics
from lpft_theory.variants import projected
from lpft_theory.variants.dispatch import simulate_variant

SHAPE = dict(d=12, k=2, m=4, n=8)  # shared with the core tests (one compile)
#: One save grid for every finite-time run here and in tests/cli/test_follow_up_methods.py (one compile per field).
DENSE = np.linspace(0.0, 10.0, 41)


@pytest.fixture(scope="module")
def problem():
    return lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)


@pytest.fixture(scope="module")
def ft(problem):
    return lt.simulate(problem, "ft", DENSE)


@pytest.fixture(scope="module")
def ft_distance(ft):
    """FT's largest distance ||B - B0||_F over the save grid."""
    return float(np.max(np.linalg.norm(np.asarray(ft.B_S - ft.rp.B_S0), axis=(1, 2))))


def test_gamma_zero_is_lp(problem):
    tr = projected.simulate_projected(problem, 0.0, DENSE, rtol=1e-12, atol=1e-14)
    exact = np.asarray(flows.lp_closed_form(tr.rp.flow)(DENSE))
    assert np.max(np.abs(np.asarray(tr.v) - exact)) <= 1e-10 * max(1.0, np.max(np.abs(exact)))
    assert np.array_equal(np.asarray(tr.B_S), np.broadcast_to(np.asarray(tr.rp.B_S0), tr.B_S.shape))


def test_gamma_infinite_and_large_are_ft(problem, ft, ft_distance):
    """Same ODE in other variables (state B - B0): agreement at the solver's tolerance (rtol 1e-10)."""
    for gamma in (math.inf, 1.5 * ft_distance):
        tr = simulate_variant(problem, "ft-projected", DENSE, gamma=gamma)
        assert np.max(np.abs(np.asarray(tr.v) - np.asarray(ft.v))) <= 1e-9
        assert np.max(np.abs(np.asarray(tr.B_S) - np.asarray(ft.B_S))) <= 1e-9
        assert not np.any(tr.info["on_sphere"])


def test_constraint_holds_along_the_trajectory_and_loss_decreases(problem, ft_distance):
    for frac in (0.2, 0.6):
        gamma = frac * ft_distance
        tr = projected.simulate_projected(problem, gamma, DENSE)
        dist = np.linalg.norm(np.asarray(tr.B_S) - np.asarray(tr.rp.B_S0), axis=(1, 2))
        assert dist.max() <= gamma * (1 + 1e-9)
        assert dist[-1] >= gamma * (1 - 1e-9)  # the constraint is active (FT would go farther)
        assert tr.info["overshoot"] < 1e-6  # raw state: the solver's local error at the first contact
        L = np.asarray(trajectory_metrics(tr, perp=False)["train_loss"])
        assert np.all(np.diff(L) <= 1e-12 * L[0])
        assert L[-1] < 0.5 * L[0]


def test_lemma_a3_on_full_matrices(problem, ft_distance):
    gamma = 0.4 * ft_distance
    tr = projected.simulate_projected(problem, gamma, DENSE, coords="full")
    B, B0 = np.asarray(tr.B_full), np.asarray(problem.B0)
    U = np.asarray(tr.rp.U_S)
    D = B - B0[None]
    perp = D - (D @ U) @ U.T
    assert np.max(np.linalg.norm(perp, axis=(1, 2))) <= 1e-12
    red = projected.simulate_projected(problem, gamma, DENSE)
    assert np.max(np.abs(np.asarray(red.B_S) - B @ U)) <= 1e-8
    assert np.max(np.linalg.norm(D, axis=(1, 2))) <= gamma * (1 + 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("frac", [0.05, 0.3])
def test_limit_is_a_kkt_point(problem, ft_distance, frac):
    """At t = inf: grad_v L = 0 and -grad_B L = mu D with mu >= 0 on the sphere (an independent optimality check)."""
    gamma = frac * ft_distance
    tr = projected.simulate_projected(problem, gamma, [math.inf])
    assert tr.converged
    rp = tr.rp
    v, B_S = np.asarray(tr.v[-1]), np.asarray(tr.B_S[-1])
    G, a = np.asarray(rp.G), np.asarray(rp.a_star)
    r = G @ (B_S.T @ v - a)
    gv, F = 2 * B_S @ r, -2 * np.outer(v, r)
    D = B_S - np.asarray(rp.B_S0)
    assert abs(np.linalg.norm(D) - gamma) <= 1e-9 * gamma
    mu = np.sum(F * D) / np.sum(D * D)
    scale = max(1.0, float(train_loss(rp, rp.v0, rp.B_S0)))
    assert mu >= -1e-7 * scale
    assert np.linalg.norm(F - mu * D) <= 1e-7 * scale and np.linalg.norm(gv) <= 1e-7 * scale


def test_bad_gamma():
    with pytest.raises(ValueError, match="gamma"):
        projected.check_gamma(-1.0)
    with pytest.raises(ValueError, match="gamma"):
        projected.check_gamma(float("nan"))
    with pytest.raises(TypeError, match="gamma"):
        projected.check_gamma("1")
    with pytest.raises(ValueError, match="gamma"):
        simulate_variant(lt.Problem.random(seed=0, **SHAPE), "ft-projected", [1.0])
    with pytest.raises(ValueError, match="gamma"):
        simulate_variant(lt.Problem.random(seed=0, **SHAPE), "ft-projected", [1.0], gamma=-0.5)

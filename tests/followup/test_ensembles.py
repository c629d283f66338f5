"""Weight against output ensembles (issue 15, item 5): the exact difference of the predictors at every α and at
α = 1/2 on full matrices, the OOD losses against e(α) in closed form and against the WiSE-FT trajectory, convexity
of the output ensemble's loss; the follow-up run (slow)."""

import json

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.followup import ensembles
from lpft_theory.metrics import trajectory_metrics
from lpft_theory.variants import wise

SHAPE = dict(d=12, k=2, m=4, n=8)
ALPHAS = np.linspace(-0.5, 1.5, 21)


@pytest.fixture(scope="module")
def setup():
    p = lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)
    rp, th0, th1, traj = wise.endpoints(p, "init", 2.0)
    return p, rp, th0, th1


def test_difference_formula_on_full_matrices(setup):
    """f_W(x) - f_O(x) = -alpha(1 - alpha)(v1 - v0)^T (B1 - B0) x, from the definitions, for random x in R^d."""
    p, rp, (v0, BS0), (v1, BS1) = setup
    B0, B1 = np.asarray(rp.lift_B(BS0)), np.asarray(rp.lift_B(BS1))
    v0, v1 = np.asarray(v0), np.asarray(v1)
    x = np.random.default_rng(0).standard_normal((50, p.d))
    for a in list(ALPHAS) + [0.5]:
        va, Ba = (1 - a) * v0 + a * v1, (1 - a) * B0 + a * B1
        f_w = (x @ Ba.T) @ va
        f_o = (1 - a) * (x @ B0.T) @ v0 + a * (x @ B1.T) @ v1
        expected = -a * (1 - a) * (x @ (B1 - B0).T) @ (v1 - v0)
        assert np.max(np.abs(f_w - f_o - expected)) <= 1e-12 * max(1.0, np.max(np.abs(f_w)))
    half = -((x @ (B1 - B0).T) @ (v1 - v0)) / 4
    d = ensembles.predictor_difference([0.5], v0, B0, v1, B1)[0]
    assert np.max(np.abs(x @ d - half)) <= 1e-12 * max(1.0, np.max(np.abs(half)))
    assert np.max(np.abs(d)) > 1e-3  # the two ensembles do differ here


def test_ood_losses_closed_form(setup):
    """L_O(alpha) = ((1-a)e0 + a e1)^T S (..) and L_W = (e_O - a(1-a)c)^T S (..); L_W equals WiSE-FT's metric."""
    p, rp, (v0, BS0), (v1, BS1) = setup
    B0, B1 = np.asarray(rp.B_red(BS0)), np.asarray(rp.B_red(BS1))
    v0, v1 = np.asarray(v0), np.asarray(v1)
    w, S = np.asarray(rp.w_red), np.asarray(rp.sigma_red)
    Lw, Lo = ensembles.ood_losses(ALPHAS, v0, B0, v1, B1, w, S)
    e0, e1, c = B0.T @ v0 - w, B1.T @ v1 - w, (B1 - B0).T @ (v1 - v0)
    eo = (1 - ALPHAS)[:, None] * e0 + ALPHAS[:, None] * e1
    ew = eo - (ALPHAS * (1 - ALPHAS))[:, None] * c
    assert np.allclose(Lo, np.einsum("ai,ij,aj->a", eo, S, eo), rtol=1e-12, atol=1e-15)
    assert np.allclose(Lw, np.einsum("ai,ij,aj->a", ew, S, ew), rtol=1e-12, atol=1e-15)
    traj = wise.wise_ft(p, ALPHAS, "init", ft_time=2.0)
    assert np.allclose(Lw, trajectory_metrics(traj, perp=False)["ood_loss"], rtol=1e-10, atol=1e-14)
    inside = (ALPHAS >= 0) & (ALPHAS <= 1)
    chord = (1 - ALPHAS) * Lo[np.argmin(np.abs(ALPHAS))] + ALPHAS * Lo[np.argmin(np.abs(ALPHAS - 1))]
    assert np.all(Lo[inside] <= chord[inside] * (1 + 1e-12) + 1e-15)  # convex quadratic in alpha
    assert Lw[np.argmin(np.abs(ALPHAS))] == pytest.approx(Lo[np.argmin(np.abs(ALPHAS))], rel=1e-12)  # same endpoints


@pytest.mark.slow
def test_run_quick():
    data = ensembles.run(quick=True)
    json.dumps(data)
    v = ensembles.verdict(data)
    assert v["agrees"] in ("yes", "no", "partly") and "α=½" in v["line"]
    for f in ("init", "lp"):
        assert np.allclose(np.asarray(data[f]["ood_weight"])[:, 0], np.asarray(data[f]["ood_output"])[:, 0])
    assert ensembles.plot(data).axes
    assert (ensembles.case_problem(data) is None) == (data["case"] is None)

"""Early-stopped LP, then FT: tau = 0 is plain FT, tau = inf is LP-FT, the energy is the LP loss at tau (scipy's
matrix exponential in full coordinates), and balancedness gives the feature norm from the two head norms."""

import math

import numpy as np
import pytest
import scipy.linalg

import lpft_theory as lt
from lpft_theory.followup import early_lp


@pytest.fixture(scope="module")
def setup():
    p = early_lp.problem(0)
    grid = np.array([0.0, 0.05, 1.0, math.inf])
    return p, grid, early_lp.sweep(p, grid)


def _full_measures(traj, p):
    B = np.asarray(traj.B()[-1])  # the lifted d-dimensional features
    B0 = np.asarray(p.B0)
    return dict(distance=np.linalg.norm(B - B0), dot=np.sum(B * B0), norm=np.linalg.norm(B),
                cosine=np.sum(B * B0) / (np.linalg.norm(B) * np.linalg.norm(B0)))


def test_tau_zero_is_ft_and_tau_inf_is_lpft(setup):
    p, grid, r = setup
    for i, method in ((0, "ft"), (-1, "lpft")):
        full = _full_measures(lt.simulate(p, method, [math.inf]), p)
        for key, value in full.items():
            assert abs(r[key][i] - value) <= 1e-8 * max(1.0, abs(value)), (method, key, r[key][i], value)
    assert all(r["converged"])


def test_energy_is_the_lp_loss_at_tau(setup):
    p, grid, r = setup
    X, y, B0, v0 = (np.asarray(a) for a in (p.X, p.y, p.B0, p.v0))
    A = 2.0 * B0 @ X.T @ X @ B0.T
    v_inf = np.linalg.solve(A, 2.0 * B0 @ X.T @ y)
    for tau, energy in zip(grid, r["energy"]):
        v = v_inf if math.isinf(tau) else v_inf + scipy.linalg.expm(-tau * A) @ (v0 - v_inf)
        expected = np.sum((X @ (B0.T @ v) - y) ** 2)
        assert abs(energy - expected) <= 1e-10 * max(1.0, expected), (tau, energy, expected)
    assert np.all(np.diff(r["energy"]) <= 1e-12)  # LP is a gradient flow: the energy never grows with tau


def test_balancedness_gives_the_feature_norm(setup):
    p, grid, r = setup
    predicted = np.sqrt(r["norm0"] ** 2 + r["head_norm_end"] ** 2 - r["head_norm_start"] ** 2)
    np.testing.assert_allclose(r["norm"], predicted, rtol=1e-8)
    np.testing.assert_allclose(r["norm0"], np.linalg.norm(np.asarray(p.B0)), rtol=1e-12)


def test_interior_peak_and_verdict_on_constructed_data():
    assert early_lp.interior_peak([1.0, 2.0, 1.5]) == 1
    assert early_lp.interior_peak([1.0, 2.0, 3.0]) == -1
    assert early_lp.interior_peak([3.0, 2.0, 3.0]) == -1
    row = dict(seed=0, dot=[1.0, 2.0, 1.0], norm=[1.0, 1.0, 1.0], distance=[2.0, 1.0, 0.5], energy=[3.0, 1.0, 0.1])
    row.update(peak_dot=early_lp.interior_peak(row["dot"]), peak_norm=early_lp.interior_peak(row["norm"]))
    data = dict(taus=[0.0, 1.0, math.inf], seeds=[row])
    v = early_lp.verdict(data)
    assert v["agrees"] == "no" and "1/1 seeds (tau = 1)" in v["line"] and "0/1" in v["line"]

"""Discrete GD with layer-wise step sizes (issue 7): first-order convergence to the flow,
the exact LP stability limit, divergence reported not raised, S⊥ frozen on full matrices."""

import warnings

import numpy as np
import pytest
import scipy.integrate

import lpft_theory as lt
from lpft_theory.variants import gd

SHAPE = dict(d=12, k=2, m=4, n=8)  # shared with the core tests (one compile)
T = 0.5


@pytest.fixture(scope="module")
def problem():
    return lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)


def _end(res):
    tr = res
    return np.asarray(tr.v[-1]), np.asarray(tr.B()[-1])


def _err(res, v, B):
    a, b = _end(res)
    return np.sqrt(np.sum((a - v) ** 2) + np.sum((b - B) ** 2))


def test_gd_converges_to_ft_flow_at_first_order(problem):
    """lr = T/steps, lr·steps = T fixed: the error at T halves when the step halves (slope ≈ 1)."""
    ref = lt.simulate(problem, "ft", [T], rtol=1e-12, atol=1e-14)
    v, B = np.asarray(ref.v[-1]), np.asarray(ref.B()[-1])
    steps = np.array([200, 400, 800, 1600])
    errs = np.array([_err(gd.simulate_gd(problem, T / s, T / s, int(s), save_at=np.array([0, s])), v, B)
                     for s in steps])
    ratios = errs[:-1] / errs[1:]
    slope = np.polyfit(np.log(T / steps), np.log(errs), 1)[0]
    assert np.all(np.abs(ratios - 2.0) < 0.25), ratios
    assert 0.9 < slope < 1.15, (slope, errs)


def test_layerwise_rates_converge_to_weighted_flow(problem):
    """(lr_v, lr_B) = η(a, b) converges to v' = -a ∇_v L, B' = -b ∇_B L: independent scipy DOP853 on full matrices."""
    a, b = 1.0, 0.25
    X, y, B0, v0 = (np.asarray(q) for q in (problem.X, problem.y, problem.B0, problem.v0))
    k, d = B0.shape

    def f(t, z):
        v, B = z[:k], z[k:].reshape(k, d)
        g = X.T @ (X @ (B.T @ v) - y)
        return np.concatenate([-2 * a * B @ g, (-2 * b * np.outer(v, g)).ravel()])

    sol = scipy.integrate.solve_ivp(f, (0, T), np.concatenate([v0, B0.ravel()]), method="DOP853",
                                    rtol=1e-12, atol=1e-13)
    v, B = sol.y[:k, -1], sol.y[k:, -1].reshape(k, d)
    steps = np.array([400, 800])
    errs = np.array([_err(gd.simulate_gd(problem, a * T / s, b * T / s, int(s), save_at=np.array([0, s])), v, B)
                     for s in steps])
    assert abs(errs[0] / errs[1] - 2.0) < 0.25, errs
    # and it is a different flow from FT (b != a changes the answer by much more than the GD error)
    ft = lt.simulate(problem, "ft", [T], rtol=1e-12, atol=1e-14)
    assert np.linalg.norm(np.asarray(ft.B()[-1]) - B) > 100 * errs[-1]


def test_perp_part_frozen_on_full_matrices(problem):
    res = gd.simulate_gd(problem, 0.02, 0.05, 500, coords="full", save_at=np.array([0, 500]))
    B = np.asarray(res.B_full[-1])  # the iterated full B
    B0, X = np.asarray(problem.B0), np.asarray(problem.X)
    U = np.linalg.svd(X, full_matrices=False)[2][: SHAPE["m"]].T  # basis of S, computed here
    D = B - B0
    assert np.linalg.norm(D - (D @ U) @ U.T, 2) < 1e-13  # (B - B0) Π_S⊥ = 0
    assert np.linalg.norm(D @ U) > 1e-2  # B moved inside S
    # the reduced iteration lifts to the same full iterates
    red = gd.simulate_gd(problem, 0.02, 0.05, 500, save_at=np.array([0, 500]))
    np.testing.assert_allclose(np.asarray(red.B()), np.asarray(res.B()), atol=1e-12)


def test_lr_B_zero_is_gd_on_lp_with_exact_stability_limit(problem):
    """lr_B = 0: linear iteration v ← v - lr (A v - b), A = 2 B0 XᵀX B0ᵀ; stable iff lr < 2/λ_max(A)."""
    X, y, B0, v0 = (np.asarray(q) for q in (problem.X, problem.y, problem.B0, problem.v0))
    A = 2 * B0 @ X.T @ X @ B0.T
    bvec = 2 * B0 @ X.T @ y
    limit = 2.0 / np.linalg.eigvalsh(A)[-1]
    res0 = gd.simulate_gd(problem, 0.5 * limit, 0.0, 1)
    assert abs(res0.info["lp_stability_limit"] / limit - 1) < 1e-10
    lr, steps = 0.9 * limit, 300
    res = gd.simulate_gd(problem, lr, 0.0, steps, save_every=50)
    v = v0.copy()
    for s in range(1, steps + 1):  # the iteration itself, written out
        v = v - lr * (A @ v - bvec)
        if s % 50 == 0:
            np.testing.assert_allclose(np.asarray(res.v[s // 50]), v, rtol=1e-9, atol=1e-12)
    assert not res.info["diverged"]
    with pytest.warns(gd.DivergenceWarning, match="diverged"):
        bad = gd.simulate_gd(problem, 1.1 * limit, 0.0, 3000, save_at=np.array([0, 3000]))
    assert bad.info["diverged"] and bad.info["diverged_at"] is not None and 1 <= bad.info["diverged_at"] <= 3000


def test_divergence_is_reported_not_raised(problem):
    with pytest.warns(gd.DivergenceWarning, match="stability limit"):
        res = gd.simulate_gd(problem, 2.0, 2.0, 200, save_at=np.array([0, 1, 2, 3, 5, 10, 100, 200]))
    assert res.info["diverged"] and res.info["diverged_at"] >= 1
    steps = res.times
    v = np.asarray(res.v)
    assert np.all(np.isnan(v[steps >= res.info["diverged_at"]]))
    assert np.all(np.isfinite(v[steps < res.info["diverged_at"]]))
    assert res.info["stability_ratio_start"] > 1
    with warnings.catch_warnings():  # warn=False silences, the record stays
        warnings.simplefilter("error")
        assert gd.simulate_gd(problem, 2.0, 2.0, 200, save_at=np.array([0, 200]), warn=False).info["diverged"]


def test_converged_runs_end_at_linearly_stable_minima(problem):
    """GD can only settle where ρ ≤ 1 (edge of stability: some start with ρ > 1 and still converge)."""
    started_unstable = 0
    for lr in (0.01, 0.05, 0.1, 0.15):
        res = gd.simulate_gd(problem, lr, lr, 4000, save_at=np.array([0, 4000]), warn=False)
        if res.info["diverged"]:
            continue
        assert res.info["grad_norm_end"] < 1e-8, (lr, res.info["grad_norm_end"])
        assert res.info["stability_ratio_end"] <= 1 + 1e-6, (lr, res.info["stability_ratio_end"])
        started_unstable += res.info["stability_ratio_start"] > 1
    assert started_unstable >= 1


def test_lp_init_starts_at_lp_solution(problem):
    X, y, B0 = (np.asarray(q) for q in (problem.X, problem.y, problem.B0))
    res = gd.simulate_gd(problem, 0.01, 0.01, 10, init="lp", save_at=np.array([0, 10]))
    np.testing.assert_allclose(np.asarray(res.v[0]), np.linalg.lstsq(X @ B0.T, y, rcond=None)[0],
                               atol=1e-10)


def test_bad_input(problem):
    for kw in (dict(lr_v=-0.1, lr_B=0.1, steps=10), dict(lr_v=0.1, lr_B=float("nan"), steps=10),
               dict(lr_v=0.0, lr_B=0.0, steps=10), dict(lr_v=0.1, lr_B=0.1, steps=0),
               dict(lr_v=0.1, lr_B=0.1, steps=2.5)):
        with pytest.raises(ValueError):
            gd.simulate_gd(problem, **kw)
    with pytest.raises(ValueError, match="init"):
        gd.simulate_gd(problem, 0.1, 0.1, 10, init="warm")
    with pytest.raises(ValueError, match="save_at"):
        gd.simulate_gd(problem, 0.1, 0.1, 10, save_at=np.array([0, 20]))


def test_gtol_stops_at_a_stationary_point(problem):
    res = gd.simulate_gd(problem, 0.01, 0.01, 100000, gtol=1e-9, save_at=np.array([0, 50000, 100000]))
    assert res.info["converged_at"] is not None and res.info["converged_at"] < 50000
    assert res.info["grad_norm_end"] <= 1e-9 * max(1.0, _first_grad(problem))
    v = np.asarray(res.v)
    assert np.array_equal(v[1], v[2]) and not res.info["diverged"]
    # stationary: the FT gradient (core) is tiny there
    tr = res
    assert float(lt.flows.ft_gradient_norm(tr.rp, tr.v[-1], tr.B_S[-1])) <= 1e-9 * max(1.0, _first_grad(problem))


def _first_grad(p):
    rp = lt.reduce(p)
    return float(lt.flows.ft_gradient_norm(rp, rp.v0, rp.B_S0))

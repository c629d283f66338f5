"""L2-SP (issue 7): λ = 0 is FT, λ → ∞ approaches LP at rate 1/λ, S⊥ frozen on full matrices,
the reduced flow against an independent scipy integration of the full penalised flow."""

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

import lpft_theory as lt
from lpft_theory.variants import l2sp
from lpft_theory.metrics import perp_drift, trajectory_metrics

SHAPE = dict(d=12, k=2, m=4, n=8)  # shared with the core tests (one compile)
TIMES = [0.0, 1.0, 2.0]  # three save times, as in the core tests (shared compile)


@pytest.fixture(scope="module")
def problem():
    return lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)


def _scipy_full_l2sp(p, lam, times):
    """Independent: DOP853 on the full (k + k d) penalised flow, straight from the gradients."""
    X, y, B0, v0 = (np.asarray(a) for a in (p.X, p.y, p.B0, p.v0))
    k, d = B0.shape

    def f(t, z):
        v, B = z[:k], z[k:].reshape(k, d)
        r = X @ (B.T @ v) - y
        g = X.T @ r
        return np.concatenate([-2 * B @ g, (-2 * np.outer(v, g) - 2 * lam * (B - B0)).ravel()])

    sol = scipy.integrate.solve_ivp(f, (0, times[-1]), np.concatenate([v0, B0.ravel()]), method="DOP853",
                                    t_eval=times, rtol=1e-12, atol=1e-13)
    assert sol.success
    return sol.y[:k].T, sol.y[k:].T.reshape(len(times), k, d)


def test_lambda_zero_is_ft(problem):
    a = l2sp.simulate_l2sp(problem, 0.0, TIMES, solver="tsit5")
    ft = lt.simulate(problem, "ft", TIMES)
    assert np.max(np.abs(np.asarray(a.v) - np.asarray(ft.v))) <= 1e-9
    assert np.max(np.abs(np.asarray(a.B()) - np.asarray(ft.B()))) <= 1e-9


@pytest.mark.parametrize("lam", [0.0, 2.0, 50.0])
def test_reduced_flow_matches_full_scipy_and_perp_frozen(problem, lam):
    """The reduced L2-SP flow, lifted, equals an independent full-matrix integration; on that
    full solution the S⊥ part of B is measured to stay at B0 (the derivation in l2sp.py)."""
    tr = l2sp.simulate_l2sp(problem, lam, TIMES, solver="tsit5")
    v, B = _scipy_full_l2sp(problem, lam, np.asarray(TIMES))
    np.testing.assert_allclose(np.asarray(tr.v), v, atol=1e-8)
    np.testing.assert_allclose(np.asarray(tr.B()), B, atol=1e-8)
    U = np.asarray(tr.rp.U_S)
    B0 = np.asarray(problem.B0)
    assert max(float(perp_drift(b, B0, U)) for b in B) < 1e-11
    assert np.linalg.norm(B[-1] - B0) > 1e-3  # B did move (inside S)
    if lam > 0:  # the penalty changed the answer
        ft = lt.simulate(problem, "ft", TIMES)
        assert np.max(np.abs(np.asarray(ft.B()) - B)) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("lam", [0.5, 50.0])
def test_perp_part_frozen_full_coords(problem, lam):
    """Our own full-coordinate integration (coords='full'): S⊥ drift measured on the integrated B."""
    tr = l2sp.simulate_l2sp(problem, lam, TIMES, solver="tsit5", coords="full")
    m = trajectory_metrics(tr)
    assert np.max(m["perp_drift"]) < 1e-12
    assert np.max(m["distortion_id"]) > 1e-3


def test_large_lambda_approaches_lp(problem):
    """sup_t (‖v - v_lp(t)‖ + ‖B - B0‖_F) → 0 like 1/λ; v_lp(t) by scipy expm, independent of the core."""
    X, y, B0, v0 = (np.asarray(a) for a in (problem.X, problem.y, problem.B0, problem.v0))
    A = 2 * B0 @ X.T @ X @ B0.T
    v_inf = np.linalg.solve(A, 2 * B0 @ X.T @ y)
    v_lp = np.stack([v_inf + scipy.linalg.expm(-t * A) @ (v0 - v_inf) for t in TIMES])
    lams = np.array([1e1, 1e2, 1e3, 1e4])
    errs = []
    for lam in lams:
        tr = l2sp.simulate_l2sp(problem, lam, TIMES, solver="tsit5")
        dv = np.linalg.norm(np.asarray(tr.v) - v_lp, axis=1)
        dB = np.linalg.norm(np.asarray(tr.B()) - B0, axis=(1, 2))
        errs.append(np.max(dv + dB))
    errs = np.array(errs)
    assert np.all(np.diff(errs) < 0), errs
    slope = np.polyfit(np.log(lams[1:]), np.log(errs[1:]), 1)[0]
    assert -1.15 < slope < -0.85, (slope, errs)
    # λ·err settles: the O(1/λ) constant of the last two agrees to 10 %
    c = lams * errs
    assert abs(c[-1] / c[-2] - 1) < 0.1, c
    assert errs[-1] < 1e-2


def test_objective_non_increasing_and_balancedness_broken(problem):
    lam = 2.0
    tr = l2sp.simulate_l2sp(problem, lam, [0.0, 0.5, 2.0], solver="tsit5")
    X, y, B0 = (np.asarray(a) for a in (problem.X, problem.y, problem.B0))
    v, B = np.asarray(tr.v), np.asarray(tr.B())
    J = [np.sum((X @ (b.T @ u) - y) ** 2) + lam * np.sum((b - B0) ** 2) for u, b in zip(v, B)]  # on full arrays
    np.testing.assert_allclose(J, [float(l2sp.penalised_objective(tr.rp, lam, u, b)) for u, b in zip(tr.v, tr.B_S)],
                               rtol=1e-10)
    assert np.all(np.diff(J) <= 1e-12)
    # Lemma A.4 needs λ = 0: with the penalty vv^T - BB^T drifts
    bal = [np.outer(u, u) - b @ b.T for u, b in zip(v, B)]
    assert np.linalg.norm(bal[-1] - bal[0]) > 1e-3


def test_bad_input(problem):
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="lambda"):
            l2sp.simulate_l2sp(problem, bad, TIMES)
    with pytest.raises(TypeError, match="lambda"):
        l2sp.simulate_l2sp(problem, "big", TIMES)
    with pytest.raises(ValueError, match="init"):
        l2sp.simulate_l2sp(problem, 1.0, TIMES, init="warm")


@pytest.mark.slow
def test_limit_at_infinity_approaches_lp_limit(problem):
    """t = ∞: the L2-SP stationary point tends to (v_lp^∞, B0) like 1/λ."""
    X, y, B0 = (np.asarray(a) for a in (problem.X, problem.y, problem.B0))
    v_inf = np.linalg.lstsq(X @ B0.T, y, rcond=None)[0]
    lams = np.array([1e2, 1e3, 1e4])
    errs = []
    for lam in lams:
        tr = l2sp.simulate_l2sp(problem, lam, [0.0, float("inf")])
        assert tr.converged
        errs.append(np.linalg.norm(np.asarray(tr.v[-1]) - v_inf) + np.linalg.norm(np.asarray(tr.B()[-1]) - B0))
    slope = np.polyfit(np.log(lams), np.log(errs), 1)[0]
    assert -1.15 < slope < -0.85, (slope, errs)

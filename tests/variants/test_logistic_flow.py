"""The logistic loss (issue 15, item 6): S⊥ features frozen (Lemma A.3) and balancedness along FT-logistic,
an independent scipy integration, the loss non-increasing, the LP head norm growing like log t / margin on
separable features, and inf times refused."""

import numpy as np
import pytest
import scipy.integrate
from scipy.optimize import minimize
from scipy.special import expit

import lpft_theory as lt
from lpft_theory.variants import logistic
from lpft_theory.variants.dispatch import simulate_variant

SHAPE = dict(d=12, k=2, m=4, n=8)
#: One save grid for every run here (one compile per field).
TIMES = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 20)])


@pytest.fixture(scope="module")
def problem():
    return lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)


@pytest.fixture(scope="module")
def ft_full(problem):
    return logistic.simulate_logistic(problem, "ft-logistic", TIMES, coords="full")


def _scipy_full_ft(p, times):
    """Independent: DOP853 on the full (k + k d) logistic FT flow, gradients written out here."""
    X, B0, v0, w = (np.asarray(a) for a in (p.X, p.B0, p.v0, p.w_star))
    s = np.sign(X @ w)
    k, d = B0.shape

    def f(t, z):
        v, B = z[:k], z[k:].reshape(k, d)
        g = -s * expit(-s * (X @ (B.T @ v)))
        q = X.T @ g
        return np.concatenate([-B @ q, (-np.outer(v, q)).ravel()])

    sol = scipy.integrate.solve_ivp(f, (0, times[-1]), np.concatenate([v0, B0.ravel()]), method="DOP853",
                                    t_eval=times, rtol=1e-13, atol=1e-14)
    assert sol.success
    return sol.y[:k].T, sol.y[k:].T.reshape(len(times), k, d)


def test_ft_logistic_matches_scipy(problem, ft_full):
    v_ref, B_ref = _scipy_full_ft(problem, TIMES)
    assert np.max(np.abs(np.asarray(ft_full.v) - v_ref)) <= 1e-8
    assert np.max(np.abs(np.asarray(ft_full.B_full) - B_ref)) <= 1e-8
    red = logistic.simulate_logistic(problem, "ft-logistic", TIMES)
    U = np.asarray(red.rp.U_S)
    assert np.max(np.abs(np.asarray(red.v) - v_ref)) <= 1e-8
    assert np.max(np.abs(np.asarray(red.B_S) - B_ref @ U)) <= 1e-8


def test_lemma_a3_and_balancedness(problem, ft_full):
    B, B0 = np.asarray(ft_full.B_full), np.asarray(problem.B0)
    U = np.asarray(ft_full.rp.U_S)
    D = B - B0[None]
    assert np.max(np.linalg.norm(D - (D @ U) @ U.T, axis=(1, 2))) <= 1e-12  # S-perp features frozen
    assert np.max(np.linalg.norm(D, axis=(1, 2))) > 0.1  # while the features do move
    v = np.asarray(ft_full.v)
    bal = np.einsum("ti,tj->tij", v, v) - np.einsum("tkd,tjd->tkj", B, B)
    scale = max(1.0, float(np.max(np.abs(bal))))
    assert np.max(np.abs(bal - bal[0])) <= 1e-9 * scale


def test_loss_non_increasing(problem, ft_full):
    for tr in (ft_full, logistic.simulate_logistic(problem, "lp-logistic", TIMES),
               simulate_variant(problem, "lpft-logistic", TIMES, lp_time=5.0)):
        L = tr.info["logistic_loss"]
        assert np.all(np.diff(L) <= 1e-12 * L[0]), tr.method
        assert L[-1] < L[0]


def test_lp_fixes_features_and_lpft_continues_lp(problem):
    lp = logistic.simulate_logistic(problem, "lp-logistic", TIMES)
    assert np.array_equal(np.asarray(lp.B_S), np.broadcast_to(np.asarray(lp.rp.B_S0), lp.B_S.shape))
    lpft = logistic.simulate_logistic(problem, "lpft-logistic", TIMES, lp_time=float(TIMES[-1]))
    assert np.max(np.abs(np.asarray(lpft.v[0]) - np.asarray(lp.v[-1]))) <= 1e-12  # FT starts where LP ended


def test_lp_head_norm_grows_like_log_t_over_margin():
    """Separable features (eps = 0, so w* is in rowspace(B0)): ||v(t)|| ~ ||u|| log t with u the hard-margin SVM
    solution in feature space (min ||u|| s.t. s_i u.phi_i >= 1), i.e. slope 1/margin. Constant tested:
    ||u|| = 1/gamma_max, computed independently by SLSQP. The fitted slope over t in [1e12, 1e16] must agree to 1e-3."""
    p = lt.Problem.random(seed=0, eps=0.0, head_scale=1.0, **SHAPE)
    ts = np.concatenate([[0.0], np.geomspace(1.0, 1e16, 33)])
    tr = logistic.simulate_logistic(p, "lp-logistic", ts)
    rp = tr.rp
    phi = np.asarray(rp.Z @ rp.B_S0.T)
    s = np.sign(np.asarray(rp.Z @ rp.w_red[: rp.m]))
    res = minimize(lambda u: u @ u, np.ones(2), jac=lambda u: 2 * u, method="SLSQP",
                   constraints=[dict(type="ineq", fun=lambda u: s * (phi @ u) - 1, jac=lambda u: s[:, None] * phi)],
                   options=dict(ftol=1e-15, maxiter=500))
    assert res.success
    u_norm = np.linalg.norm(res.x)
    nv = np.linalg.norm(np.asarray(tr.v), axis=1)
    late = ts >= 1e12
    slope = np.polyfit(np.log(ts[late]), nv[late], 1)[0]
    assert abs(slope - u_norm) <= 1e-3 * u_norm
    direction = np.asarray(tr.v[-1]) / nv[-1]
    assert np.linalg.norm(direction - res.x / u_norm) <= 0.05  # direction -> max-margin (slowly, O(1/log t))


def test_inf_times_and_bad_options_refused(problem):
    with pytest.raises(ValueError, match="times"):
        logistic.simulate_logistic(problem, "ft-logistic", [0.0, 1.0, np.inf])
    with pytest.raises(ValueError, match="times"):
        simulate_variant(problem, "lp-logistic", [np.inf])
    with pytest.raises(ValueError, match="lp_time"):
        simulate_variant(problem, "lpft-logistic", [1.0])
    with pytest.raises(ValueError, match="lp_time"):
        logistic.simulate_logistic(problem, "lpft-logistic", [1.0], lp_time=np.inf)
    with pytest.raises(ValueError, match="lp_time"):
        logistic.simulate_logistic(problem, "ft-logistic", [1.0], lp_time=1.0)
    with pytest.raises(ValueError, match="method"):
        logistic.simulate_logistic(problem, "gd-logistic", [1.0])

"""Frozen-head FT (issue 7): closed form vs diffrax vs an independent full scipy integration;
what replaces balancedness (head-orthogonal rows conserved), S⊥ frozen, loss monotone, the limit."""

import numpy as np
import pytest
import scipy.integrate

import lpft_theory as lt
from lpft_theory.variants import frozen_head as fh
from lpft_theory.metrics import perp_drift, trajectory_metrics

SHAPE = dict(d=12, k=2, m=4, n=8)  # shared with the core tests (one compile)
TIMES = [0.0, 0.2, 1.0]


@pytest.fixture(scope="module")
def problem():
    return lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)


def _scipy_full(p, v, times):
    """Independent: DOP853 on B' = -2 v (Xᵀ(X Bᵀ v - y))ᵀ for full (k, d) B, v fixed."""
    X, y, B0 = (np.asarray(a) for a in (p.X, p.y, p.B0))
    k, d = B0.shape

    def f(t, z):
        B = z.reshape(k, d)
        return (-2 * np.outer(v, X.T @ (X @ (B.T @ v) - y))).ravel()

    sol = scipy.integrate.solve_ivp(f, (0, times[-1]), B0.ravel(), method="DOP853", t_eval=times,
                                    rtol=1e-12, atol=1e-13)
    assert sol.success
    return sol.y.T.reshape(len(times), k, d)


def test_closed_form_matches_full_scipy(problem):
    closed = fh.simulate_frozen_head(problem, TIMES)
    B_ref = _scipy_full(problem, np.asarray(problem.v0), np.asarray(TIMES))
    np.testing.assert_allclose(np.asarray(closed.B()), B_ref, atol=1e-9)
    assert np.all(np.asarray(closed.v) == np.asarray(problem.v0))  # the head never moves


@pytest.mark.slow
def test_diffrax_ode_matches_full_scipy_and_conserves(problem):
    """The ODE path (solver='tsit5', reduced and full coordinates) against the same references."""
    v = np.asarray(problem.v0)
    B_ref = _scipy_full(problem, v, np.asarray(TIMES))
    ode = fh.simulate_frozen_head(problem, TIMES, solver="tsit5")
    np.testing.assert_allclose(np.asarray(ode.B()), B_ref, atol=1e-8)
    for b in np.asarray(ode.B_S):
        assert float(fh.head_orthogonal_drift(v, b, np.asarray(ode.rp.B_S0))) < 1e-10
    full = fh.simulate_frozen_head(problem, TIMES, solver="tsit5", coords="full")
    np.testing.assert_allclose(np.asarray(full.B_full), B_ref, atol=1e-8)
    assert np.max(trajectory_metrics(full)["perp_drift"]) < 1e-12


def test_what_is_conserved(problem):
    """On the full scipy solution: (I - v̂v̂ᵀ)B and BΠ_S⊥ are constant, L̂ non-increasing,
    while vvᵀ - BBᵀ (Lemma A.4's invariant under FT) drifts."""
    v = np.asarray(problem.v0)
    times = np.linspace(0.0, 1.0, 11)
    B = _scipy_full(problem, v, times)
    B0, X, y = (np.asarray(a) for a in (problem.B0, problem.X, problem.y))
    U = np.linalg.svd(X, full_matrices=False)[2][: SHAPE["m"]].T
    P = np.eye(len(v)) - np.outer(v, v) / (v @ v)
    for b in B:
        assert np.linalg.norm(P @ (b - B0)) < 1e-10
        assert float(fh.head_orthogonal_drift(v, b, B0)) < 1e-10
        assert float(perp_drift(b, B0, U)) < 1e-10
    loss = np.array([np.sum((X @ (b.T @ v) - y) ** 2) for b in B])
    assert np.all(np.diff(loss) <= 1e-12) and loss[-1] < 0.5 * loss[0]
    bal = [np.linalg.norm((np.outer(v, v) - b @ b.T) - (np.outer(v, v) - B0 @ B0.T)) for b in B]
    assert bal[-1] > 1e-3


def test_limit(problem):
    """t = ∞: zero training loss and e = Π_S⊥(B0ᵀv - w*) exactly (w changes by the min-norm amount)."""
    tr = fh.simulate_frozen_head(problem, [0.0, float("inf")])
    v, B0, X, w_star = (np.asarray(a) for a in (problem.v0, problem.B0, problem.X, problem.w_star))
    U = np.linalg.svd(X, full_matrices=False)[2][: SHAPE["m"]].T
    e_want = (np.eye(X.shape[1]) - U @ U.T) @ (B0.T @ v - w_star)
    e = np.asarray(tr.w()[-1]) - w_star
    np.testing.assert_allclose(e, e_want, atol=1e-10)
    y = np.asarray(problem.y)
    w = np.asarray(tr.w())
    train = [np.sum((X @ wi - y) ** 2) for wi in w]
    assert train[-1] < 1e-20 and train[0] > 1e-2


def test_zero_head_does_not_move():
    p = lt.Problem.random(seed=3, eps=0.3, head="zero", **SHAPE)
    tr = fh.simulate_frozen_head(p, [0.0, 1.0, float("inf")])
    assert np.all(np.asarray(tr.B_S) == np.asarray(tr.rp.B_S0)[None])  # exactly
    np.testing.assert_allclose(np.asarray(tr.B()), np.broadcast_to(np.asarray(p.B0), (3,) + p.B0.shape), atol=1e-14)


def test_lp_head(problem):
    X, y, B0 = (np.asarray(a) for a in (problem.X, problem.y, problem.B0))
    v_lp = np.linalg.lstsq(X @ B0.T, y, rcond=None)[0]
    tr = fh.simulate_frozen_head(problem, [0.0, 1.0], init="lp")
    np.testing.assert_allclose(np.asarray(tr.v), np.stack([v_lp, v_lp]), atol=1e-10)
    B_ref = _scipy_full(problem, v_lp, np.array([0.0, 1.0]))
    np.testing.assert_allclose(np.asarray(tr.B()), B_ref, atol=1e-9)


def test_bad_input(problem):
    with pytest.raises(ValueError, match="init"):
        fh.simulate_frozen_head(problem, TIMES, init="warm")
    with pytest.raises(ValueError, match="solver"):
        fh.simulate_frozen_head(problem, TIMES, solver="euler")
    with pytest.raises(ValueError, match="times"):
        fh.simulate_frozen_head(problem, [1.0, 0.5])

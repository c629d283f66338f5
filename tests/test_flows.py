"""The flows against independent references: scipy integrations of the full-dimensional
gradient flow written here from the gradient formulas, closed forms, invariants and limits."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

import lpft_theory as lt
from lpft_theory import flows, metrics

# one shape for most tests (one JAX compilation)
SHAPE = dict(d=12, k=2, m=4, n=8)


def full_ft_rhs(X, y):
    """FT gradient flow of L(v,B) = ||X B^T v - y||^2 on the flattened state (v, B), from docs/theory.md §1."""
    def rhs(t, s, k=None):
        k = rhs.k
        v, B = s[:k], s[k:].reshape(k, -1)
        r = X @ (B.T @ v) - y
        gv = 2 * B @ (X.T @ r)
        gB = 2 * np.outer(v, X.T @ r)
        return -np.concatenate([gv, gB.ravel()])
    return rhs


def scipy_ft(problem, times, rtol=1e-12, atol=1e-14):
    X, y = np.asarray(problem.X), np.asarray(problem.y)
    B0, v0 = np.asarray(problem.B0), np.asarray(problem.v0)
    k = B0.shape[0]
    rhs = full_ft_rhs(X, y)
    rhs.k = k
    sol = scipy.integrate.solve_ivp(rhs, (0.0, times[-1]), np.concatenate([v0, B0.ravel()]), method="DOP853",
                                    t_eval=times, rtol=rtol, atol=atol)
    assert sol.success
    return sol.y[:k].T, sol.y[k:].T.reshape(len(times), k, -1)


@pytest.mark.parametrize("seed,eps,head", [(0, 0.1, "random"), (1, 0.5, "random"), (2, 0.05, "zero")])
def test_ft_matches_independent_scipy_full_flow(seed, eps, head):
    p = lt.Problem.random(seed=seed, eps=eps, head=head, head_scale=0.5, **SHAPE)
    times = np.array([0.0, 0.01, 0.1, 0.5, 2.0])
    v_ref, B_ref = scipy_ft(p, times)
    traj = lt.simulate(p, "ft", times)
    np.testing.assert_allclose(np.asarray(traj.v), v_ref, atol=1e-7, rtol=0)
    np.testing.assert_allclose(np.asarray(traj.B()), B_ref, atol=1e-7, rtol=0)
    full = lt.simulate(p, "ft", times, coords="full")
    np.testing.assert_allclose(np.asarray(full.v), v_ref, atol=1e-7, rtol=0)
    np.testing.assert_allclose(np.asarray(full.B()), B_ref, atol=1e-7, rtol=0)


def test_lp_closed_form_against_ode_and_expm():
    p = lt.Problem.random(seed=3, eps=0.2, **SHAPE)
    times = np.array([0.0, 1e-6, 0.01, 0.3, 3.0, 30.0])
    closed = np.asarray(lt.simulate(p, "lp", times).v)
    ode = np.asarray(lt.simulate(p, "lp", times, lp_solver="ode").v)
    assert np.max(np.abs(closed - ode)) <= 1e-9
    # independent: v(t) = v_inf + expm(-tA)(v0 - v_inf) with A, b from the full arrays
    X, y, B0, v0 = (np.asarray(a) for a in (p.X, p.y, p.B0, p.v0))
    A = 2 * B0 @ X.T @ X @ B0.T
    v_inf = np.linalg.solve(B0 @ X.T @ X @ B0.T, B0 @ X.T @ y)
    ref = np.stack([v_inf + scipy.linalg.expm(-t * A) @ (v0 - v_inf) for t in times])
    np.testing.assert_allclose(closed, ref, atol=1e-12, rtol=0)
    # limits: t = 0 gives v0 exactly; t = inf gives the normal-equation solution
    np.testing.assert_array_equal(closed[0], v0)
    np.testing.assert_allclose(np.asarray(lt.lp_limit(lt.reduce(p))), v_inf, atol=1e-12)
    # small-t accuracy of expm1: v(t) - v0 ~ -t * grad at t = 1e-6
    grad = A @ v0 - 2 * B0 @ X.T @ y
    np.testing.assert_allclose((closed[1] - v0) / 1e-6, -grad, rtol=1e-5)


def test_lp_closed_form_with_singular_A_keeps_null_component():
    # k = 3 features but m = 2 training directions: X B0^T is not injective.
    p = lt.Problem.random(seed=4, d=12, k=3, m=2, n=4, eps=0.1)
    rp = lt.reduce(p)
    predict = lt.lp_closed_form(rp)
    X, y, B0, v0 = (np.asarray(a) for a in (p.X, p.y, p.B0, p.v0))
    M = X @ B0.T
    v_inf = np.asarray(predict(math.inf))
    # the least-squares solution nearest v0: v0 + pinv(M)(y - M v0)
    ref = v0 + np.linalg.pinv(M) @ (y - M @ v0)
    np.testing.assert_allclose(v_inf, ref, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invariants_over_long_horizon(seed):
    p = lt.Problem.random(seed=seed, eps=0.3, head_scale=1.0, **SHAPE)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 40)])
    traj = lt.simulate(p, "ft", times, coords="full")
    met = lt.trajectory_metrics(traj)
    v0, B0 = np.asarray(p.v0), np.asarray(p.B0)
    scale = np.linalg.norm(np.outer(v0, v0) - B0 @ B0.T)
    # Lemma A.4 (balancedness), measured on the integrated full B
    B = np.asarray(traj.B())
    v = np.asarray(traj.v)
    drift = [np.linalg.norm(np.outer(vi, vi) - Bi @ Bi.T - (np.outer(v0, v0) - B0 @ B0.T)) for vi, Bi in zip(v, B)]
    assert max(drift) / scale <= 1e-9
    # Lemma A.3 (S-perp frozen), measured on the integrated full B
    assert met["perp_drift"].max() <= 1e-12
    # the training loss is non-increasing (up to 1e-13 of its initial value: rounding at the floor)
    L = met["train_loss"]
    assert np.all(np.diff(L) <= 1e-13 * L[0])
    assert L[-1] < 1e-12 * L[0]


def test_reduced_balancedness_and_loss_monotone():
    p = lt.Problem.random(seed=7, eps=0.2, **SHAPE)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 30), [math.inf]])
    traj = lt.simulate(p, "ft", times)
    met = lt.trajectory_metrics(traj)
    scale = np.linalg.norm(np.outer(p.v0, p.v0) - np.asarray(p.B0) @ np.asarray(p.B0).T)
    assert met["balancedness_drift"].max() / scale <= 1e-9
    assert np.all(np.diff(met["train_loss"]) <= 1e-13 * met["train_loss"][0])
    assert traj.converged is True


def test_lpft_with_perfect_features_never_moves_and_ft_does():
    # eps = 0: B0 = U B*, LP reaches U v* and FT from there is at a stationary point (Prop. 3.7)
    p = lt.Problem.random(seed=5, eps=0.0, **SHAPE)
    times = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 12), [math.inf]])
    lpft = lt.trajectory_metrics(lt.simulate(p, "lpft", times))
    assert lpft["ood_loss"].max() <= 1e-20
    assert lpft["ood_loss_identity"].max() <= 1e-20
    ft = lt.trajectory_metrics(lt.simulate(p, "ft", times))
    assert ft["ood_loss"].min() > 1e-6


def test_infinite_time_state_is_the_limit():
    p = lt.Problem.random(seed=8, eps=0.2, **SHAPE)
    rp = lt.reduce(p)
    traj = lt.simulate(rp, "ft", [0.0, math.inf])
    assert traj.converged is True
    assert float(flows.ft_gradient_norm(rp, traj.v[-1], traj.B_S[-1])) <= 1e-10 * max(
        1.0, float(flows.ft_gradient_norm(rp, rp.v0, rp.B_S0)))
    # the scipy full flow at a long time lands on the same limit
    v_ref, B_ref = scipy_ft(p, np.array([0.0, 200.0]), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(np.asarray(traj.v[-1]), v_ref[-1], atol=1e-7)
    np.testing.assert_allclose(np.asarray(traj.B()[-1]), B_ref[-1], atol=1e-7)


def test_reduced_metrics_do_not_depend_on_ambient_dimension():
    # Embedding the same problem in a larger space (zero padding) changes none of the losses.
    p = lt.Problem.random(seed=9, eps=0.2, **SHAPE)
    pad = lambda a, extra: np.concatenate([np.asarray(a), np.zeros(np.asarray(a).shape[:-1] + (extra,))], -1)  # noqa: E731
    q = lt.Problem.from_arrays(pad(p.X, 20), p.y, pad(p.B0, 20), p.v0, pad(p.w_star, 20),
                               B_star=pad(p.B_star, 20), v_star=p.v_star)
    times = [0.0, 0.5, 5.0]
    a = lt.trajectory_metrics(lt.simulate(p, "ft", times))
    b = lt.trajectory_metrics(lt.simulate(q, "ft", times))
    for key in ("train_loss", "id_subspace_loss", "ood_loss", "feature_distance", "distortion_id"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(method="sgd", times=[0, 1]), ValueError, "method must be one of"),
        (dict(method="ft", times=[-1.0, 1.0]), ValueError, "non-negative"),
        (dict(method="ft", times=[0.0, 2.0, 1.0]), ValueError, "strictly increasing"),
        (dict(method="ft", times=[0.0, math.inf, 5.0]), ValueError, "inf is only allowed as the last"),
        (dict(method="ft", times=[0.0, math.nan]), ValueError, "NaN"),
        (dict(method="ft", times=[]), ValueError, "at least one"),
        (dict(method="ft", times=[[0.0, 1.0], [2.0, 3.0]]), ValueError, "one-dimensional"),
        (dict(method="ft", times="0,1"), TypeError, "sequence of numbers"),
        (dict(method="ft", times=["0", "1"]), TypeError, "sequence of numbers"),
        (dict(method="ft", times=[0, 1], rtol=-1.0), ValueError, "rtol"),
        (dict(method="ft", times=[0, 1], solver="euler"), ValueError, "solver must be one of"),
        (dict(method="ft", times=[0, 1], coords="half"), ValueError, "coords"),
        (dict(method="lpft", times=[0, 1], lp_time=-2.0), ValueError, "lp_time"),
    ],
)
def test_simulate_rejects_bad_requests(kwargs, exc, match):
    p = lt.Problem.random(seed=0, eps=0.1, **SHAPE)
    with pytest.raises(exc, match=match):
        lt.simulate(p, **kwargs)


def test_simulate_rejects_non_problem():
    with pytest.raises(TypeError, match="problem must be a Problem"):
        lt.simulate({"X": 1}, "ft", [0, 1])


def test_step_count_reported_and_lpft_finite_lp_time():
    p = lt.Problem.random(seed=10, eps=0.2, **SHAPE)
    traj = lt.simulate(p, "ft", [0.0, 1.0])
    assert traj.num_steps > 0
    # LP-FT with lp_time = 0 is FT from v0
    a = lt.simulate(p, "lpft", [0.0, 1.0], lp_time=0.0)
    np.testing.assert_allclose(np.asarray(a.v), np.asarray(traj.v), atol=1e-13)
    # finite LP time: FT starts from the closed-form LP head at that time
    b = lt.simulate(p, "lpft", [0.0, 1.0], lp_time=0.7)
    np.testing.assert_allclose(np.asarray(b.v[0]), np.asarray(lt.simulate(p, "lp", [0.7]).v[0]), atol=1e-14)
    met = metrics.train_loss(b.rp, b.v[0], b.B_S[0])
    assert float(met) > 0

"""The fused explicit loop (solver "tsit5_fused") against closed forms, scipy, and diffrax's own Tsit5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from lpft_theory import Problem, integrate, reduce, simulate
from lpft_theory.flows import ft_field
from lpft_theory.scale.batch import simulate_batch

from _scipy_reduced import scipy_reduced_final  # tests/ is on sys.path (conftest)

FUSED = "tsit5_fused"


def decay(t, y, A):
    return -(A @ y)


def pair(t, y, args):
    r1, r2 = args
    return (-r1 * y[0], -r2 * y[1])


def forced(t, y, w):
    """dy/dt = w cos(w t): y(t) = y0 + sin(w t) (tests the stage times t + c_i h)."""
    return w * jnp.cos(w * t) + 0.0 * y


def logistic(t, y, _):
    return y * (1.0 - y)


def blow_up(t, y, _):
    return y * y  # y0 = 1: y = 1/(1 - t), infinite at t = 1


def _solve(field, args, y0, ts, rtol=1e-10, atol=1e-12, max_steps=100_000, solver=FUSED):
    return integrate.solve_at(field, args, y0, jnp.asarray(ts), jnp.asarray(rtol), jnp.asarray(atol), solver=solver,
                              max_steps=max_steps)


def test_linear_decay_equals_the_matrix_exponential_at_every_save_time():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((5, 5))
    A = M @ M.T + 0.5 * np.eye(5)
    y0 = np.arange(1.0, 6.0)
    ts = np.array([0.0, 0.05, 0.4, 0.41, 3.0])
    ys, steps, ok = _solve(decay, jnp.asarray(A), jnp.asarray(y0), ts)
    assert bool(ok) and int(steps) > 0
    np.testing.assert_array_equal(np.asarray(ys[0]), y0)  # t = 0 is the initial state itself
    exact = np.stack([scipy.linalg.expm(-t * A) @ y0 for t in ts])
    np.testing.assert_allclose(np.asarray(ys), exact, rtol=1e-8, atol=1e-11)


def test_dense_save_times():
    """300 save times, some closer together than a step: every saved state is the matrix exponential's."""
    A = np.diag([0.3, 4.0, 90.0])
    y0 = np.array([1.0, -2.0, 0.5])
    ts = np.sort(np.concatenate([np.linspace(0.0, 3.0, 297), [1e-9, 2.0 + 1e-7, 2.0 + 2e-7]]))
    ys, _, ok = _solve(decay, jnp.asarray(A), jnp.asarray(y0), ts)
    assert bool(ok)
    exact = np.exp(-np.outer(ts, np.diag(A))) * y0
    np.testing.assert_allclose(np.asarray(ys), exact, rtol=1e-8, atol=1e-11)


def test_pytree_state_and_time_dependent_field():
    ts = np.array([0.5, 1.0, 4.0])
    ys, _, ok = _solve(pair, (jnp.asarray(0.7), jnp.asarray(3.0)), (jnp.asarray(2.0), jnp.ones(3)), ts)
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(ys[0]), 2.0 * np.exp(-0.7 * ts), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(ys[1]), np.exp(-3.0 * ts)[:, None] * np.ones(3), rtol=1e-8, atol=1e-14)
    ys, _, ok = _solve(forced, jnp.asarray(2.5), jnp.asarray(0.3), np.array([0.2, 1.0, 7.0]))
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(ys), 0.3 + np.sin(2.5 * np.array([0.2, 1.0, 7.0])), rtol=0, atol=1e-9)


def test_nonlinear_closed_form():
    ts = np.array([0.1, 1.0, 5.0, 20.0])
    y0 = 0.01
    ys, _, ok = _solve(logistic, None, jnp.asarray(y0), ts)
    exact = 1.0 / (1.0 + (1.0 / y0 - 1.0) * np.exp(-ts))
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(ys), exact, rtol=1e-9)


def test_budget_and_blow_up_report_failure():
    A = jnp.asarray(np.diag([1.0, 50.0]))
    _, steps, ok = _solve(decay, A, jnp.ones(2), np.array([10.0]), max_steps=5)
    assert not bool(ok) and int(steps) == 5
    _, _, ok = _solve(blow_up, None, jnp.asarray(1.0), np.array([2.0]))
    assert not bool(ok)
    _, steps, ok = _solve(decay, A, jnp.asarray([np.nan, 1.0]), np.array([1.0]))  # stops at once, not at the budget
    assert not bool(ok) and int(steps) == 1
    with pytest.raises(integrate.SolverError, match="did not finish"):
        integrate.integrate(decay, A, jnp.ones(2), np.array([0.0, 10.0]), solver=FUSED, max_steps=5)


def test_stiff_decay_fewer_steps_than_diffrax_integral_control():
    """At the stability limit the PI controller rejects almost no step; diffrax's integral controller does."""
    A = jnp.asarray(np.diag(np.linspace(1.0, 2000.0, 6)))
    ts = np.array([1.0])
    ys_f, s_f, ok_f = _solve(decay, A, jnp.ones(6), ts, rtol=1e-8, atol=1e-10)
    ys_d, s_d, ok_d = _solve(decay, A, jnp.ones(6), ts, rtol=1e-8, atol=1e-10, solver="tsit5")
    assert bool(ok_f) and bool(ok_d)
    np.testing.assert_allclose(np.asarray(ys_f), np.exp(-np.diag(np.asarray(A)))[None], rtol=0, atol=1e-9)
    assert int(s_f) < int(s_d)


def test_ft_flow_matches_scipy_and_batches_equal_members():
    problems = [Problem.random(seed=s, d=40, k=3, m=6, n=12, eps=0.1) for s in range(3)]
    T = 2.0
    single = [simulate(p, "ft", [0.0, T], solver=FUSED, rtol=1e-10, atol=1e-12) for p in problems]
    for p, tr in zip(problems, single):
        rp = reduce(p)
        v_ref, B_ref = scipy_reduced_final(rp.G, rp.a_star, rp.v0, rp.B_S0, T)
        scale = np.sqrt(np.sum(v_ref**2) + np.sum(B_ref**2))
        err = np.sqrt(np.sum((np.asarray(tr.v[-1]) - v_ref) ** 2) + np.sum((np.asarray(tr.B_S[-1]) - B_ref) ** 2))
        assert err <= 1e-8 * scale
    bt = simulate_batch(problems, "ft", [0.0, T], solver=FUSED, rtol=1e-10, atol=1e-12, group_size=2)
    for i, tr in enumerate(single):
        np.testing.assert_allclose(np.asarray(bt.v[i]), np.asarray(tr.v), rtol=1e-12, atol=1e-14)


def test_fused_is_refused_where_it_cannot_serve():
    with pytest.raises(ValueError, match="steady_solver must be one of"):
        simulate(Problem.random(seed=0, d=10, k=2, m=3, n=6), "ft", [1.0], steady_solver=FUSED)
    rp = reduce(Problem.random(seed=0, d=10, k=2, m=3, n=6))
    with pytest.raises(ValueError, match="reverse mode"):
        integrate.solve_at(ft_field, rp.flow, (rp.v0, rp.B_S0), jnp.asarray([1.0]), 1e-8, 1e-10, solver=FUSED,
                           max_steps=100, forward=False)


def test_vmapped_loop_equals_single_calls():
    A = jnp.stack([jnp.asarray(np.diag([1.0, 3.0])), jnp.asarray(np.diag([200.0, 0.5]))])
    y0 = jnp.ones((2, 2))
    ts = jnp.asarray([0.5, 1.0])
    batched = jax.vmap(lambda a, y: _solve(decay, a, y, ts))(A, y0)
    for i in range(2):
        one = _solve(decay, A[i], y0[i], ts)
        np.testing.assert_array_equal(np.asarray(batched[0][i]), np.asarray(one[0]))
        assert int(batched[1][i]) == int(one[1])

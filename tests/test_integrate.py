"""The one driver (lpft_theory.integrate) against closed forms of linear ODEs, independent of the package's flows."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from lpft_theory import integrate


def decay(t, y, A):
    """dy/dt = -A y: y(t) = expm(-tA) y0, steady state 0, field norm ||A y||."""
    return -(A @ y)


def pair_decay(t, y, args):
    """A pytree state (two leaves) with different rates: (a, b) -> (-r1 a, -r2 b)."""
    r1, r2 = args
    return (-r1 * y[0], -r2 * y[1])


def _spd(seed, n=4):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    return M @ M.T + 0.5 * np.eye(n)


def test_saved_states_equal_the_matrix_exponential():
    A = _spd(0)
    y0 = np.arange(1.0, 5.0)
    times = np.array([0.0, 0.1, 0.7, 2.0])
    ys, steps, conv = integrate.integrate(decay, jnp.asarray(A), jnp.asarray(y0), times, rtol=1e-11, atol=1e-13)
    exact = np.stack([scipy.linalg.expm(-t * A) @ y0 for t in times])
    np.testing.assert_allclose(np.asarray(ys), exact, rtol=1e-9, atol=1e-12)
    assert steps > 0 and conv is None


def test_only_t0_and_empty_finite_part():
    A = jnp.asarray(_spd(1))
    y0 = jnp.ones(4)
    ys, steps, conv = integrate.integrate(decay, A, y0, np.array([0.0]))
    assert ys.shape == (1, 4) and steps == 0 and conv is None
    np.testing.assert_array_equal(np.asarray(ys[0]), np.ones(4))
    ys, steps, conv = integrate.integrate(decay, A, y0, np.array([np.inf]), gtol=1e-12)
    assert ys.shape == (1, 4) and conv is True
    assert float(jnp.linalg.norm(A @ ys[-1])) <= 1e-12 * max(1.0, float(jnp.linalg.norm(A @ y0)))


def test_steady_state_stops_at_the_relative_gradient_threshold():
    """The t = inf limit of dy/dt = -Ay is 0; the driver stops where ||Ay|| <= gtol max(1, ||Ay0||)."""
    A = jnp.asarray(_spd(2))
    y0 = jnp.asarray([3.0, -1.0, 2.0, 0.5])
    gtol = 1e-9
    ys, _, conv = integrate.integrate(decay, A, y0, np.array([0.0, 1.0, np.inf]), gtol=gtol)
    assert conv is True
    g_end = float(jnp.linalg.norm(A @ ys[-1]))
    g0 = float(jnp.linalg.norm(A @ y0))
    assert g_end <= gtol * max(1.0, g0)
    # the limit is within the threshold of the exact one (0): ||y|| <= ||A^{-1}|| ||Ay||
    assert float(jnp.linalg.norm(ys[-1])) <= g_end / np.linalg.eigvalsh(np.asarray(A))[0] * (1 + 1e-9)


def test_field_norm_over_a_pytree():
    args = (jnp.asarray(2.0), jnp.asarray(3.0))
    y = (jnp.asarray([1.0, 2.0]), jnp.asarray([[1.0]]))
    # field = (-2*[1,2], -3*[[1]]): norm sqrt(4 + 16 + 9)
    assert float(integrate.field_norm(pair_decay, args, y)) == pytest.approx(np.sqrt(29.0), rel=1e-15)


def test_step_budget_raises_solver_error_naming_the_options():
    A = jnp.asarray(_spd(3))
    with pytest.raises(integrate.SolverError, match="max_steps=3.*--max-steps.*kvaerno5"):
        integrate.integrate(decay, A, jnp.ones(4), np.array([0.0, 100.0]), max_steps=3, what="decay")
    assert issubclass(integrate.SolverError, RuntimeError)


def test_batch_equals_members_in_any_order_and_grouping():
    """integrate_batch over a leading axis = integrate per member (closed form: exponentials of the rates)."""
    rates = np.array([[0.5, 3.0], [1.0, 0.2], [4.0, 2.0]])
    args = (jnp.asarray(rates[:, 0]), jnp.asarray(rates[:, 1]))
    y0 = (jnp.ones((3, 2)), jnp.full((3, 1, 1), 2.0))
    times = np.array([0.0, 0.5, 1.5, np.inf])
    order = np.array([2, 0, 1])
    (a, b), steps, conv, work = integrate.integrate_batch(pair_decay, args, y0, times, rtol=1e-11, atol=1e-13,
                                                          order=order, group_size=2)
    t = times[:-1]
    np.testing.assert_allclose(np.asarray(a[:, :-1]), np.exp(-np.outer(rates[:, 0], t))[:, :, None] * np.ones(2),
                               rtol=1e-9)
    np.testing.assert_allclose(np.asarray(b[:, :-1, 0, 0]), 2.0 * np.exp(-np.outer(rates[:, 1], t)), rtol=1e-9)
    assert conv.all() and steps.shape == (3,)
    assert work["groups"] == 2 and work["member_steps"] == int(steps.sum())
    for i in range(3):
        (ai, bi), si, ci = integrate.integrate(pair_decay, (args[0][i], args[1][i]), (y0[0][i], y0[1][i]), times,
                                               rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(np.asarray(a[i]), np.asarray(ai), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(np.asarray(b[i]), np.asarray(bi), rtol=1e-10, atol=1e-14)
        assert ci is True


def test_lockstep_accounting():
    steps = np.array([10, 1, 5, 7])
    w = integrate.lockstep_work(steps, np.array([1, 2, 3, 0]), 2)
    # groups (1, 2) -> 2*5, (3, 0) -> 2*10
    assert w == dict(member_steps=23, lockstep_steps=30, waste=1 - 23 / 30, groups=2)


def test_advance_zero_length_segment_returns_the_state():
    A = jnp.asarray(_spd(4))
    y = jnp.asarray([1.0, 2.0, 3.0, 4.0])
    y1, steps, ok = integrate.advance(decay, A, y, jnp.asarray(1.0), jnp.asarray(1.0), 1e-10, 1e-12)
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y))
    assert bool(ok)
    y2, _, ok = integrate.advance(decay, A, y, jnp.asarray(0.0), jnp.asarray(0.3), 1e-11, 1e-13)
    np.testing.assert_allclose(np.asarray(y2), scipy.linalg.expm(-0.3 * np.asarray(A)) @ np.asarray(y), rtol=1e-9)


def test_unknown_solver_is_named():
    with pytest.raises(ValueError, match="solver must be one of"):
        integrate.check_solver("rk4")


def test_solve_steps_to_steady_saves_every_step_and_stops_at_the_threshold():
    """Every saved step equals the matrix exponential at its time; the last one is the first below the
    threshold (‖A y‖ is monotone for this SPD decay), and nothing is saved after it."""
    A = _spd(3)
    y0 = np.arange(1.0, 5.0)
    thr = 1e-6
    ts, ys, n, steps, reached, ok, budget = integrate.solve_steps_to_steady(
        decay, jnp.asarray(A), jnp.asarray(y0), 0.0, 1e4, thr, 1e-11, 1e-13, max_steps=8192)
    n = int(n)
    ts, ys = np.asarray(ts), np.asarray(ys)
    assert bool(reached) and bool(ok) and 0 < n <= int(steps)
    assert np.all(np.isinf(ts[n:])) and np.all(np.diff(ts[:n]) > 0)
    exact = np.stack([scipy.linalg.expm(-t * A) @ y0 for t in ts[:n]])
    np.testing.assert_allclose(ys[:n], exact, rtol=1e-8, atol=1e-12)
    norms = np.linalg.norm(exact @ A.T, axis=1)
    assert norms[-1] <= thr * (1 + 1e-6) and np.all(norms[:-1] > thr * (1 - 1e-6))
    assert not bool(budget)
    # a budget too small for the solve: out_of_budget, not ok, and the saved steps are still exact
    ts, ys, n, steps, reached, ok, budget = integrate.solve_steps_to_steady(
        decay, jnp.asarray(A), jnp.asarray(y0), 0.0, 1e4, thr, 1e-11, 1e-13, max_steps=16)
    n = int(n)
    assert bool(budget) and not bool(ok) and not bool(reached) and 0 < n <= 16
    exact = np.stack([scipy.linalg.expm(-t * A) @ y0 for t in np.asarray(ts)[:n]])
    np.testing.assert_allclose(np.asarray(ys)[:n], exact, rtol=1e-8, atol=1e-12)


def test_solve_steps_to_steady_resumes_with_the_given_first_step():
    """A solve stopped by its step budget, continued from its last accepted step with that step's size
    (``dt_resume``): the continuation's first attempted step is exactly ``dt_resume`` (accepted here:
    the controller had just accepted it), its steps still equal the matrix exponential, and together
    the chunks reach the threshold; ``dt_resume = 0`` falls back to a fresh initial step."""
    A = _spd(3)
    y0 = np.arange(1.0, 5.0)
    thr = 1e-6
    args = (decay, jnp.asarray(A))
    ts, ys, n, _, reached, ok, budget = integrate.solve_steps_to_steady(
        *args, jnp.asarray(y0), 0.0, 1e4, thr, 1e-11, 1e-13, max_steps=16, dt_resume=jnp.asarray(0.0))
    n = int(n)
    assert bool(budget) and n >= 2
    t_last, h_last = float(ts[n - 1]), float(ts[n - 1] - ts[n - 2])
    ts2, ys2, n2, _, reached2, ok2, _ = integrate.solve_steps_to_steady(
        *args, ys[n - 1], jnp.asarray(t_last), 1e4, thr, 1e-11, 1e-13, max_steps=8192,
        dt_resume=jnp.asarray(h_last))
    n2 = int(n2)
    assert bool(reached2) and bool(ok2) and n2 > 0
    ts2 = np.asarray(ts2)
    assert ts2[0] == t_last + h_last
    exact = np.stack([scipy.linalg.expm(-t * A) @ y0 for t in ts2[:n2]])
    np.testing.assert_allclose(np.asarray(ys2)[:n2], exact, rtol=1e-8, atol=1e-12)
    assert np.linalg.norm(A @ exact[-1]) <= thr * (1 + 1e-6)

"""The package's Rodas4 loop (lpft_theory/_rosenbrock.py) against independent facts: its convergence order
on a nonlinear problem (scipy DOP853 at rtol 1e-13 as the exact solution), L-stability (the stability
function on y' = λy), the matrix exponential of a stiff linear system, the reduced FT flow against an
independent scipy integration, and the contract of the streaming loop (chunks, stop, failure)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from lpft_theory import _rosenbrock as R
from lpft_theory import integrate


def _f_np(y):
    return np.array([-y[0] ** 2 + 0.5 * y[1], -3.0 * y[1] + np.sin(y[0])])


def _f(y):
    return jnp.array([-y[0] ** 2 + 0.5 * y[1], -3.0 * y[1] + jnp.sin(y[0])])


def _field(t, y, args):
    return _f(y)


def test_order_four_and_embedded_order_three():
    """Fixed steps h = 1/N on [0, 1]: the error of y1 falls like h⁴, that of the embedded solution y1 − K6 like h³."""
    exact = scipy.integrate.solve_ivp(lambda t, y: _f_np(y), (0, 1), [1.0, 0.5], method="DOP853", rtol=1e-13,
                                      atol=1e-15).y[:, -1]
    jac = jax.jacfwd(_f)
    errs, errs_emb = [], []
    for N in (8, 16, 32):
        y = e = jnp.array([1.0, 0.5])
        for _ in range(N):
            y = R._step(_f, jac, y, _f(y), 1.0 / N, R.RODAS4)[0]
            y1, k6 = R._step(_f, jac, e, _f(e), 1.0 / N, R.RODAS4)
            e = y1 - k6
        errs.append(np.abs(np.asarray(y) - exact).max())
        errs_emb.append(np.abs(np.asarray(e) - exact).max())
    order = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    order_emb = np.log2(np.array(errs_emb[:-1]) / np.array(errs_emb[1:]))
    assert np.all((order > 3.8) & (order < 4.4)), order
    assert np.all((order_emb > 2.8) & (order_emb < 3.4)), order_emb


@pytest.mark.parametrize("z", [-1e3, -1e6, -1e9])
def test_l_stable(z):
    """One step of y' = λy with hλ = z: |R(z)| < 1 and R(z) → 0 like 1/|z| (L-stability), for the solution and
    the embedded one."""
    f = lambda y: z * y  # noqa: E731
    y1, k6 = R._step(f, jax.jacfwd(f), jnp.ones(1), f(jnp.ones(1)), 1.0, R.RODAS4)
    assert abs(float(y1[0])) < 20.0 / abs(z)
    assert abs(float((y1 - k6)[0])) < 20.0 / abs(z)


def test_advance_matches_the_matrix_exponential_of_a_stiff_system():
    """y' = Ay, A symmetric with eigenvalues from −1 to −1e6: y(1) = expm(A) y0 to the tolerance, in far fewer
    steps than an explicit method's stability limit allows (h ≤ ~3.5/1e6: ~3e5 steps for Tsit5)."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    A = Q @ np.diag(-np.geomspace(1.0, 1e6, 6)) @ Q.T
    y0 = rng.standard_normal(6)
    y1, steps, ok = integrate.advance(lambda t, y, a: a @ y, jnp.asarray(A), jnp.asarray(y0), 0.0, 1.0, 1e-10, 1e-12,
                                      solver="rodas4_fused", max_steps=4096)
    want = scipy.linalg.expm(A) @ y0
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(y1), want, rtol=1e-7, atol=1e-10)
    assert int(steps) < 10_000  # 2325 on jax 0.10.2 (each decade of the spectrum is resolved once)


def test_advance_of_zero_length_returns_the_state():
    y, steps, ok = R.advance(_field, None, jnp.array([1.0, 0.5]), 2.0, 2.0, 1e-8, 1e-10, max_steps=10)
    np.testing.assert_array_equal(np.asarray(y), [1.0, 0.5])
    assert bool(ok) and int(steps) == 0


def test_reduced_ft_flow_against_scipy():
    """The reduced FT flow of a random problem, advanced to t = 3, against an independent scipy integration."""
    from _scipy_reduced import scipy_reduced_final  # tests/ is on sys.path (conftest)

    from lpft_theory import flows
    from lpft_theory.problem import Problem
    from lpft_theory.reduced import reduce

    rp = reduce(Problem.random(3, d=30, k=3, m=5, n=10, eps=0.2, head="random"), n_ood=1)
    want_v, want_B = scipy_reduced_final(rp.G, rp.a_star, rp.v0, rp.B_S0, 3.0)
    (v, B), _, ok = integrate.advance(flows.ft_field, rp.flow, (rp.v0, rp.B_S0), 0.0, 3.0, 1e-10, 1e-12,
                                      solver="rodas4_fused", max_steps=20000)
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(v), want_v, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.asarray(B), want_B, rtol=1e-7, atol=1e-9)


def _decay_run(chunk, total=100_000):
    """y' = −Dy from (1, 1, 1) with a stop at ‖f‖ ≤ 1e-6, in chunks of ``chunk`` attempted steps; the
    observation counts the accepted steps and keeps the last ‖f‖ before the stop."""
    D = jnp.array([1.0, 10.0, 1000.0])
    field = lambda t, y, d: -d * y  # noqa: E731

    def on_accept(obs, t, y, fy, t_new, y_new, fy_new):
        norm = jnp.sqrt(jnp.sum(fy_new ** 2))
        return dict(n=obs["n"] + 1, before=jnp.sqrt(jnp.sum(fy ** 2))), norm <= 1e-6

    y0 = jnp.ones(3)
    carry = R.start(field, D, y0, 0.0, 1e6, 1e-9, 1e-12, dict(n=jnp.zeros((), jnp.int32), before=jnp.zeros(())))
    run = jax.jit(lambda c: R.run(field, D, y0, c, 1e-9, 1e-12, on_accept, max_steps=chunk))
    runs = 0
    while not bool(carry["stopped"]) and int(carry["steps"]) < total:
        carry = run(carry)
        runs += 1
    return carry, runs


def test_streaming_run_stops_at_the_threshold_and_continues_exactly():
    one, runs1 = _decay_run(10_000)
    many, runs = _decay_run(7)
    assert runs1 == 1 and runs > 3
    assert bool(one["stopped"]) and not bool(one["failed"])
    # every accepted step reached on_accept, and the stop is the first step at the threshold
    assert int(one["obs"]["n"]) == int(one["accepted"])
    f_end = np.linalg.norm(np.array([1.0, 10.0, 1000.0]) * np.asarray(one["y"]))
    assert f_end <= 1e-6 < float(one["obs"]["before"])
    # the exact solution at the stop time
    t = float(one["t"])
    np.testing.assert_allclose(np.asarray(one["y"]), np.exp(-np.array([1.0, 10.0, 1000.0]) * t), rtol=1e-6,
                               atol=1e-12)
    for k in ("t", "y", "steps", "accepted"):
        np.testing.assert_array_equal(np.asarray(many[k]), np.asarray(one[k]))


def test_vmapped_run_agrees_with_single_runs():
    D = jnp.array([[1.0, 5.0], [2.0, 300.0], [0.5, 0.7]])
    field = lambda t, y, d: -d * y  # noqa: E731
    none = lambda o, *a: (o, jnp.zeros((), bool))  # noqa: E731

    def solve(d):
        c = R.start(field, d, jnp.ones(2), 0.0, 5.0, 1e-8, 1e-10, jnp.zeros(()))
        c = R.run(field, d, jnp.ones(2), c, 1e-8, 1e-10, none, max_steps=5000)
        return c["y"], c["t"]

    batched, t_end = jax.vmap(solve)(D)
    np.testing.assert_array_equal(np.asarray(t_end), 5.0)  # every member reached t1
    for i in range(3):
        # the batched inverse may differ from the single one in the last bits, and a borderline step
        # decision with it: the two agree to the tolerance, not bit for bit
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(solve(D[i])[0]), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(np.asarray(batched[i]), np.exp(-5.0 * np.asarray(D[i])), rtol=1e-6, atol=1e-10)


def test_blow_up_is_a_failure_not_a_result():
    """y' = y² from y(0) = 1 blows up at t = 1: asked for t = 2 the loop fails (step collapse or a non-finite
    state) or runs out of steps; it never reports reaching t = 2."""
    field = lambda t, y, a: y ** 2  # noqa: E731
    y, steps, ok = R.advance(field, None, jnp.ones(1), 0.0, 2.0, 1e-8, 1e-10, max_steps=5000)
    assert not bool(ok)


def _reduced(seed, **kw):
    from lpft_theory.problem import Problem
    from lpft_theory.reduced import reduce

    return reduce(Problem.random(seed, **dict(dict(d=30, k=3, m=5, n=10, eps=0.2, head="random"), **kw)), n_ood=1)


def test_steady_state_of_lp_is_the_least_squares_head_nearest_v0():
    """LP's t = ∞ limit by the Rodas4 search (integrate.solve_to_steady) against the stationary point written
    from the math in numpy: BGBᵀv = BGa, the solution nearest v0 (lstsq on the difference)."""
    from lpft_theory import flows

    rp = _reduced(5)
    G, a, B, v0 = (np.asarray(x) for x in (rp.G, rp.a_star, rp.B_S0, rp.v0))
    M = B @ G @ B.T
    want = v0 + np.linalg.lstsq(M, B @ G @ a - M @ v0, rcond=None)[0]
    thr = 1e-12 * max(1.0, float(np.linalg.norm(-2.0 * B @ G @ (B.T @ v0 - a))))
    v, steps, reached = integrate.solve_to_steady(flows.lp_field, rp.flow, rp.v0, jnp.asarray(0.0), jnp.asarray(thr),
                                                  jnp.asarray(1e-10), jnp.asarray(1e-12), solver="rodas4_fused")
    assert bool(reached) and int(steps) > 0
    np.testing.assert_allclose(np.asarray(v), want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("seed", [3, 11])
def test_steady_state_of_ft_against_scipy_run_long(seed):
    """FT's t = ∞ limit by the Rodas4 search against scipy DOP853 (rtol 1e-12) run to a time where the flow
    has long settled (the limit is a point of a manifold of minimisers that depends on the whole path, so
    only an accurate integration of the path gives it); and the same limit by diffrax's Kvaerno5."""
    from _scipy_reduced import scipy_reduced_final  # tests/ is on sys.path (conftest)

    from lpft_theory import flows

    rp = _reduced(seed)
    y0 = (rp.v0, rp.B_S0)
    g0 = float(integrate.field_norm(flows.ft_field, rp.flow, y0))
    thr = jnp.asarray(1e-10 * max(1.0, g0))
    ends = {}
    for solver in ("rodas4_fused", "kvaerno5"):
        (v, B), steps, reached = integrate.solve_to_steady(flows.ft_field, rp.flow, y0, jnp.asarray(0.0), thr,
                                                           jnp.asarray(1e-10), jnp.asarray(1e-12), solver=solver)
        assert bool(reached)
        ends[solver] = np.concatenate([np.asarray(v), np.asarray(B).ravel()])
    want_v, want_B = scipy_reduced_final(rp.G, rp.a_star, rp.v0, rp.B_S0, 200.0)
    want = np.concatenate([want_v, want_B.ravel()])
    for solver, got in ends.items():
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9, err_msg=solver)

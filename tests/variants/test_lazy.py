"""Lazy FT (the model linearised at its start), against independent facts: the tangent kernel from jax.jacobian,
the t = 0 and t = inf limits (the minimum-norm Jacobian solution, by numpy's pseudo-inverse), the linearised ODE
integrated through the one driver, and the second-order gap to true FT (derived: theta_ft - theta_lazy =
Delta t^2 / 2 + O(t^3), Delta = (4|g|^2 v0, 4 B0 g g^T), g = X^T r(0))."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.variants import lazy
from lpft_theory.variants.dispatch import simulate_variant


@pytest.fixture(scope="module")
def prob():
    return lt.Problem.random(seed=0, d=12, k=2, m=4, n=8, eps=0.2)


def _jacobian(p, v0, B0):
    """n x (k + k d) Jacobian of theta -> X B^T v at (v0, B0), by jax.jacobian (no formula of the package)."""
    X = p.X

    def f(v, B):
        return X @ (B.T @ v)

    Jv, JB = jax.jacobian(f, argnums=(0, 1))(v0, B0)
    return jnp.concatenate([Jv, JB.reshape(Jv.shape[0], -1)], axis=1)


def test_tangent_kernel_is_the_jacobian_gram(prob):
    J = _jacobian(prob, prob.v0, prob.B0)
    K = lazy.tangent_kernel(prob.B0, prob.v0, prob.X, prob.X)
    np.testing.assert_allclose(np.asarray(K), np.asarray(J @ J.T), rtol=1e-12, atol=1e-12)


def test_limits_t0_and_inf_min_norm_solution(prob):
    traj = lazy.simulate_lazy(prob, [0.0, math.inf])
    np.testing.assert_array_equal(np.asarray(traj.v[0]), np.asarray(prob.v0))
    np.testing.assert_allclose(np.asarray(traj.B()[0]), np.asarray(prob.B0), atol=1e-13)
    # t = inf: gradient flow of a linear least-squares problem from delta = 0 ends at pinv(J) (y - f0)
    X, y, v0, B0 = (np.asarray(a) for a in (prob.X, prob.y, prob.v0, prob.B0))
    J = np.asarray(_jacobian(prob, prob.v0, prob.B0))
    delta = np.linalg.pinv(J) @ (y - X @ (B0.T @ v0))
    k, d = B0.shape
    np.testing.assert_allclose(np.asarray(traj.v[-1]), v0 + delta[:k], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(np.asarray(traj.B()[-1]), B0 + delta[k:].reshape(k, d), rtol=1e-9, atol=1e-10)
    lin = lazy.linear_metrics(traj)
    assert lin["train_loss"][-1] < 1e-20  # the linear model fits the noiseless labels


def test_closed_form_matches_the_jvp_ode(prob):
    times = [0.0, 0.01, 0.1, 1.0, 5.0]
    a = lazy.simulate_lazy(prob, times)
    b = lazy.simulate_lazy(prob, times, solver="tsit5", rtol=1e-12, atol=1e-14)
    assert b.solver == "tsit5" and b.num_steps > 0
    np.testing.assert_allclose(np.asarray(a.v), np.asarray(b.v), atol=1e-9)
    np.testing.assert_allclose(np.asarray(a.B_S), np.asarray(b.B_S), atol=1e-9)
    c = simulate_variant(prob, "ft-lazy", times)
    assert c.method == "ft-lazy"
    np.testing.assert_array_equal(np.asarray(c.B_S), np.asarray(a.B_S))


def _gap_coefficients(p, ts):
    ft = lt.simulate(p, "ft", ts, rtol=1e-14, atol=1e-16, solver="dopri8")
    lz = lazy.simulate_lazy(p, ts)
    t2 = np.asarray(ts)[:, None]
    return (np.asarray(ft.v - lz.v) / t2**2, np.asarray(ft.B_S - lz.B_S).reshape(len(ts), -1) / t2**2)


def test_first_order_agreement_and_the_t2_coefficient(prob):
    rp = lt.reduce(prob)
    ts = [2e-6, 4e-6]
    gv, gB = _gap_coefficients(rp, ts)
    X, y, v0, B0 = (np.asarray(a) for a in (prob.X, prob.y, prob.v0, prob.B0))
    g = X.T @ (X @ (B0.T @ v0) - y)  # full coordinates, not the package's reduced ones
    dv, dB = 2.0 * (g @ g) * v0, 2.0 * np.outer(B0 @ g, g)  # Delta / 2
    dB_S = dB @ np.asarray(rp.U_S)  # B's change lies in S: compare its S-part
    err_v = np.abs(gv - dv).max(axis=1) / np.abs(dv).max()
    err_B = np.abs(gB - dB_S.ravel()).max(axis=1) / np.abs(dB_S).max()
    assert err_v[0] < 2e-3 and err_B[0] < 2e-3, (err_v, err_B)
    # the error of gap/t^2 is O(t): doubling t doubles it (the gap itself is O(t^2), first-order agreement)
    assert 1.6 < err_v[1] / err_v[0] < 2.4 and 1.6 < err_B[1] / err_B[0] < 2.4


@pytest.mark.slow
def test_gap_head_part_scales_with_head_norm_at_fixed_residual():
    """Theory: the head part of the t^2 gap is 4|g|^2 v0 / 2, so at a fixed residual it is proportional to |v0|;
    the feature part 4 B0 g g^T / 2 does not depend on v0."""
    base = lt.Problem.random(seed=1, d=12, k=2, m=4, n=8, eps=0.2)
    X, B0, u = np.asarray(base.X), np.asarray(base.B0), np.asarray(base.v0)
    delta = 0.3 * np.asarray(base.w_star)
    coef = []
    for c in (0.5, 1.0):
        w = B0.T @ (c * u) - delta  # residual X delta at the start, whatever c
        p = lt.Problem.from_arrays(X, X @ w, B0, c * u, w)
        coef.append(_gap_coefficients(p, [2e-6]))
    (v1, B1), (v2, B2) = coef
    np.testing.assert_allclose(v2, 2.0 * v1, rtol=3e-3)
    np.testing.assert_allclose(B2, B1, rtol=3e-3, atol=1e-6 * np.abs(B1).max())


def test_lazy_from_lp_head_and_bad_input(prob):
    traj = lazy.simulate_lazy(prob, [0.0, 1.0], init="lp")
    np.testing.assert_allclose(np.asarray(traj.v[0]), np.asarray(lt.flows.lp_limit(lt.reduce(prob).flow)),
                               atol=1e-12)
    with pytest.raises(ValueError, match="init"):
        lazy.simulate_lazy(prob, [1.0], init="zero")
    with pytest.raises(ValueError, match="solver"):
        lazy.simulate_lazy(prob, [1.0], solver="euler")

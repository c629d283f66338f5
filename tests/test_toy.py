"""The 2-D toy (docs/theory.md §5): closed forms against an independent scipy integration."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from lpft_theory import toy


def _scipy_ft(a, w_star, v0, T=80.0):
    """Gradient flow of L(v, b) = (v b·e1 - w1)^2 on (v, b1, b2), written from the gradients:
    dL/dv = 2 b1 r, dL/db1 = 2 v r, dL/db2 = 0 (x_id = e1 has no e2 component)."""
    w1 = float(w_star[0])

    def f(t, s):
        v, b1, b2 = s
        r = v * b1 - w1
        return [-2.0 * b1 * r, -2.0 * v * r, 0.0]

    sol = solve_ivp(f, (0.0, T), [v0, math.cos(a), math.sin(a)], method="DOP853", rtol=1e-12, atol=1e-14,
                    dense_output=True)
    assert sol.success
    return sol


def _scipy_lp(a, w_star, v0, T=80.0):
    w1 = float(w_star[0])
    c = math.cos(a)
    sol = solve_ivp(lambda t, v: [-2.0 * c * (c * v[0] - w1)], (0.0, T), [v0], method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success
    return sol.y[0, -1]


CASES = [
    (math.radians(50.0), (1.0, 1.0), 0.1),    # the figure's parameters
    (math.radians(20.0), (0.7, 0.2), 0.5),
    (math.radians(-30.0), (1.5, -0.8), 1.2),  # negative angle, large head
    (math.radians(60.0), (-1.0, 0.4), -0.3),  # everything negative: v keeps its (negative) sign
    (math.radians(40.0), (2.0, 2.0), 0.0),    # zero head
]


@pytest.mark.parametrize("a, w_star, v0", CASES)
def test_ft_closed_form_matches_scipy(a, w_star, v0):
    sol = _scipy_ft(a, w_star, v0)
    v, b1, b2 = sol.y[:, -1]
    closed = toy.ft_closed_form(a, w_star, v0)
    assert abs(v - closed["v_inf"]) < 1e-9
    assert abs(b1 - closed["b1_inf"]) < 1e-9
    np.testing.assert_allclose([v * b1, v * b2], closed["w_ft"], atol=1e-9)
    # the premise "v keeps its sign" holds on these cases (checked, not assumed)
    vs = sol.sol(np.linspace(0.0, 80.0, 4001))[0]
    assert np.all(np.sign(vs[1:]) == np.sign(closed["v_inf"]))


def test_ft_closed_form_sign_flip():
    """v0 < 0 but w1 cos a > 0: v crosses zero. |v_inf| still follows from the two conservation laws;
    the default sign (that of v0) is then wrong, as documented."""
    a, w_star, v0 = math.radians(50.0), (1.0, 1.0), -0.3
    v, b1, b2 = _scipy_ft(a, w_star, v0).y[:, -1]
    assert v > 0
    flipped = toy.ft_closed_form(a, w_star, v0, sign=+1)
    assert abs(v - flipped["v_inf"]) < 1e-9
    np.testing.assert_allclose([v * b1, v * b2], flipped["w_ft"], atol=1e-9)
    assert abs(v - toy.ft_closed_form(a, w_star, v0)["v_inf"]) > 1.0


@pytest.mark.parametrize("a, w_star, v0", CASES[:3])
def test_lp_closed_form_matches_scipy(a, w_star, v0):
    v = _scipy_lp(a, w_star, v0)
    v_lp, w_lp = toy.lp_closed_form(a, w_star)
    assert abs(v - v_lp) < 1e-10
    np.testing.assert_allclose(v * np.array([math.cos(a), math.sin(a)]), w_lp, atol=1e-10)
    # w_lp has the same projection on x_id = e1 as w*
    assert abs(w_lp[0] - w_star[0]) < 1e-14


def test_simulated_toy_matches_closed_forms():
    d = toy.TOY_DEFAULTS
    res = toy.simulate_toy(**d)
    ft = toy.ft_closed_form(**d)
    _, w_lp = toy.lp_closed_form(d["a"], d["w_star"])
    np.testing.assert_allclose(res["ft"]["w_end"], ft["w_ft"], atol=1e-8)
    np.testing.assert_allclose(res["lp"]["w_end"], w_lp, atol=1e-12)
    np.testing.assert_allclose(res["lpft"]["w_end"], w_lp, atol=1e-8)
    # LP-FT starts at the LP limit, where the residual is zero: FT never moves
    assert np.max(np.abs(res["lpft"]["w"] - w_lp)) < 1e-8
    # Lemma A.3: B's e2 coordinate (the S_perp part) is frozen along FT
    B = res["ft"]["B"]
    assert np.max(np.abs(B[:, 1] - math.sin(d["a"]))) < 1e-14
    # Lemma A.4: v^2 - |B|^2 is conserved
    inv = res["ft"]["v"] ** 2 - np.sum(B**2, axis=1)
    assert np.max(np.abs(inv - (d["v0"] ** 2 - 1.0))) < 1e-8
    # the path is the solution of the independent integration at every saved time
    sol = _scipy_ft(d["a"], d["w_star"], d["v0"], T=float(res["ft"]["times"][-1]))
    ref = sol.sol(res["ft"]["times"])
    np.testing.assert_allclose(res["ft"]["w"][:, 0], ref[0] * ref[1], atol=1e-8)
    np.testing.assert_allclose(res["ft"]["w"][:, 1], ref[0] * ref[2], atol=1e-8)


def test_toy_bad_input():
    with pytest.raises(ValueError, match="a must"):
        toy.toy_problem(a=math.pi / 2)
    with pytest.raises(ValueError, match="w_star"):
        toy.toy_problem(w_star=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="v0"):
        toy.toy_problem(v0=float("nan"))

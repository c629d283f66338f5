"""The exact k = 1, ε = 0 case (docs/theory.md §9): limit against simulation, sign rules, ratio algebra,
the infimum 1/2, and the finite-t arc minimum against the independent reference integrator."""

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.problem import Problem
from lpft_theory.scale.batch import simulate_batch
from lpft_theory.theory import bounds, k1, reference


def _batch(seed0, count, sigma):
    probs = []
    for i in range(count):
        seed = seed0 + i
        probs.append(Problem.random(seed=seed, d=9, k=1, m=3, n=6, eps=0.0, head_scale=(0.2, 0.7, 2.5)[i % 3],
                                    w_star_norm=(0.1, 1.0, 3.0)[(i // 3) % 3], input_cond=(1.0, 30.0)[i % 2],
                                    sigma_ood=sigma))
    return probs


def _check_limits(probs):
    traj = simulate_batch(probs, "ft", [float("inf")], gtol=1e-12)
    assert np.all(np.asarray(traj.converged))
    met = lt.trajectory_metrics(traj, perp=False)
    v_sim = np.asarray(traj.v)[:, -1, 0]
    B_sim = np.asarray(traj.B())[:, -1, 0, :]
    errs, signs = [], set()
    for i, p in enumerate(probs):
        lim = k1.limit_of_problem(p)
        signs.add((np.sign(lim["v0"] * lim["v_star"]), lim["sign"] * np.sign(lim["v_star"])))
        errs += [abs(v_sim[i] - lim["v_inf"]), float(np.max(np.abs(B_sim[i] - lim["b_inf"]))),
                 abs(np.sqrt(met["ood_loss_identity"][i, -1]) - lim["ood_identity"]),
                 abs(np.sqrt(met["ood_loss"][i, -1]) - lim["ood_sigma"])]
    return max(errs), signs


@pytest.mark.parametrize("sigma", [None, "anisotropic"])
def test_limit_matches_simulation(sigma):
    """20 problems per Σ in the default run (isotropic and anisotropic X, heads of both signs)."""
    err, signs = _check_limits(_batch(100, 20, sigma))
    assert err < 1e-9
    # heads of both signs, and a head that crosses zero (v0 v* < 0 but v_inf v* > 0)
    assert (-1.0, 1.0) in signs and (1.0, 1.0) in signs and (-1.0, -1.0) in signs


@pytest.mark.slow
def test_limit_matches_simulation_100():
    err_a, _ = _check_limits(_batch(1000, 50, None))
    err_b, _ = _check_limits(_batch(2000, 50, "anisotropic"))
    assert max(err_a, err_b) < 1e-9


def test_sign_rules_against_ode():
    """Closed-form rules (aligned G = 2I) vs the exact loss-level criterion integrated with scipy."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        s = rng.uniform(0.1, 0.95)
        beta0 = rng.standard_normal(3)
        beta0 *= s / np.linalg.norm(beta0)
        vs = rng.choice([-1, 1]) * 10 ** rng.uniform(-1, 0.5)
        v0 = rng.uniform(-2, 2)
        if abs(v0 * v0 - s * s) < 1e-3:
            continue
        rule = float(k1.sign_rule(v0, vs, s, True))
        # the exact criterion (integrate the S-flow until the loss is below half the zero-head loss), rules off
        G = np.eye(3) * 2.0
        assert k1.exact_sign(v0, vs, G, beta0, use_rules=False) == rule
        if v0 * v0 > s * s:
            assert rule == np.sign(v0)
        else:
            assert rule == np.sign(vs)


def test_ratio_algebra_and_bound_function():
    """ratio_inf (from v0) equals ratio_inf_rho (from rho, via v0_of_rho) and the package's bound_formula."""
    rng = np.random.default_rng(0)
    w = 10 ** rng.uniform(-3, 2, 500)
    s = rng.uniform(0.01, 0.99, 500)
    rho = k1.v_inf_abs(0.0, w, s) * 10 ** rng.uniform(0, 2, 500)
    v0 = np.sqrt(k1.v0_of_rho(rho, w, s))
    assert np.allclose(k1.v_inf_abs(v0, w, s), rho, rtol=1e-10)
    r1 = k1.ratio_inf(v0, w, s, 1.0)
    r2 = k1.ratio_inf_rho(rho, w, s)
    ok = np.abs(v0 - w) > 1e-6 * w
    assert np.allclose(r1[ok], r2[ok], rtol=1e-7)
    for i in range(5):
        c = np.sqrt(1 - s[i] ** 2)
        phi = float(k1.phi_final(v0[i], w[i]))
        assert np.isclose(bounds.bound_formula(c, 1, phi, w[i], 0.0), c * float(k1.bound_over_c(v0[i], w[i])),
                          rtol=1e-13)


def test_infimum_is_one_half_not_attained():
    rng = np.random.default_rng(1)
    N = 200000
    w = 10 ** rng.uniform(-4, 3, N)
    s = rng.uniform(0, 1, N)
    x = rng.standard_normal(N) * 10 ** rng.uniform(-3, 1, N)
    same = k1.ratio_inf(x, w, s, 1.0)
    flipped = k1.ratio_inf(x, w, s, -1.0)
    assert np.nanmin(same) > 0.5 and np.nanmin(flipped) > 1.0
    # approached along w -> 0, s -> 1, v0/v* -> 1
    r = k1.ratio_inf(1.0001e-6, 1e-6, 1 - 1e-12, 1.0)
    assert 0.5 < r < 0.5 + 1e-3
    # the failure region is non-empty and lies where the sign agrees
    assert np.any(k1.failure_region(x, w, s, 1.0)) and not np.any(k1.failure_region(x, w, s, -1.0))


def _isotropic_problem(v0, vs, s, g=2.0, d=7, m=3):
    """k = 1, ε = 0, G = g I (S = first m axes), Σ = I."""
    b0 = np.zeros(d)
    b0[0], b0[m] = s, np.sqrt(1 - s * s)
    X = np.sqrt(g) * np.eye(m, d)
    X = np.concatenate([X, X]) / np.sqrt(2.0)
    w = vs * b0
    return Problem.from_arrays(X, X @ w, b0[None], np.array([v0]), w, B_star=b0[None], v_star=np.array([vs]))


@pytest.mark.parametrize("v0,vs,s", [(-0.79, 0.011, 0.87), (0.05, 0.2, 0.97), (1.5, 1.0, 0.6)])
def test_arc_min_matches_reference(v0, vs, s):
    """min over t along the hyperbola arc (no time integration) vs full-dimensional DOP853; includes an
    interior minimum (a head that crosses zero) and minima at t = inf."""
    p = _isotropic_problem(v0, vs, s)
    arc = k1.arc_min_ood(v0, vs, s)
    ref = reference.reference_min_ood(p, gtol=1e-12)
    assert abs(arc["min"] - ref["min_identity"]) <= 1e-8 * ref["min_identity"] + 1e-12
    assert abs(arc["limit"] - k1.limit_of_problem(p)["ood_identity"]) < 1e-14
    if v0 * vs < 0:
        assert not arc["at_limit"] and arc["min"] < arc["limit"]


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="k = 1"):
        k1.scalars_of_problem(Problem.random(seed=0, d=9, k=2, m=3, eps=0.0))
    with pytest.raises(ValueError, match="eps = 0"):
        k1.scalars_of_problem(Problem.random(seed=0, d=9, k=1, m=3, eps=0.1))
    with pytest.raises(ValueError, match="s must"):
        k1.arc_min_ood(0.1, 1.0, 0.0)


@pytest.mark.parametrize("name,interior", [("violation_both-statements_k1_eps0_small_wstar.npz", False),
                                           ("violation_both-statements_k1_eps0_interior_min.npz", True),
                                           ("violation_both-statements_k1_eps0_worst_found.npz", True)])
def test_saved_k1_violations_replay(name, interior):
    """The saved k = 1, ε = 0 cases violate both statements by the reference integrator, at the value the
    closed form (t = inf) or the arc minimum (interior) predicts."""
    from lpft_theory.data import problem_path

    p = Problem.load(problem_path(name))
    sc = k1.scalars_of_problem(p)
    ref = reference.reference_min_ood(p, gtol=1e-12)
    arc = k1.arc_min_ood(sc["v0"], sc["v_star"], sc["s"])
    assert abs(arc["min"] - ref["min_identity"]) <= 1e-8 * ref["min_identity"] + 1e-12
    assert arc["at_limit"] is (not interior)
    for st in bounds.STATEMENTS:
        b = bounds.ft_lower_bound(p, st)
        assert b.applies and ref["min_identity"] < b.value - bounds.violation_tolerance(b.value, ref["min_identity"], 0.01)


def test_arc_v_is_the_head_of_arc_states_bit_for_bit():
    """The branch-only head equals the head of the two-branch _arc_states, for δ of both signs and δ = 0."""
    rng = np.random.default_rng(3)
    p = rng.normal(size=(6, 50)) * np.logspace(-8, 2, 50)
    p[:, 0] = 0.0
    delta = np.array([-2.0, -1e-9, 0.0, 1e-9, 0.3, 5.0])[:, None]
    x_sign = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])[:, None]
    ref = k1._arc_states(p, delta, x_sign)[0]
    assert np.array_equal(k1._arc_v(p, delta, x_sign), ref)


def test_arc_min_ood_batch_rows_are_independent():
    """Each head of a batch gets exactly what it gets alone (heads of both signs, on both sides of |v*|)."""
    w, s = 0.7, 0.8
    v0 = np.array([-2.1, -0.9, -0.3, 0.05, 0.5, 1.3, 3.0])
    many = k1.arc_min_ood_batch(v0, w, s, grid=801, zoom=2)
    for i, v in enumerate(v0):
        one = k1.arc_min_ood(v, w, s, grid=801, zoom=2)
        assert one["min"] == many["min"][i] and one["p_min"] == many["p_min"][i]
        assert one["at_limit"] == bool(many["at_limit"][i]) and one["v_min"] == many["v_min"][i]
    with pytest.raises(ValueError, match="stable manifold"):
        k1.arc_min_ood_batch(np.array([0.5, -s]), w, s)

"""The observer's certified minimum over t ∈ [0, ∞] against the independent dense reference
(theory/reference.py: full-dimensional scipy DOP853 for the finite-time minima, Radau with the analytic
Jacobian at rtol 1e-13 for the t = ∞ limit), on a test set with constructed interior minima, minima at
∞ and at t = 0, both losses, k = 1 and k > 1."""

import os

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from lpft_theory.problem import Problem
from lpft_theory.theory import bounds, observe, reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REL, ABS = 1e-8, 1e-12


def _load(name):
    return Problem.load(os.path.join(ROOT, "problems", name))


def _opposite_head(seed, wn, alpha, gamma, sigma=None, d=8, m=3):
    """k = 1, ε = 0, head −α v*: FT's error first dips, then rises to its limit (the case of issue 11)."""
    p = Problem.random(seed, d=d, k=1, m=m, n=2 * m, eps=0.0, head="zero", w_star_norm=wn, id_overlap=gamma,
                       sigma_ood=sigma, sigma_cond=20.0)
    p = bounds.align_representative(p)
    return eqx.tree_at(lambda q: q.v0, p, jnp.asarray(-alpha * np.asarray(p.v_star)))


def _reference(p):
    """min over [0, ∞] by the reference: DOP853 (rtol 1e-12) for every finite-time local minimum and
    Radau + analytic Jacobian (rtol 1e-13, gradient 1e-15) for the limit."""
    dop = reference.reference_min_ood(p, rtol=1e-12, atol=1e-15)
    rad = reference.reference_min_ood(p, rtol=1e-13, atol=1e-16, gtol=1e-15, method="Radau", n_grid=200)
    out = {}
    for key in ("identity", "sigma"):
        lim = rad[f"limit_{key}"]
        fin = dop[f"min_{key}"]
        out[key] = (lim, "infinity") if lim <= fin else (fin, dop[f"where_{key}"])
        out[f"limit_{key}"] = lim
    return out


def _default_set():
    """(name, problem, where expected for the sigma loss or None)."""
    interior = _load("interior_min_k1.npz")
    adv = _load("violation_submission-thm-3.1_adversarial_k1.npz")
    k2 = Problem.random(4, d=12, k=2, m=4, n=8, eps=0.05, head="random", head_scale=0.3, w_star_norm=1.0,
                        sigma_ood="anisotropic", sigma_cond=30.0)
    aniso = _opposite_head(11, 0.15, 2.3, 0.68, sigma="anisotropic")
    # at t = 0: ε = 0 and v0 = v* in B0's frame: the residual is zero, FT never moves
    st = bounds.align_representative(Problem.random(2, d=8, k=2, m=3, n=6, eps=0.0, w_star_norm=0.7))
    st = eqx.tree_at(lambda q: q.v0, st, st.v_star)
    return [("interior_k1", interior, "interior"), ("adversarial_k1", adv, "infinity"), ("k2_aniso", k2, None),
            ("interior_k1_aniso", aniso, None), ("stationary_k2", st, "t=0")]


_REFERENCES = {}  # name -> _reference(p): the default set is checked with both solvers, integrated once


def _check(cases, solver="kvaerno5"):
    obs = observe.observe([c[1] for c in cases], solver=solver)
    worst = 0.0
    for i, (name, p, where) in enumerate(cases):
        ref = _REFERENCES[name] if name in _REFERENCES else _REFERENCES.setdefault(name, _reference(p))
        for key in ("identity", "sigma"):
            got, (want, ref_where) = float(obs[f"min_{key}"][i]), ref[key]
            err = abs(got - want)
            worst = max(worst, err / (REL * abs(want) + ABS))
            assert err <= REL * abs(want) + ABS, (name, key, got, want, ref_where)
            code = observe.WHERE[int(obs[f"where_{key}"][i])]
            if ref_where in ("interior", "t=0") and abs(ref[f"limit_{key}"] - want) > 1e-6 * want:
                assert code == ref_where, (name, key, code, ref_where)
            if ref_where == "infinity" and abs(ref[f"limit_{key}"] - float(obs[f"min_finite_{key}"][i])) > 1e-6 * want:
                assert code == "infinity", (name, key, code)
        if where is not None:
            assert observe.WHERE[int(obs["where_sigma"][i])] == where, name
        assert bool(obs["converged"][i]), name
    return worst


@pytest.mark.parametrize("solver", ["kvaerno5", "rodas4_fused"])
def test_observer_matches_dense_reference_default_set(solver):
    """Both stiff solvers of the observer: diffrax's Kvaerno5 (saved steps) and the package's Rodas4 loop
    (streamed: brackets kept in the loop's carry)."""
    assert _check(_default_set(), solver) <= 1.0


def test_streaming_solve_in_chunks_is_the_same_solve(monkeypatch):
    """The streaming (Rodas4) phase 1 continued chunk by chunk (8 attempted steps per chunk, unfinished
    members re-batched after each) is the same solve as in one chunk: the same steps and minima."""
    cases = _default_set()
    probs = [c[1] for c in cases]
    one = observe.observe(probs, solver="rodas4_fused")
    monkeypatch.setattr(observe, "STREAM_CHUNK_STEPS", 8)
    many = observe.observe(probs, solver="rodas4_fused")
    assert np.all(one["steps"][:-1] > 8 * 4)  # several chunks each (the stationary start needs no step)
    np.testing.assert_array_equal(one["n_steps_saved"], many["n_steps_saved"])
    for key in ("identity", "sigma"):
        np.testing.assert_allclose(many[f"min_{key}"], one[f"min_{key}"], rtol=1e-13, atol=0)
        np.testing.assert_array_equal(many[f"where_{key}"], one[f"where_{key}"])


@pytest.mark.slow
def test_solve_in_many_chunks_matches_the_reference(monkeypatch):
    """The solve continued chunk by chunk (64 steps per chunk: every problem of the set needs several)
    still matches the dense reference on the default set, and the steps add up over the chunks."""
    monkeypatch.setattr(observe, "CHUNK_STEPS", 64)
    cases = _default_set()
    obs = observe.observe([c[1] for c in cases])
    assert np.all(obs["n_steps_saved"][:-1] > 64)  # the stationary start needs no step
    assert _check(cases) <= 1.0


def test_limit_of_the_adversarial_k1_file_at_tight_tolerance():
    """The t = ∞ value (the minimum there) against Radau at rtol 1e-13 run to a gradient of 1e-15: the
    old grid observer stopped short of it by 2.5e-4 relative."""
    p = _load("violation_submission-thm-3.1_adversarial_k1.npz")
    obs = observe.observe([p])
    rad = reference.reference_min_ood(p, rtol=1e-13, atol=1e-16, gtol=1e-15, method="Radau", n_grid=200)
    assert rad["converged"]
    for key in ("identity", "sigma"):
        assert obs[f"limit_{key}"][0] == pytest.approx(rad[f"limit_{key}"], rel=REL, abs=ABS)
        assert observe.WHERE[int(obs[f"where_{key}"][0])] == "infinity"


def test_reference_jacobian_is_the_derivative_of_its_field():
    """Radau's analytic Jacobian against central differences of the reference's own field."""
    p = Problem.random(7, d=6, k=2, m=2, n=4, eps=0.2, head="random")
    grad, jac, _, z0, _, _ = reference._fields(p)
    z = z0 + 0.1 * np.random.default_rng(0).standard_normal(z0.size)
    J = jac(0.0, z)
    h = 1e-6
    fd = np.stack([(grad(z + h * e) - grad(z - h * e)) / (2 * h) for e in np.eye(z.size)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-7)


@pytest.mark.slow
def test_observer_matches_dense_reference_large_set():
    rng = np.random.default_rng(5)
    cases = []
    for i in range(8):  # constructed interior minima, both Σ
        cases.append((f"opp{i}", _opposite_head(int(rng.integers(1e6)), float(10 ** rng.uniform(-1.2, 0.3)),
                                                float(rng.uniform(1.2, 3.0)), float(rng.uniform(0.2, 0.9)),
                                                sigma="anisotropic" if i % 2 else None), None))
    for i in range(12):  # random k = 1, 2 problems, both Σ, mostly minima at ∞
        k = 1 + i % 2
        cases.append((f"rnd{i}", Problem.random(int(rng.integers(1e6)), d=10, k=k, m=3, n=6,
                                                eps=float(rng.uniform(0, 0.3)), head="random",
                                                head_scale=float(10 ** rng.uniform(-1, 0.5)),
                                                w_star_norm=float(10 ** rng.uniform(-1, 0.5)),
                                                sigma_ood="anisotropic" if i % 3 else None), None))
    for name in ("violation_final-thm-3.3_k1.npz", "violation_both-statements_k2.npz"):
        cases.append((name, _load(name), None))
    assert _check(cases) <= 1.0


def test_confirm_switches_to_radau_past_its_budget(monkeypatch):
    """With a tiny DOP853 budget the confirmation runs Radau instead, says so, and finds the same minimum
    as DOP853 (both at rtol 1e-11)."""
    p = _load("interior_min_k1.npz")
    dop = reference.reference_min_ood(p, method="DOP853")
    auto = reference.reference_min_ood(p, method="auto", max_nfev=50)
    assert auto["method"].startswith("Radau") and dop["method"] == "DOP853"
    for key in ("identity", "sigma"):
        assert auto[f"min_{key}"] == pytest.approx(dop[f"min_{key}"], rel=1e-8, abs=1e-12)
    roomy = reference.reference_min_ood(p, method="auto", max_nfev=10**7)
    assert roomy["method"] == "DOP853" and roomy["min_identity"] == dop["min_identity"]
    with pytest.raises(ValueError, match="method"):
        reference.reference_min_ood(p, method="rk45")


def test_confirm_runs_radau_to_a_flagged_minimum_at_infinity():
    """A row flagged with its minimum at t = ∞ is confirmed by Radau run to the steady state (no horizon);
    one flagged at a finite time by DOP853 to 1.5 t_min. Radau at the confirmation's rtol 1e-11 agrees with
    Radau at rtol 1e-13 on the end state to 1e-9 (relative)."""
    p = _load("interior_min_k1.npz")
    fake = dict(statement="final-thm-3.3", bound=1e9, tolerance=0.0, holds=False, applies=True)
    at_inf = reference.confirm(p, [dict(fake, where="infinity", t_min=1.0)])[0]
    assert at_inf["reference_method"] == "Radau" and at_inf["status"] == "confirmed violation"
    finite = reference.confirm(p, [dict(fake, where="interior", t_min=0.5)])[0]
    assert finite["reference_method"] == "DOP853" and finite["reference_t_min"] <= 0.75
    tight = reference.reference_min_ood(p, method="Radau", rtol=1e-13, atol=1e-15)
    loose = reference.reference_min_ood(p, method="Radau")
    for key in ("identity", "sigma"):
        assert loose[f"limit_{key}"] == pytest.approx(tight[f"limit_{key}"], rel=1e-9)


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="solver"):
        observe.observe([_load("interior_min_k1.npz")], solver="tsit5_fused")

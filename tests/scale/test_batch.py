"""Batched simulation equals per-problem simulation; lockstep accounting; the stiffness estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from lpft_theory import Problem, reduce, simulate
from lpft_theory.cli.main import main
from lpft_theory.scale.batch import simulate_batch, stiffness_estimate
from lpft_theory.trajectory import Trajectory
from lpft_theory.flows import ft_field
from lpft_theory.metrics import trajectory_metrics

SHAPE = dict(d=20, k=2, m=6, n=12)
TIMES = [0.0, 0.3, 1.0]


def _stack(problems):
    fields = ("X", "y", "B0", "v0", "w_star", "B_star", "v_star")
    return Problem.from_arrays(**{f: np.stack([np.asarray(getattr(p, f)) for p in problems]) for f in fields})


@pytest.fixture(scope="module")
def members():
    # heads of clearly different norms give members of clearly different stiffness
    heads = (0.3, 1.0, 2.5, 6.0)
    return [Problem.random(seed=s, eps=0.2, head=np.array([h, 0.2]), **SHAPE) for s, h in enumerate(heads)]


@pytest.fixture(scope="module")
def batched(members):
    return _stack(members)


@pytest.fixture(scope="module")
def ft_batch(batched):
    # groups of 2 after sorting by stiffness (the one batched compile of this file; test_sweeps reuses it)
    return simulate_batch(batched, "ft", TIMES, group_size=2, sort=True)


def test_batched_ft_equals_per_problem(members, ft_batch):
    assert isinstance(ft_batch, Trajectory) and ft_batch.batched and len(ft_batch) == 4
    assert ft_batch.v.shape == (4, 3, 2) and ft_batch.B_S.shape == (4, 3, 2, 6)
    for i, p in enumerate(members):
        tr = simulate(p, "ft", TIMES)
        np.testing.assert_allclose(ft_batch.v[i], tr.v, rtol=0, atol=1e-10)
        np.testing.assert_allclose(ft_batch.B_S[i], tr.B_S, rtol=0, atol=1e-10)
        # the same adaptive step sequence, up to an accept/reject decision flipped by rounding
        assert abs(int(ft_batch.num_steps[i]) - tr.num_steps) <= 2


def test_grouping_follows_stiffness_and_lockstep_accounting(batched, ft_batch):
    """Head norms 0.3..6 make the stiffness increase with the member index, so the sorted groups
    are {0, 1} and {2, 3}; each group executes 2 x (its slowest member's steps)."""
    rp = reduce(batched)
    est = stiffness_estimate(rp.G, rp.v0, rp.B_S0)
    assert np.all(np.diff(est) > 0)
    s = np.asarray(ft_batch.num_steps)
    assert ft_batch.info["work"]["member_steps"] == s.sum()
    assert ft_batch.info["work"]["lockstep_steps"] == 2 * max(s[0], s[1]) + 2 * max(s[2], s[3])
    assert ft_batch.info["work"]["groups"] == 2
    assert np.isclose(ft_batch.info["work"]["waste"], 1 - s.sum() / ft_batch.info["work"]["lockstep_steps"])
    # stiffer members need more steps (the point of sorting)
    assert s[3] > s[0]


def test_batched_ft_matches_independent_scipy(members, ft_batch):
    """The final state against scipy's DOP853 on the reduced flow written out here (rtol 1e-12)."""
    for i in (0, 3):
        rp = reduce(members[i])
        G, a = np.asarray(rp.G), np.asarray(rp.a_star)
        k, m = 2, 6

        def f(t, z):
            v, B = z[:k], z[k:].reshape(k, m)
            r = G @ (B.T @ v - a)
            return np.concatenate([-2 * B @ r, (-2 * np.outer(v, r)).ravel()])

        z0 = np.concatenate([np.asarray(rp.v0), np.asarray(rp.B_S0).ravel()])
        sol = solve_ivp(f, (0, TIMES[-1]), z0, method="DOP853", rtol=1e-12, atol=1e-14)
        z = np.concatenate([np.asarray(ft_batch.v[i, -1]), np.asarray(ft_batch.B_S[i, -1]).ravel()])
        np.testing.assert_allclose(z, sol.y[:, -1], rtol=0, atol=1e-8)


def test_lp_batch_equals_per_problem_and_closed_form_limit(members, batched):
    t = [0.0, 0.5, np.inf]
    bt = simulate_batch(batched, "lp", t)
    for i, p in enumerate(members):
        tr = simulate(p, "lp", t)
        np.testing.assert_allclose(bt.v[i], tr.v, rtol=0, atol=1e-10)
        # independent fact: the LP limit is the least-squares head (B0 X^T X B0^T)^{-1} B0 X^T y
        A = np.asarray(p.X) @ np.asarray(p.B0).T
        v_ls = np.linalg.lstsq(A, np.asarray(p.y), rcond=None)[0]
        np.testing.assert_allclose(bt.v[i, -1], v_ls, rtol=1e-9, atol=1e-10)
    assert np.all(bt.num_steps == 0) and bt.converged.all()


def test_metrics_of_batch_equal_trajectory_metrics(ft_batch):
    mets = trajectory_metrics(ft_batch)
    one = trajectory_metrics(ft_batch.member(2))
    assert set(mets) == set(one)
    for name, arr in mets.items():
        assert arr.shape == (4, 3)
        np.testing.assert_allclose(arr[2], one[name], rtol=1e-12, atol=1e-14)


def test_member_lift_preserves_frozen_part(members, ft_batch):
    """Lemma A.3: B(t) x = B0 x for x in S-perp, checked on the lifted full features."""
    B = np.asarray(ft_batch.B())[1]  # (T, k, d)
    X = np.asarray(members[1].X)
    U = np.linalg.svd(X, full_matrices=True)[2]
    perp = U[6:].T  # basis of S-perp (rank 6)
    np.testing.assert_allclose(B @ perp, np.broadcast_to(np.asarray(members[1].B0) @ perp, B.shape[:1] + (2, 14)),
                               atol=1e-12)


def test_stiffness_estimate_bounds_jacobian_at_zero_residual():
    """At r = 0 the FT Jacobian's spectral radius lies in [2λ(G)|v|², 2λ(G)(|v|² + |B_S|²)]."""
    rng = np.random.default_rng(0)
    k, m = 3, 7
    Z = rng.standard_normal((12, m))
    G = Z.T @ Z
    v = rng.standard_normal(k)
    B = rng.standard_normal((k, m)) * 0.3

    class RP:
        pass

    rp = RP()
    rp.G, rp.a_star = jnp.asarray(G), jnp.asarray(B.T @ v)  # zero residual at (v, B)

    def flat(z):
        dv, dB = ft_field(0.0, (z[:k], z[k:].reshape(k, m)), rp)
        return jnp.concatenate([dv, dB.ravel()])

    J = np.asarray(jax.jacfwd(flat)(jnp.concatenate([jnp.asarray(v), jnp.asarray(B).ravel()])))
    rho = np.max(np.abs(np.linalg.eigvals(J)))
    lam = np.linalg.eigvalsh(G)[-1]
    est = float(stiffness_estimate(jnp.asarray(G)[None], jnp.asarray(v)[None], jnp.asarray(B)[None])[0])
    assert 2 * lam * (v @ v) * (1 - 1e-12) <= rho <= est * (1 + 1e-12)
    assert np.isclose(est, 2 * lam * (v @ v + np.linalg.norm(B, 2) ** 2))


def test_bad_input(members):
    with pytest.raises(ValueError, match="group_size"):
        simulate_batch(_stack(members[:2]), "lp", [0.0, 1.0], group_size=0)
    other = Problem.random(seed=9, d=21, k=2, m=6, n=12, eps=0.2)
    with pytest.raises(ValueError, match="equal shapes"):
        simulate_batch([members[0], other], "lp", [0.0, 1.0])
    with pytest.raises(TypeError, match="problems"):
        simulate_batch("not a problem", "ft", [0.0, 1.0])
    with pytest.raises(ValueError, match="one leading batch axis"):
        simulate_batch(members[0], "ft", [0.0, 1.0])
    with pytest.raises(ValueError, match="method"):
        simulate_batch(members[:2], "sgd", [0.0, 1.0])


@pytest.mark.slow
def test_batched_lpft_to_infinity_equals_per_problem(members, batched):
    t = [0.0, 0.5, np.inf]
    bt = simulate_batch(batched, "lpft", t, group_size=2)
    for i, p in enumerate(members):
        tr = simulate(p, "lpft", t)
        np.testing.assert_allclose(bt.v[i], tr.v, rtol=0, atol=1e-10)
        np.testing.assert_allclose(bt.B_S[i], tr.B_S, rtol=0, atol=1e-10)
        assert bool(bt.converged[i]) == tr.converged


def test_cli_simulate_accepts_a_batched_problem(members, batched, tmp_path, capsys):
    path = tmp_path / "batch.npz"
    batched.save(path)
    out = tmp_path / "R.npz"
    assert main(["simulate", "--problem", str(path), "--method", "lp", "--times", "0,0.5,inf", "--out", str(out)]) == 0
    with np.load(out) as r:
        assert r["v"].shape == (4, 3, 2) and r["B"].shape == (4, 3, 2, 20) and r["ood_loss"].shape == (4, 3)
        assert r["converged"].tolist() == [1, 1, 1, 1]
        for i, p in enumerate(members):
            tr = simulate(p, "lp", [0.0, 0.5, np.inf])
            np.testing.assert_allclose(r["v"][i], tr.v, rtol=0, atol=1e-10)
            np.testing.assert_allclose(r["B"][i], tr.B(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(r["ood_loss"][i], trajectory_metrics(tr)["ood_loss"], rtol=1e-12)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{f: np.stack([np.asarray(getattr(batched, f))] * 2) for f in ("X", "y", "B0", "v0", "w_star")})
    assert main(["simulate", "--problem", str(bad), "--method", "lp", "--times", "0,1", "--out", str(tmp_path / "x.npz")]) == 2
    assert "batch" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_fused_solver_auto_groups_and_equals_members(members, batched):
    """solver="tsit5_fused" with group_size="auto": groups of 4 on CPU, each member equal to its own solve."""
    members6 = members + [Problem.random(seed=s, eps=0.2, **SHAPE) for s in (11, 12)]
    bt = simulate_batch(_stack(members6), "ft", TIMES, solver="tsit5_fused", rtol=1e-10, atol=1e-12)
    assert bt.info["work"]["groups"] == (2 if jax.default_backend() == "cpu" else 1)
    for i, p in enumerate(members6):
        one = simulate(p, "ft", TIMES, solver="tsit5_fused", rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(bt.v[i]), np.asarray(one.v), rtol=1e-12, atol=1e-14)
        ref = simulate(p, "ft", TIMES, rtol=1e-10, atol=1e-12)  # diffrax's Tsit5
        np.testing.assert_allclose(np.asarray(bt.B_S[i]), np.asarray(ref.B_S), rtol=1e-8, atol=1e-10)

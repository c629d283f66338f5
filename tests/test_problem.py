"""Problem construction, validation and npz I/O."""

import warnings

import numpy as np
import pytest
import scipy.linalg

from lpft_theory import Problem, RegimeWarning, geometry


def test_random_hits_eps_and_m_exactly():
    for seed, (d, k, m, eps) in enumerate([(20, 2, 5, 0.1), (30, 3, 8, 0.4), (12, 1, 3, 1e-6), (15, 2, 4, 0.0)]):
        p = Problem.random(seed=seed, d=d, k=k, m=m, eps=eps)
        # independent: numerical minimisation over O(k), and scipy's principal angles
        assert geometry.feature_distance_numerical(p.B0, p.B_star, restarts=4) == pytest.approx(eps, abs=1e-8)
        theta = scipy.linalg.subspace_angles(np.asarray(p.B0).T, np.asarray(p.B_star).T).max()
        assert 2 * np.sin(theta / 2) == pytest.approx(eps, abs=1e-12)
        X = np.asarray(p.X)
        assert np.linalg.matrix_rank(X) == m
        assert X.shape == (2 * m, d)
        np.testing.assert_allclose(np.asarray(p.B0) @ np.asarray(p.B0).T, np.eye(k), atol=1e-13)
        np.testing.assert_allclose(np.asarray(p.y), X @ np.asarray(p.w_star), atol=1e-12)


def test_random_options():
    p = Problem.random(seed=1, d=20, k=2, m=5, n=9, eps=0.1, head="zero", w_star_norm=100.0)
    assert p.n == 9
    np.testing.assert_array_equal(np.asarray(p.v0), 0.0)
    assert np.linalg.norm(p.w_star) == pytest.approx(100.0, rel=1e-13)
    p = Problem.random(seed=1, d=20, k=2, m=5, eps=0.1, head=np.array([1.0, -2.0]))
    np.testing.assert_array_equal(np.asarray(p.v0), [1.0, -2.0])
    p = Problem.random(seed=2, d=20, k=2, m=5, eps=0.1, id_overlap=0.3)
    U_S = scipy.linalg.orth(np.asarray(p.X).T)
    cos2 = np.cos(scipy.linalg.subspace_angles(np.asarray(p.B0).T, U_S)) ** 2
    np.testing.assert_allclose(cos2, 0.3, atol=1e-12)
    p = Problem.random(seed=3, d=10, k=2, m=4, eps=0.1, sigma_ood="anisotropic", sigma_cond=5.0)
    lam = np.linalg.eigvalsh(np.asarray(p.sigma_ood))
    assert lam[0] == pytest.approx(1.0) and lam[-1] == pytest.approx(5.0)
    p = Problem.random(seed=4, d=10, k=2, m=6, eps=0.1, input_cond=100.0)
    s = np.linalg.svd(np.asarray(p.X), compute_uv=False)
    assert s[0] / s[5] > 3  # anisotropic inputs on S


def test_random_is_deterministic_per_seed():
    a = Problem.random(seed=5, d=15, k=2, m=4, eps=0.2)
    b = Problem.random(seed=5, d=15, k=2, m=4, eps=0.2)
    c = Problem.random(seed=6, d=15, k=2, m=4, eps=0.2)
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))
    np.testing.assert_array_equal(np.asarray(a.B0), np.asarray(b.B0))
    assert not np.allclose(np.asarray(a.X), np.asarray(c.X))


def test_save_load_roundtrip(tmp_path):
    p = Problem.random(seed=0, d=10, k=2, m=4, eps=0.1, sigma_ood="anisotropic")
    path = tmp_path / "p.npz"
    p.save(path)
    with np.load(path) as f:
        assert set(f.files) == {"X", "y", "B0", "v0", "w_star", "B_star", "v_star", "sigma_ood"}
    q = Problem.load(path)
    for name in ("X", "y", "B0", "v0", "w_star", "B_star", "v_star", "sigma_ood"):
        np.testing.assert_array_equal(np.asarray(getattr(p, name)), np.asarray(getattr(q, name)))
    assert not list(tmp_path.glob("*.tmp"))


def _arrays(seed=0):
    p = Problem.random(seed=seed, d=10, k=2, m=4, eps=0.1)
    return {k: np.array(getattr(p, k)) for k in ("X", "y", "B0", "v0", "w_star", "B_star", "v_star")}


@pytest.mark.parametrize(
    "mutate,field,match",
    [
        (lambda a: a.update(y=a["y"][:-1]), "y", "y must have shape"),
        (lambda a: a.update(B0=a["B0"][:, :-1]), "B0", "B0 must have shape"),
        (lambda a: a.update(v0=np.zeros(3)), "v0", "v0 must have shape"),
        (lambda a: a.update(w_star=np.zeros(11)), "w_star", "w_star must have shape"),
        (lambda a: a.update(X=a["X"][0]), "X", "X must be a 2-D array"),
        (lambda a: a.update(B0=2 * a["B0"]), "B0", "B0 must have orthonormal rows"),
        (lambda a: a.update(B_star=a["B_star"] + 0.01), "B_star", "B_star must have orthonormal rows"),
        (lambda a: a["X"].__setitem__((0, 0), np.nan), "X", "X contains NaN or inf"),
        (lambda a: a["v0"].__setitem__(0, np.inf), "v0", "v0 contains NaN or inf"),
        (lambda a: a.update(y=a["y"] + 1e-3), "y", "y must equal X @ w_star"),
        (lambda a: a.update(v_star=a["v_star"] + 1.0), "w_star", "w_star must equal B_star"),
        (lambda a: a.update(sigma_ood=-np.eye(10)), "sigma_ood", "sigma_ood must be positive definite"),
        (lambda a: a.update(sigma_ood=np.triu(np.ones((10, 10)))), "sigma_ood", "sigma_ood must be symmetric"),
        (lambda a: a.update(X=np.zeros((8, 10)), y=np.zeros(8)), "X", "X has rank 0"),
        (lambda a: a.update(X=np.zeros((0, 10)), y=np.zeros(0)), "n", "n must be >= 1"),
    ],
)
def test_from_arrays_rejects_bad_input(mutate, field, match):
    a = _arrays()
    mutate(a)
    with pytest.raises(ValueError, match=match):
        Problem.from_arrays(**a)


def test_type_errors_and_k_greater_than_d():
    a = _arrays()
    a["X"] = np.array([["a"] * 10] * 8)
    with pytest.raises(TypeError, match="X must be a real numeric array"):
        Problem.from_arrays(**a)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="k must be <= d"):
        Problem.from_arrays(rng.standard_normal((3, 2)), np.zeros(3), np.eye(3)[:, :2], np.zeros(3), np.zeros(2))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(d=10, k=2, m=11), "m must satisfy"),
        (dict(d=10, k=2, m=0), "m must satisfy"),
        (dict(d=10, k=2, m=6, n=5), "m must be <= n"),
        (dict(d=10, k=11, m=4), "k must be <= d"),
        (dict(d=10, k=2, m=4, n=0), "n must be >= 1"),
        (dict(d=10, k=2, m=4, eps=2.0), "eps must lie in"),
        (dict(d=10, k=2, m=4, eps=float("nan")), "eps must lie in"),
        (dict(d=10, k=2, m=4, head="ones"), "head must be"),
        (dict(d=10, k=2, m=4, head=np.zeros(3)), "head must have shape"),
        (dict(d=10, k=2, m=4, sigma_ood="round"), "sigma_ood must be"),
    ],
)
def test_random_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Problem.random(seed=0, **kwargs)


def test_outside_regime_warns_but_builds():
    with pytest.warns(RegimeWarning, match="outside the theorems' regime"):
        p = Problem.random(seed=0, d=2, k=1, m=1, n=1, eps=0.1)  # the 2-D toy: m + k = d
    assert p.d == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", RegimeWarning)
        Problem.random(seed=0, d=10, k=2, m=4, eps=0.1)  # inside: no warning


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Problem.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        Problem.load(bad)
    a = _arrays()
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in a.items() if k != "B0"})
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['B0'\]"):
        Problem.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "extra.npz", extra=np.zeros(2), **a)
    with pytest.raises(ValueError, match="unknown key"):
        Problem.load(tmp_path / "extra.npz")


def test_x_is_factorised_once_and_reused_by_reduce(monkeypatch):
    from lpft_theory import reduce

    calls = []
    real = geometry.column_space

    def counting(M, *a, **kw):
        calls.append(np.shape(M))
        return real(M, *a, **kw)

    monkeypatch.setattr(geometry, "column_space", counting)
    p = Problem.random(seed=5, d=40, k=2, m=6, n=10, eps=0.2)
    assert calls == [(40, 10)]  # validation factorised Xᵀ once; random() reused its rank
    space = p.row_space()
    assert p.row_space() is space and space.rank == 6 and calls == [(40, 10)]
    X = np.asarray(p.X)
    np.testing.assert_allclose(space.s, np.linalg.svd(X, compute_uv=False), rtol=0, atol=1e-13)
    rp = reduce(p)
    assert (40, 10) not in calls[1:]  # reduce used the kept basis (its other call is the OOD basis)
    np.testing.assert_array_equal(np.asarray(rp.U_S), space.basis)
    # a batch: each member factorised once at validation, reused member by member
    calls.clear()
    arrays = {f: np.stack([np.asarray(getattr(q, f)) for q in (p, Problem.random(seed=6, d=40, k=2, m=6, n=10))])
              for f in ("X", "y", "B0", "v0", "w_star")}
    calls.clear()
    batch = Problem.from_arrays(**arrays)
    assert calls == [(40, 10), (40, 10)]
    rb = reduce(batch)
    assert calls.count((40, 10)) == 2
    np.testing.assert_array_equal(np.asarray(rb.U_S[0]), space.basis)
    with pytest.raises(ValueError, match="batch"):
        batch.row_space()
    # a Problem built without validation (e.g. by a tree map) is factorised on demand, then kept
    q = Problem(*(a + 0.0 for a in (p.X, p.y, p.B0, p.v0, p.w_star)))
    calls.clear()
    assert q.row_space().rank == 6 and q.row_space().rank == 6 and calls == [(40, 10)]


def test_reduce_on_the_host_gives_numpy_fields_with_the_same_values():
    import jax

    from lpft_theory.reduced import reduce

    p = Problem.random(seed=4, d=15, k=2, m=4, n=8, eps=0.2, sigma_ood="anisotropic")
    dev, host = reduce(p, n_ood=3), reduce(p, n_ood=3, host=True)
    for name in ("G", "a_star", "v0", "B0_red", "w_red", "sigma_red", "Bstar_red", "Z", "ood_S", "basis"):
        h, d = getattr(host, name), getattr(dev, name)
        assert isinstance(h, np.ndarray) and isinstance(d, jax.Array), name
        np.testing.assert_array_equal(h, np.asarray(d), err_msg=name)
    assert host.m == dev.m

"""Label noise (issue 7): σ = 0 changes nothing; σ > 0 changes only y; the training-loss floor
against an independent least-squares computation; the ID test loss on fresh draws; noisy files."""

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.variants import frozen_head as fh
from lpft_theory.variants import noise
from lpft_theory.problem import FIELDS

SHAPE = dict(d=12, k=2, m=4, n=8)  # shared with the core tests (one compile)


def _fields(p):
    return {f: None if getattr(p, f) is None else np.asarray(getattr(p, f)) for f in FIELDS}


def test_sigma_zero_changes_nothing():
    base = lt.Problem.random(seed=5, eps=0.2, sigma_ood="anisotropic", **SHAPE)
    for kw in (dict(label_noise=0.0), dict(label_noise=0.0, noise_seed=11)):
        same = lt.Problem.random(seed=5, eps=0.2, sigma_ood="anisotropic", **SHAPE, **kw)
        for f, a in _fields(base).items():
            b = _fields(same)[f]
            assert (a is None and b is None) or np.array_equal(a, b), f
    assert noise.add_label_noise(base, 0.0, seed=1) is base
    assert not noise.is_noisy(base)
    a = lt.simulate(base, "ft", [0.0, 1.0, 2.0])
    b = lt.simulate(lt.Problem.random(seed=5, eps=0.2, sigma_ood="anisotropic", label_noise=0.0, **SHAPE), "ft",
                    [0.0, 1.0, 2.0])
    assert np.array_equal(np.asarray(a.v), np.asarray(b.v)) and np.array_equal(np.asarray(a.B_S), np.asarray(b.B_S))


def test_noise_changes_only_y():
    base = lt.Problem.random(seed=5, eps=0.2, **SHAPE)
    noisy = lt.Problem.random(seed=5, eps=0.2, label_noise=0.3, noise_seed=2, **SHAPE)
    for f, a in _fields(base).items():
        if f != "y":
            b = _fields(noisy)[f]
            assert (a is None and b is None) or np.array_equal(a, b), f
    X, w = np.asarray(noisy.X), np.asarray(noisy.w_star)
    resid = np.asarray(noisy.y) - X @ w
    assert np.linalg.norm(resid) > 0.1
    assert noise.is_noisy(noisy)
    assert noise.label_residual(noisy)["absolute"] == pytest.approx(np.linalg.norm(resid), rel=1e-12)
    # another noise seed, other noise; the same seed, the same noise
    other = lt.Problem.random(seed=5, eps=0.2, label_noise=0.3, noise_seed=3, **SHAPE)
    again = lt.Problem.random(seed=5, eps=0.2, label_noise=0.3, noise_seed=2, **SHAPE)
    assert not np.allclose(np.asarray(other.y), np.asarray(noisy.y))
    assert np.array_equal(np.asarray(again.y), np.asarray(noisy.y))
    with pytest.raises(ValueError, match="label_noise"):
        lt.Problem.random(seed=5, eps=0.2, label_noise=-0.1, **SHAPE)


def test_training_loss_floor_and_id_test_loss():
    """At the end of frozen-head FT (which fits w within S exactly) the training loss is the
    least-squares floor ‖(I - P_X) y‖², while the ID test loss (clean labels) is positive:
    the noise was fitted. Floor and ID risk computed here with numpy on full arrays."""
    p = lt.Problem.random(seed=5, eps=0.2, label_noise=0.3, noise_seed=2, **SHAPE)
    X, y, w_star = (np.asarray(a) for a in (p.X, p.y, p.w_star))
    floor = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    tr = fh.simulate_frozen_head(p, [0.0, float("inf")])
    m = noise.noisy_metrics(tr, n_test=20000, seed=1)
    assert m["train_loss"][-1] == pytest.approx(floor, rel=1e-9)
    assert floor > 1e-2
    e = np.asarray(tr.w()[-1]) - w_star
    exact = e @ (X.T @ X / X.shape[0]) @ e  # E[(eᵀx)²], x ~ N(0, XᵀX/n)
    assert m["id_test_loss_exact"][-1] == pytest.approx(exact, rel=1e-9)
    assert exact > 1e-3
    # Monte Carlo over 20000 fresh draws: relative std sqrt(2/20000) = 1 %
    assert m["id_test_loss"][-1] == pytest.approx(exact, rel=0.05)
    # without noise the same run reaches zero ID test loss
    clean = lt.Problem.random(seed=5, eps=0.2, **SHAPE)
    mc = noise.noisy_metrics(fh.simulate_frozen_head(clean, [0.0, float("inf")]), n_test=100)
    assert mc["id_test_loss"][-1] < 1e-20 and mc["train_loss"][-1] < 1e-20


def test_noisy_files_are_refused_unless_allowed(tmp_path):
    p = lt.Problem.random(seed=5, eps=0.2, label_noise=0.3, **SHAPE)
    path = tmp_path / "noisy.npz"
    p.save(path)
    with pytest.raises(ValueError, match="noiseless"):
        lt.Problem.load(path)
    q = lt.Problem.load(path, allow_label_noise=True)
    assert noise.is_noisy(q)
    added = noise.add_label_noise(lt.Problem.random(seed=5, eps=0.2, **SHAPE), 0.3, seed=4)
    assert noise.is_noisy(added)
    with pytest.raises(ValueError, match="sigma"):
        noise.add_label_noise(q, -1.0, seed=0)

"""Sweeps: table shape, determinism per seed, values against independent facts, I/O."""

import csv

import numpy as np
import pytest

from lpft_theory import Problem
from lpft_theory.scale.sweeps import SweepTable, grid_settings, member_bytes, run_sweep

# the shape and times of tests/test_batch.py, so the jitted cores are reused
BASE = dict(d=20, k=2, m=6, n=12)
TIMES = [0.0, 0.3, 1.0]
GRID = {"eps": [0.05, 0.3]}
SEEDS = [3, 7]


@pytest.fixture(scope="module")
def table():
    return run_sweep(GRID, SEEDS, "ft", TIMES, base=BASE, group_size=2, progress=False)


def test_table_shape_and_keys(table):
    n_traj = len(GRID["eps"]) * len(SEEDS)
    assert len(table) == n_traj * len(TIMES)
    for name in ("traj", "seed", "eps", "t", "num_steps", "converged", "train_loss", "ood_loss", "feature_distance"):
        assert name in table.names
        assert table.columns[name].shape == (n_traj * len(TIMES),)
    np.testing.assert_array_equal(table.columns["traj"], np.repeat(np.arange(n_traj), len(TIMES)))
    np.testing.assert_array_equal(table.columns["seed"], np.repeat([3, 7, 3, 7], len(TIMES)))
    np.testing.assert_array_equal(table.columns["eps"], np.repeat([0.05, 0.05, 0.3, 0.3], len(TIMES)))
    np.testing.assert_array_equal(table.columns["t"], np.tile(TIMES, n_traj))
    assert np.all(table.columns["converged"] == -1)


def test_values_match_independent_facts(table):
    c = table.columns
    for j, (eps, seed) in enumerate([(0.05, 3), (0.05, 7), (0.3, 3), (0.3, 7)]):
        p = Problem.random(seed=seed, eps=eps, **BASE)
        row0 = j * len(TIMES)
        # t = 0: features are the pretrained ones, d(B0, B*) = eps exactly by construction
        assert np.isclose(c["feature_distance"][row0], eps, rtol=1e-10)
        # t = 0: OOD loss (Σ = I) is ||B0^T v0 - w*||^2, and the training loss ||X B0^T v0 - y||^2
        e = np.asarray(p.B0).T @ np.asarray(p.v0) - np.asarray(p.w_star)
        assert np.isclose(c["ood_loss"][row0], e @ e, rtol=1e-10)
        r = np.asarray(p.X) @ (np.asarray(p.B0).T @ np.asarray(p.v0)) - np.asarray(p.y)
        assert np.isclose(c["train_loss"][row0], r @ r, rtol=1e-10)
        # the training loss never increases along the flow
        assert np.all(np.diff(c["train_loss"][row0 : row0 + len(TIMES)]) <= 1e-12)


def test_deterministic_per_seed_and_independent_of_chunking(table):
    again = run_sweep(GRID, SEEDS, "ft", TIMES, base=BASE, group_size=2, progress=False)
    for name in table.names:
        np.testing.assert_array_equal(again.columns[name], table.columns[name])
    # one seed alone gives the same rows as inside the bigger sweep
    alone = run_sweep({"eps": [0.3]}, [7, 3], "ft", TIMES, base=BASE, group_size=2, chunk_size=2, progress=False)
    rows_big = (table.columns["eps"] == 0.3) & (table.columns["seed"] == 7)
    rows_alone = alone.columns["seed"] == 7
    for name in ("train_loss", "ood_loss", "feature_distance", "distortion_ood"):
        np.testing.assert_allclose(alone.columns[name][rows_alone], table.columns[name][rows_big], rtol=1e-12, atol=1e-14)


def test_save_npz_and_csv(table, tmp_path):
    table.save(tmp_path / "s.npz")
    back = SweepTable.load(tmp_path / "s.npz")
    for name in table.names:
        np.testing.assert_array_equal(back.columns[name], table.columns[name])
    table.save(tmp_path / "s.csv")
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == table.names and len(rows) == len(table) + 1
    col = rows[0].index("ood_loss")
    np.testing.assert_array_equal([float(r[col]) for r in rows[1:]], table.columns["ood_loss"])
    with pytest.raises(ValueError, match="npz or .csv"):
        table.save(tmp_path / "s.txt")


def test_grid_and_memory_helpers():
    s = grid_settings({"eps": [0.1, 0.2], "head": ["zero", "random"]}, dict(d=10, k=1, m=3))
    assert len(s) == 4 and s[1] == dict(d=10, k=1, m=3, eps=0.1, head="random")
    with pytest.raises(ValueError, match="unknown key"):
        grid_settings({"epsilon": [0.1]}, dict(d=10, k=1, m=3))
    with pytest.raises(ValueError, match="missing required"):
        grid_settings({"eps": [0.1]}, dict(d=10, k=1))
    with pytest.raises(ValueError, match="non-empty list"):
        grid_settings({"eps": []}, dict(d=10, k=1, m=3))
    with pytest.raises(ValueError, match="both"):
        grid_settings({"d": [10]}, dict(d=10, k=1, m=3))
    # memory grows linearly in d (lift basis + one full problem), so chunks shrink as d grows
    a, b = member_bytes(1000, 8, 32, 64, 3), member_bytes(2000, 8, 32, 64, 3)
    assert b - a == 8 * 1000 * (32 + 17 + 64 + 16 + 2)
    with pytest.raises(ValueError, match="seeds"):
        run_sweep({"eps": [0.1]}, [], base=BASE)


def test_beyond_methods_in_sweeps(table):
    # L2-SP with lambda = 0 is FT (a known limit): same table values as the FT sweep above
    l2 = run_sweep(GRID, SEEDS, "l2sp", TIMES, base=BASE, progress=False, method_options=dict(lam=0.0))
    for key in ("train_loss", "ood_loss", "id_subspace_loss"):
        np.testing.assert_allclose(l2.columns[key], table.columns[key], rtol=1e-7, atol=1e-12)
    # WiSE-FT at alpha = 0 is the initial model: OOD loss ||B0^T v0 - w*||^2 computed in numpy
    w = run_sweep({"eps": [0.3]}, [3], "wise-ft", float("inf"), base=BASE, progress=False,
                  method_options=dict(alpha=[0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(w.columns["t"], [0.0, 0.5, 1.0])
    p = Problem.random(seed=3, eps=0.3, **BASE)
    e0 = np.asarray(p.B0).T @ np.asarray(p.v0) - np.asarray(p.w_star)
    assert w.columns["ood_loss"][0] == pytest.approx(e0 @ e0, rel=1e-12)
    with pytest.raises(ValueError, match="method_options are only for"):
        run_sweep(GRID, SEEDS, "ft", TIMES, base=BASE, progress=False, method_options=dict(lam=1.0))

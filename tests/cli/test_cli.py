"""The ``lpft-theory`` CLI: outputs, and bad input (one line on stderr, exit 2, no file)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.cli.main import main

RANDOM = "d=12,k=2,m=4,n=8,eps=0.1,seed=0"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_writes_all_fields(tmp_path, capsys):
    out = tmp_path / "R.npz"
    code, stdout, err = run_cli(capsys, "simulate", "--random", RANDOM, "--method", "ft", "--times", "0,0.5,inf",
                                "--out", str(out), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["converged"] is True and summary["num_steps"] > 0
    with np.load(out) as r:
        T, k, d = 3, 2, 12
        assert r["times"].shape == (T,) and np.isinf(r["times"][-1])
        assert r["v"].shape == (T, k) and r["B"].shape == (T, k, d)
        for key in ("train_loss", "id_subspace_loss", "ood_loss", "feature_distance", "distortion_id",
                    "distortion_ood", "balancedness_drift", "perp_drift"):
            assert r[key].shape == (T,), key
        assert int(r["num_steps"]) == summary["num_steps"]
        # the file agrees with the API on the same problem
        p = lt.Problem.random(seed=0, d=12, k=2, m=4, n=8, eps=0.1)
        met = lt.trajectory_metrics(lt.simulate(p, "ft", [0.0, 0.5, float("inf")]))
        np.testing.assert_allclose(r["ood_loss"], met["ood_loss"], rtol=1e-12)
        # B(0) is B0, and w(inf) fits the training data
        np.testing.assert_allclose(r["B"][0], np.asarray(p.B0), atol=1e-14)
        np.testing.assert_allclose(np.asarray(p.X) @ r["B"][-1].T @ r["v"][-1], np.asarray(p.y), atol=1e-8)


def test_simulate_with_the_fused_solver(tmp_path, capsys):
    """--solver tsit5_fused: the same trajectory as diffrax's Tsit5 to the tolerances; t = inf still solved."""
    out = tmp_path / "R.npz"
    code, stdout, err = run_cli(capsys, "simulate", "--random", RANDOM, "--method", "lpft", "--times", "0,0.5,3,inf",
                                "--solver", "tsit5_fused", "--out", str(out), "--json")
    assert code == 0, err
    assert json.loads(stdout)["converged"] is True
    p = lt.Problem.random(seed=0, d=12, k=2, m=4, n=8, eps=0.1)
    ref = lt.simulate(p, "lpft", [0.0, 0.5, 3.0, float("inf")], solver="tsit5")
    with np.load(out) as r:
        assert str(r["solver"]) == "tsit5_fused"
        np.testing.assert_allclose(r["v"], np.asarray(ref.v), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(r["B"][:3], np.asarray(ref.B())[:3], rtol=1e-8, atol=1e-10)


def test_simulate_from_problem_file(tmp_path, capsys):
    p = lt.Problem.random(seed=1, d=12, k=2, m=4, n=8, eps=0.1)
    p.save(tmp_path / "P.npz")
    code, _, err = run_cli(capsys, "simulate", "--problem", str(tmp_path / "P.npz"), "--method", "lpft",
                           "--times", "0,1", "--out", str(tmp_path / "R.npz"))
    assert code == 0, err
    with np.load(tmp_path / "R.npz") as r:
        assert str(r["method"]) == "lpft"


def _bad_problem(tmp_path, mutate):
    p = lt.Problem.random(seed=1, d=12, k=2, m=4, n=8, eps=0.1)
    a = {k: np.array(getattr(p, k)) for k in ("X", "y", "B0", "v0", "w_star")}
    mutate(a)
    path = tmp_path / "bad.npz"
    np.savez(path, **a)
    return str(path)


@pytest.mark.parametrize(
    "args,match",
    [
        (["--random", RANDOM, "--method", "sgd", "--times", "0,1"], "invalid choice: 'sgd'"),
        (["--random", RANDOM, "--method", "ft", "--times", "0,-1"], "non-negative"),
        (["--random", RANDOM, "--method", "ft", "--times", "0,2,1"], "strictly increasing"),
        (["--random", RANDOM, "--method", "ft", "--times", "0,abc"], "not a number"),
        (["--random", RANDOM, "--method", "ft", "--times", "0,inf,3"], "inf is only allowed"),
        (["--random", "d=12,k=2,m=13,eps=0.1", "--method", "ft", "--times", "0,1"], "m must satisfy"),
        (["--random", "d=12,k=13,m=4,eps=0.1", "--method", "ft", "--times", "0,1"], "k must be <= d"),
        (["--random", "d=12,k=2,m=4,n=0", "--method", "ft", "--times", "0,1"], "n must be >= 1"),
        (["--random", "d=12,k=2,m=4,q=1", "--method", "ft", "--times", "0,1"], "unknown key 'q'"),
        (["--random", "d=12,k=2", "--method", "ft", "--times", "0,1"], "missing required key"),
        (["--method", "ft", "--times", "0,1"], "exactly one of --problem"),
        (["--problem", "/nonexistent/P.npz", "--method", "ft", "--times", "0,1"], "does not exist"),
        (["--random", RANDOM, "--times", "0,1"], "required: --method"),
    ],
)
def test_simulate_bad_input(tmp_path, capsys, args, match):
    out = tmp_path / "R.npz"
    code, stdout, err = run_cli(capsys, "simulate", *args, "--out", str(out))
    assert code == 2
    assert match in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda a: a["X"].__setitem__((0, 0), np.nan), "X contains NaN"),
        (lambda a: a.update(B0=a["B0"] * 1.5), "B0 must have orthonormal rows"),
        (lambda a: a.update(y=a["y"] + 1.0), "y must equal X @ w_star"),
        (lambda a: a.update(v0=np.zeros(5)), "v0 must have shape"),
    ],
)
def test_simulate_bad_problem_file(tmp_path, capsys, mutate, match):
    path = _bad_problem(tmp_path, mutate)
    out = tmp_path / "R.npz"
    code, _, err = run_cli(capsys, "simulate", "--problem", path, "--method", "ft", "--times", "0,1", "--out", str(out))
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_module_entry_point_exit_code(tmp_path):
    env = dict(os.environ)
    bad = subprocess.run([sys.executable, "-m", "lpft_theory.cli.main", "simulate", "--random", RANDOM, "--method", "ft",
                          "--times", "-1", "--out", str(tmp_path / "R.npz")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("lpft-theory: error:") and "Traceback" not in bad.stderr
    assert not (tmp_path / "R.npz").exists()

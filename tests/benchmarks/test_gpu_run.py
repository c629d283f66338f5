"""``benchmarks/gpu_run.py --tiny`` runs on CPU end to end: the JSON has every key, and the trajectories of both
sides agree with an independent scipy solve of the reduced FT flow (no timing is asserted)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _scipy_reduced import scipy_reduced_final as _scipy_final  # tests/ is on sys.path (conftest)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _rel(v, B, v_ref, B_ref):
    return np.sqrt((np.sum((v - v_ref) ** 2) + np.sum((B - B_ref) ** 2)) / (np.sum(v_ref**2) + np.sum(B_ref**2)))


@pytest.mark.slow  # 2-3 min on 2 shared CPU cores (three sizes on both sides, each compiled; a 20-trial campaign)
def test_gpu_run_tiny_on_cpu(tmp_path):
    out = tmp_path / "gpu"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "gpu_run.py"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "targets:" in proc.stdout
    res = json.loads((out / "gpu_run.json").read_text())
    md = (out / "gpu_run.md").read_text()
    assert set(res) >= {"environment", "config", "trajectories", "campaign", "targets", "skipped", "elapsed_s"}
    env_ = res["environment"]
    for key in ("device", "backend", "jax", "diffrax", "numpy", "python", "date_utc", "load_average", "command"):
        assert env_[key] not in (None, "")
    assert env_["x64"] is True
    cfg = res["config"]
    assert cfg["tiny"] is True and cfg["sizes"] == [64, 128, 256] and cfg["k"] == 8 and cfg["m"] == 32
    assert [r["size"] for r in res["trajectories"]] == [64, 128, 256] and not res["skipped"]
    for r in res["trajectories"]:
        p, nv = r["package"], r["naive"]
        for side in (p, nv):
            assert {"compile_s", "run_s", "total_incl_compile_s", "traj_per_s", "member_steps", "waste"} <= set(side)
            assert side["member_steps"] > 0 and 0 <= side["waste"] < 1
        assert nv["all_successful"] is True
        assert p["lockstep_steps"] >= p["member_steps"]
        assert {"ratio_run", "ratio_incl_compile", "max_rel_diff_package_vs_naive"} <= set(r)
        assert r["max_rel_diff_package_vs_naive"] < 1e-6  # same flow, solver and tolerances
        assert len(r["check_members"]) == 3
    # independent check: scipy on the first, middle and last member of the smallest and largest sizes
    for r in (res["trajectories"][0], res["trajectories"][-1]):
        for c in r["check_members"]:
            G, a, v0, B0 = (np.asarray(c[key]) for key in ("G", "a", "v0", "B0"))
            v_ref, B_ref = _scipy_final(G, a, v0, B0, cfg["T"])
            assert _rel(np.asarray(c["v_package"]), np.asarray(c["B_package"]), v_ref, B_ref) < 1e-6
            assert _rel(np.asarray(c["v_naive"]), np.asarray(c["B_naive"]), v_ref, B_ref) < 1e-6
    camp = res["campaign"]
    assert camp["trials"] == 20 and camp["rows"] == 20 and camp["elapsed_s"] > 0
    t = res["targets"]
    assert t["traj_1e6_incl_compile_s"] is None and t["speedup_size"] == 256
    assert "Not a GPU result" in md and "| 256 | naive vmap |" in md and "Bound campaign" in md


def test_gpu_run_fused_solver_tiny(tmp_path):
    """--solver tsit5_fused: the package side runs the fused loop; it agrees with the naive diffrax vmap and scipy."""
    out = tmp_path / "gpu"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "gpu_run.py"), "--tiny", "--sizes", "64",
                           "--campaign-trials", "0", "--solver", "tsit5_fused", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "gpu_run.json").read_text())
    assert res["config"]["solver"] == "tsit5_fused" and res["config"]["naive_solver"] == "tsit5"
    (r,) = res["trajectories"]
    assert r["package"]["solver"] == "tsit5_fused" and r["max_rel_diff_package_vs_naive"] < 1e-6
    for c in r["check_members"]:
        v_ref, B_ref = _scipy_final(*(np.asarray(c[key]) for key in ("G", "a", "v0", "B0")), res["config"]["T"])
        assert _rel(np.asarray(c["v_package"]), np.asarray(c["B_package"]), v_ref, B_ref) < 1e-6


def test_gpu_run_time_guard_skips_and_still_writes(tmp_path):
    # a guard already passed: no size, naive side or campaign starts, and both files are still written
    out = tmp_path / "gpu"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "gpu_run.py"), "--tiny",
                           "--timeout-guard", "0.001", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "gpu_run.json").read_text())
    assert [r["skipped"] for r in res["trajectories"]] == ["time guard"] * 3
    assert res["campaign"] == {"skipped": "time guard"}
    assert res["skipped"] == ["trajectories N=64", "trajectories N=128", "trajectories N=256", "campaign"]
    assert res["targets"]["speedup_size"] is None
    assert "skipped" in (out / "gpu_run.md").read_text()

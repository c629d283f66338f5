"""``lpft-theory bench --quick`` runs end to end and writes consistent results (no timing asserts)."""

import json

import numpy as np

from lpft_theory.cli.main import main


def test_bench_quick_runs_and_reports(tmp_path, capsys):
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "bench_flow.json").read_text())
    md = (tmp_path / "bench_flow.md").read_text()
    assert res["quick"] is True and "Headline" in md
    env = res["environment"]
    for key in ("python", "jax", "diffrax", "scipy", "numpy", "cpu", "date_utc"):
        assert env[key]
    s = res["vs_scipy"]
    # accuracy, not speed: every side is close to the rtol-1e-12 reference, and the reference itself
    # agrees with the full-dimensional flow integrated at the same tolerance
    assert s["reference_full_vs_reduced_err"] < 1e-10
    for side in (s["a_scipy_full"], s["b_scipy_reduced"]):
        assert 0 < side["max_err"] < 1e-6 and side["time_s"] > 0
    for row in s["c_lpft_theory"]:
        assert 0 < row["max_err"] < 1e-6 and row["grouped_max_err"] < 1e-6 and row["single_max_err"] < 1e-6
    # d-independence: the embedded problems have identical dynamics, so identical step counts
    steps = [r["total_steps"] for r in res["d_independence"]["rows"]]
    assert len(steps) == 2 and steps[0] == steps[1] > 0
    checks = [r["final_v_checksum"] for r in res["d_independence"]["rows"]]
    np.testing.assert_allclose(checks[0], checks[1], rtol=1e-7)
    # lockstep accounting is consistent: executed >= needed, equal totals across groupings
    rows = res["lockstep"]["rows"]
    assert len({r["member_steps"] for r in rows}) == 1
    for r in rows:
        assert r["lockstep_steps"] >= r["member_steps"] and 0 <= r["waste"] < 1
    # without a GPU the quick run exercises the GPU code path on CPU and says so
    gpu = res["gpu"]
    if res["environment"]["backend"] != "gpu":
        assert gpu["smoke_on_cpu"] is True and "not a GPU result" in md
    assert all(r["traj_per_s"] > 0 and r["lockstep_steps"] >= r["member_steps"] for r in gpu["rows"])


def test_bench_bad_section_exits_2(tmp_path, capsys):
    assert main(["bench", "--quick", "--sections", "scipy,nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "bench_flow.json").exists()

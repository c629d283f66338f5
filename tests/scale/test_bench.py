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


def test_bench_d_section_options(tmp_path, capsys):
    # --d-dims and --d-max-problems through the command line: the largest d embeds only 2 of the 4
    # problems and is compared with the smallest d solved on the same 2 (identical dynamics)
    out = tmp_path / "d"
    assert main(["bench", "--quick", "--sections", "d", "--d-dims", "100,3e2", "--d-max-problems", "2",
                 "--out", str(out)]) == 0
    res = json.loads((out / "bench_flow.json").read_text())
    s = res["d_independence"]
    rows = s["rows"]
    assert [r["d"] for r in rows] == [100, 300] and [r["N"] for r in rows] == [4, 2] and s["max_problems"] == 2
    small, large = rows
    assert small["total_steps_smallest_d_same_N"] == small["total_steps"]
    assert large["total_steps_smallest_d_same_N"] == large["total_steps"] > 0
    np.testing.assert_allclose(large["final_v_checksum"], large["final_v_checksum_smallest_d_same_N"], rtol=1e-7)
    for r in rows:
        assert r["setup_s"] == r["build_s"] + r["setup_reduce_s"] and r["solve_s"] > 0 and r["peak_rss_mb"] > 0
    md = (out / "bench_flow.md").read_text()
    assert "| 300 | 2 |" in md and "same N" in md


def test_bench_d_options_bad_input_and_help(tmp_path, capsys):
    for argv, match in ((["--d-dims", "50,100"], ">= 100"), (["--d-dims", "1000,100"], "increasing"),
                        (["--d-dims", "1e3,x"], "not a number"), (["--d-max-problems", "0"], "--d-max-problems")):
        assert main(["bench", "--quick", "--sections", "d", *argv, "--out", str(tmp_path / "x")]) == 2
        assert match in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    import pytest

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = capsys.readouterr().out
    assert "--d-dims" in text and "--d-max-problems" in text

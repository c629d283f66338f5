"""benchmarks/observer_profile.py: bad options are one line and exit 2 with nothing written; a tiny run writes
both files, every setting observes the same minima (the chunk size and the batch change the discretisation,
not the flow) and the screen agrees with the tight observation inside the re-check band. No timing is asserted."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "observer_profile.py")


def _run(*argv, timeout=120):
    return subprocess.run([sys.executable, SCRIPT, *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("argv, flag", [(("--chunks", "256,x"), "--chunks"), (("--batches", "0"), "--batches"),
                                        (("--trials", "0"), "--trials"), (("--reps", "0"), "--reps"),
                                        (("--solvers", "tsit5"), "--solvers")])
def test_bad_options_one_line_exit_2(tmp_path, argv, flag):
    r = _run(*argv, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and flag in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_tiny_run_writes_both_files_and_settings_agree(tmp_path):
    out = tmp_path / "o"
    r = _run("--trials", "12", "--solvers", "kvaerno5,rodas4_fused", "--chunks", "256,16", "--batches", "4", "--reps",
             "1", "--accuracy", "--out", str(out), timeout=900)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "observer_profile.json").read_text())
    assert [(row["solver"], row["chunk"], row["batch"]) for row in res["rows"]] == [
        ("kvaerno5", 256, 4), ("kvaerno5", 16, 4), ("rodas4_fused", 256, 4), ("rodas4_fused", 16, 4)]
    for row in res["rows"]:
        assert row["unconverged"] == 0 and row["max_rel_diff_vs_first"] < 1e-5
    acc = res["accuracy"]
    assert [(a["solver"], a["what"]) for a in acc["rows"]] == [("kvaerno5", "screen"), ("kvaerno5", "tight"),
                                                              ("rodas4_fused", "screen"), ("rodas4_fused", "tight")]
    for a in acc["rows"]:
        assert max(a["max_rel_error"].values()) < acc["recheck_band"]
    assert max(acc["rows"][3]["max_rel_error"].values()) < 1e-7  # Rodas4 at rtol 1e-10 vs Kvaerno5 at rtol 1e-10
    assert "| rodas4_fused | 16 | 4 |" in (out / "observer_profile.md").read_text()

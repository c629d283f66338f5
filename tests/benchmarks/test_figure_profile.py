"""benchmarks/figure_profile.py: an unknown figure is one line and exit 2; a quick run of one figure prints its
row and writes the JSON with the set-up of the command line. No timing is asserted."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "figure_profile.py")


def _run(*argv, env=None, timeout=300):
    return subprocess.run([sys.executable, SCRIPT, *argv], capture_output=True, text=True, timeout=timeout, env=env)


def test_unknown_figure_one_line_exit_2(tmp_path):
    r = _run("--only", "toy_2d,nope", "--out", str(tmp_path / "p.json"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--only" in r.stderr and "'nope'" in r.stderr, r.stderr
    assert not (tmp_path / "p.json").exists()


def test_quick_run_of_one_figure(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EQX_ON_ERROR"}
    env["LPFT_THEORY_CACHE"] = str(tmp_path / "cache")
    r = _run("--only", "toy_2d", "--quick", "--out", str(tmp_path / "p.json"), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("toy_2d ") and "total" in r.stdout
    res = json.loads((tmp_path / "p.json").read_text())
    assert [row["figure"] for row in res["rows"]] == ["toy_2d"] and res["eqx_on_error"] == "nan"
    assert res["cache"] == str(tmp_path / "cache") and os.listdir(tmp_path / "cache")
    row = res["rows"][0]
    assert row["compute_s"] >= row["trace_s"] >= 0 and row["render_s"] > 0

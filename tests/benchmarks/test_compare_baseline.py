"""benchmarks/compare_baseline.py: bad options are one line and exit 2; the trial-by-trial comparison of two
campaign reports finds exactly the planted differences (no timing is asserted)."""

import csv
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "compare_baseline.py")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import compare_baseline as cb  # noqa: E402


def _run(*argv):
    return subprocess.run([sys.executable, SCRIPT, *argv], capture_output=True, text=True, timeout=120)


def test_bad_options_one_line_exit_2(tmp_path):
    r = _run("--baseline", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--baseline" in r.stderr
    r = _run("--baseline", ROOT, "--what", "everything", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--what" in r.stderr
    assert not (tmp_path / "o").exists()


def _write(folder, rows):
    os.makedirs(folder)
    cols = ["trial", "st:applies", "st:holds", "st:observed", "st:bound"]
    with open(os.path.join(folder, "trials.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow(dict(zip(cols, r)))


def test_campaign_comparison_finds_the_planted_differences(tmp_path):
    a = [(0, "True", "True", "0.5", "0.1"), (1, "True", "False", "0.2", "0.3"), (2, "False", "", "3.0", "")]
    b = [(0, "True", "True", "0.5000001", "0.1"), (1, "True", "True", "0.31", "0.3"), (2, "False", "", "3.0", "")]
    _write(tmp_path / "a", a)
    _write(tmp_path / "b", b)
    out = cb.compare_campaigns(str(tmp_path / "a"), str(tmp_path / "b"))
    assert out["trials"] == 3 and out["n_differences"] == 1
    d = out["differences"][0]
    assert d["trial"] == "1" and d["column"] == "st:holds" and d["baseline"] == "False" and d["new"] == "True"
    assert abs(out["max_observed_difference"] - 0.11) < 1e-12 and out["max_observed_difference_at"][0] == "1"

"""benchmarks/figure_data_diff.py on hand-made folders: identical files, a known relative and absolute
difference, a near-zero value kept out of the relative maximum, a structural difference, bad arguments."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "figure_data_diff.py")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import figure_data_diff as fdd  # noqa: E402


def test_compare_data_finds_the_known_differences():
    old = dict(a=[1.0, 2.0, 1e-24], b=dict(c=10.0), s="x", only_old=1)
    new = dict(a=[1.0, 2.0 * (1 + 1e-6), 3e-24], b=dict(c=10.5), s=1.0)
    r = fdd.compare_data(old, new, floor=1e-12)
    assert r["n_differ"] == 5
    assert r["max_rel"][1] == ".b.c" and abs(r["max_rel"][0] - 0.5 / 10.5) < 1e-15  # 1e-24 -> 3e-24 is below the floor
    assert r["max_abs"][1] == ".b.c" and abs(r["max_abs"][0] - 0.5) < 1e-15
    assert r["structural"] == [".only_old", ".s"]
    assert fdd.compare_data(old, old)["n_differ"] == 0


def test_command_line_report_and_bad_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f.json").write_text(json.dumps(dict(x=[1.0, 2.0])))
    (b / "f.json").write_text(json.dumps(dict(x=[1.0, 2.5])))
    (a / "g.json").write_text(json.dumps(dict(x=1.0)))
    (b / "g.json").write_text(json.dumps(dict(x=1.0)))
    (a / "f.png").write_bytes(b"\x89PNG1")
    (b / "f.png").write_bytes(b"\x89PNG2")
    r = subprocess.run([sys.executable, SCRIPT, str(a), str(b), "--out", str(tmp_path / "r.txt")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("f.json: 1 values differ; max relative") and "0.2 at .x[1]" in lines[0]
    assert lines[1] == "f.png: bytes differ" and lines[2] == "g.json: identical"
    assert (tmp_path / "r.txt").read_text().endswith(r.stdout)
    bad = subprocess.run([sys.executable, SCRIPT, str(a), str(tmp_path / "missing")], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "NEW_DIR" in bad.stderr

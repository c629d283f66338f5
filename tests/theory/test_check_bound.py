"""``lpft-theory check-bound``: JSON output, planted violation, bad input, a tiny campaign, replay."""

import json
import math
import os

import numpy as np
import pytest

from lpft_theory.cli import main as cli
from lpft_theory.theory import reference
from lpft_theory.theory import bounds as theory
from lpft_theory.problem import Problem

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _toy(path):
    a, v0, w1 = 0.2, 10.0, 1.0
    X = np.array([[1.0, 0, 0, 0], [2.0, 0, 0, 0]])
    w = np.array([w1, 0, 0, 0])
    p = Problem.from_arrays(X, X @ w, np.array([[math.cos(a), math.sin(a), 0, 0]]), np.array([v0]), w,
                            B_star=np.array([[1.0, 0, 0, 0]]), v_star=np.array([w1]))
    p.save(path)
    return p


def _json_run(capsys, argv):
    rc = cli.main(argv)
    out = capsys.readouterr().out
    assert rc == 0
    obj = json.loads(out)  # exactly one JSON object on stdout
    return obj


def test_json_output_and_replay_matches_in_process(tmp_path, capsys):
    path = str(tmp_path / "toy.npz")
    p = _toy(path)
    obj = _json_run(capsys, ["check-bound", "--problem", path, "--json"])
    assert list(obj) == ["results"]
    res = obj["results"]
    assert [r["statement"] for r in res] == list(theory.STATEMENTS)
    for r in res:
        for key in ("statement", "bound", "observed", "t_min", "margin", "holds", "applies"):
            assert key in r
        assert r["margin"] == pytest.approx(r["observed"] - r["bound"], rel=1e-12)
        assert r["holds"] is True and r["applies"] is True
    # replay: the saved file reproduces the in-memory problem's numbers
    again = theory.check_problem(Problem.load(path))
    direct = theory.check_problem(p)
    for a, b, c in zip(res, again, direct):
        assert a["observed"] == pytest.approx(b["observed"], rel=1e-12) == c["observed"]
        assert a["bound"] == pytest.approx(c["bound"], rel=1e-14)


def test_planted_violation_is_reported_by_cli(tmp_path, capsys, monkeypatch):
    path = str(tmp_path / "toy.npz")
    _toy(path)
    monkeypatch.setattr(theory, "bound_formula", lambda *args, **kw: 1e3)
    obj = _json_run(capsys, ["check-bound", "--problem", path, "--json"])
    assert all(r["holds"] is False and r["applies"] and r["bound"] == 1e3 for r in obj["results"])


@pytest.mark.parametrize("argv, needle", [
    (["check-bound", "--problem", "/nonexistent/p.npz", "--json"], "does not exist"),
    (["check-bound"], "give --problem"),
    (["check-bound", "--trials", "3"], "--report"),
    (["check-bound", "--trials", "0", "--report", "REPORT"], "--trials"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, argv, needle):
    argv = [str(tmp_path / "r") if a == "REPORT" else a for a in argv]
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_tiny_campaign_writes_report(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"shapes": [[12, 2, 4, 8]]}))
    rep = tmp_path / "rep"
    rc = cli.main(["check-bound", "--trials", "3", "--seed", "5", "--grid", str(grid), "--report", str(rep),
                   "--no-progress"])
    assert rc == 0
    capsys.readouterr()
    summary = json.loads((rep / "report.json").read_text())
    assert summary["trials"] == 3
    for st in theory.STATEMENTS:
        s = summary["statements"][st]
        assert 0 <= s["non_vacuous"] <= s["applicable"] <= 3 and s["violations"] <= s["applicable"]
    for name in ("summary.md", "histogram.png", "trials.csv"):
        assert (rep / name).stat().st_size > 0
    assert len((rep / "trials.csv").read_text().strip().splitlines()) == 4
    # every saved case replays through the CLI
    for f in summary["files"]:
        assert Problem.load(rep / f).k == 2


def test_bad_grid_file(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"nonsense": 1}))
    rc = cli.main(["check-bound", "--trials", "2", "--grid", str(grid), "--report", str(tmp_path / "r")])
    assert rc == 2 and "unknown key" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.json").exists()


def test_committed_violation_replays_and_is_confirmed_by_reference():
    """problems/violation_final-thm-3.3_k1.npz: the final bound (as reconstructed in docs/theory.md §4) is
    violated; the independent full-dimensional DOP853 integration (rtol 1e-11) agrees."""
    p = Problem.load(os.path.join(ROOT, "problems", "violation_final-thm-3.3_k1.npz"))
    rows = theory.check_problem(p)
    fin = next(r for r in rows if r["statement"] == "final-thm-3.3")
    assert fin["applies"] and fin["holds"] is False
    ref = reference.reference_min_ood(p)
    assert ref["min_sigma"] < fin["bound"] - fin["tolerance"]
    assert ref["min_sigma"] == pytest.approx(fin["observed"], rel=1e-7)


def test_interior_minimum_case_is_a_violation_through_the_cli(capsys):
    """problems/interior_min_k1.npz (k = 1, ε = 0, head −2.30 v*): √L_ood dips below the final bound at a
    finite time and rises to a limit above it. check-bound must report the interior minimum and
    holds: false; the independent DOP853 reference (every local minimum of its dense output refined)
    finds the same dip."""
    path = os.path.join(ROOT, "problems", "interior_min_k1.npz")
    obj = _json_run(capsys, ["check-bound", "--problem", path, "--json"])
    fin = next(r for r in obj["results"] if r["statement"] == "final-thm-3.3")
    assert fin["applies"] and fin["holds"] is False and fin["where"] == "interior"
    assert 0 < fin["t_min"] < math.inf and "every accepted step" in fin["certified_by"]
    ref = reference.reference_min_ood(Problem.load(path), rtol=1e-12, atol=1e-15)
    assert ref["where_sigma"] == "interior"
    assert ref["min_sigma"] < fin["bound"] - fin["tolerance"] < ref["limit_sigma"]  # dip below, limit above
    assert fin["observed"] == pytest.approx(ref["min_sigma"], rel=1e-8)
    assert fin["t_min"] == pytest.approx(ref["tmin_sigma"], rel=1e-4)
    # the frame range: k = 1, so every representative gives the same bound
    fr = fin["bound_frame_range"]
    assert fr["min"] == pytest.approx(fr["max"], rel=1e-12) and fr["frame_B0"] == pytest.approx(fin["bound"], rel=1e-12)


def test_text_output_reports_where_and_frame_range(tmp_path, capsys):
    path = str(tmp_path / "toy.npz")
    _toy(path)
    rc = cli.main(["check-bound", "--problem", path])
    out = capsys.readouterr().out
    assert rc == 0
    assert "(infinity)" in out or "(interior)" in out or "(t=0)" in out
    assert "bound over representatives (U B*, U v*), U in O(k)" in out and "every accepted step" in out

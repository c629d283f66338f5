"""``lpft-theory follow-up`` end to end: --list, every option (--quick, --seed, --json, --report, --no-progress, the
'-'/'_' spellings), the bad-input rules (unknown NAME, no NAME, --report not a folder: one line, exit 2, no
traceback, nothing written), and ``simulate --method ft-lazy``."""

import json

import numpy as np
import pytest

from lpft_theory.cli.main import main
from lpft_theory.followup import NAMES, early_lp, surgical


@pytest.fixture
def tiny(monkeypatch):
    """Shrink the quick grids (the CLI wiring is what is tested here; the experiments have their own tests)."""
    monkeypatch.setattr(surgical, "PARAMS", dict(surgical.PARAMS, sizes_quick=(0.0, 0.5)))
    monkeypatch.setattr(early_lp, "PARAMS", dict(early_lp.PARAMS, n_tau_quick=1))


def test_list(capsys):
    assert main(["follow-up", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == [n.replace("_", "-") for n in NAMES]


@pytest.mark.parametrize("argv,msg", [
    (["follow-up", "nope"], "unknown NAME 'nope'"),
    (["follow-up"], "give a NAME"),
    (["follow-up", "surgical", "--list"], "--list takes no NAME"),
    (["follow-up", "surgical", "--seed", "-1"], "--seed"),
])
def test_bad_input_one_line_exit_2(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_report_checked_before_work(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    called = []
    monkeypatch.setattr(surgical, "run", lambda **kw: called.append(kw))
    assert main(["follow-up", "surgical", "--report", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert "--report" in err and "not a folder" in err and len(err.strip().splitlines()) == 1
    assert called == [] and blocker.read_text() == "x"


def test_json_report_seed_and_spellings(tmp_path, capsys, tiny):
    rep = tmp_path / "rep"
    assert main(["follow-up", "surgical", "--quick", "--seed", "2", "--json", "--report", str(rep),
                 "--no-progress"]) == 0
    cap = capsys.readouterr()
    obj = json.loads(cap.out)
    assert set(obj) == {"name", "claim", "agrees", "line", "data"} and obj["name"] == "surgical"
    assert obj["agrees"] in ("yes", "no", "partly") and obj["data"]["params"]["seeds"] == [2]
    assert "Lee et al." in obj["claim"]
    for ext in ("png", "pdf", "json"):
        assert (rep / f"followup_surgical.{ext}").stat().st_size > 0
    with open(rep / "followup_surgical.json") as f:
        assert json.load(f) == obj["data"]
    case = obj["data"]["case"]
    npz = sorted(p.name for p in rep.glob("*.npz"))
    assert npz == ([f"{case['npz_name']}.npz"] if case else [])
    if case:  # the saved problem is the case's shifted problem
        from lpft_theory import Problem

        saved = Problem.load(str(rep / npz[0]))
        ref = surgical.shift_problem(case["family"], case["seed"], case["size"])
        np.testing.assert_array_equal(np.asarray(saved.X), np.asarray(ref.X))
    # text output, the '_' spelling, progress lines on stderr
    assert main(["follow-up", "early_lp", "--quick"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert lines[0] == early_lp.TITLE and lines[1].startswith("claim: ") and lines[2].startswith("agrees: ")
    assert "early-lp: seed 0" in cap.err


def test_simulate_ft_lazy(tmp_path, capsys):
    out = tmp_path / "lazy.npz"
    assert main(["simulate", "--random", "d=12,k=2,m=4,n=8,eps=0.2,seed=3", "--method", "ft-lazy", "--times",
                 "0,1,inf", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "ft-lazy"
    with np.load(out) as r:
        assert str(r["method"]) == "ft-lazy" and r["v"].shape == (3, 2) and str(r["solver"]) == "closed-form"
    assert main(["simulate", "--random", "d=12,k=2,m=4,seed=3", "--method", "ft-lazy", "--times", "1", "--solver",
                 "tsit5", "--out", str(tmp_path / "x.npz")]) == 2
    assert "--solver only applies" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()

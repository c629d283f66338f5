"""``lpft-theory bound-study``: --k1, --json, --report, --quick, --no-progress, --trials, --seed, bad input."""

import json
import math

import pytest

from lpft_theory.cli.main import main
from lpft_theory.problem import Problem
from lpft_theory.theory import bounds, k1, reference


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_k1_json_report(tmp_path, capsys):
    rep = tmp_path / "rep"
    code, out, err = run_cli(capsys, "bound-study", "--k1", "--quick", "--json", "--report", str(rep), "--seed", "1")
    assert code == 0, err
    d = json.loads(out)
    assert isinstance(d["worst_ratio"], float) and set(d["argmin"]) >= {"v0", "v_star", "s", "c"}
    # the worst case is below the t = inf infimum 1/2 only if the minimum is interior; at t = inf it is > 1/2
    assert d["worst_ratio_t_inf"] > 0.5
    assert d["reference"]["confirmed"] and d["reference"]["relative_difference"] <= 1e-8
    for f in ("study.json", "k1_tightness.png", "k1_tightness.pdf", "k1_tightness.json", "k1_worst_case.npz"):
        assert (rep / f).exists(), f
    # the saved problem replays: the bound of the package, an independent reference integration
    p = Problem.load(rep / "k1_worst_case.npz")
    b = bounds.ft_lower_bound(p, "final-thm-3.3").value
    ref = reference.reference_min_ood(p, gtol=1e-12)["min_identity"]
    assert math.isclose(ref / b, d["worst_ratio"], rel_tol=1e-7)
    # the closed-form t = inf value of the case is consistent with the limit of the problem
    lim = k1.limit_of_problem(p)
    assert lim["ood_identity"] >= ref * (1 - 1e-9)


def test_k1_text(capsys):
    code, out, err = run_cli(capsys, "bound-study", "--k1", "--quick", "--no-progress")
    assert code == 0, err
    assert "infimum of observed/bound = 1/2" in out and "failure region" in out and "confirmed" in out


def _one_shape(monkeypatch):
    """The campaign restricted to one small shape (one compilation), so the end-to-end run stays short."""
    from lpft_theory.theory import campaign

    real = campaign.load_grid

    def small(path=None):
        g = real(path)
        g["shapes"] = [[8, 1, 2, 4]]
        return g

    monkeypatch.setattr(campaign, "load_grid", small)


@pytest.mark.slow
def test_general_k_quick(tmp_path, capsys, monkeypatch):
    """The real campaign end to end (one compilation: ~1 min on 2 loaded cores)."""
    _one_shape(monkeypatch)
    rep = tmp_path / "g"
    code, out, err = run_cli(capsys, "bound-study", "--trials", "8", "--seed", "0", "--no-progress", "--json",
                             "--report", str(rep))
    assert code == 0, err
    d = json.loads(out)
    assert d["trials"] == 8 and d["label"].startswith("empirical")
    for st, e in d["statements"].items():
        if e["constant"] is not None:
            assert e["constant"] > 0
    assert (rep / "study.json").exists()
    code, out, err = run_cli(capsys, "bound-study", "--trials", "4", "--no-progress")
    assert code == 0 and "empirical finding" in out


def test_bad_input(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for argv, field in ((["--k1", "--trials", "3"], "--trials"), (["--trials", "0"], "--trials"),
                        (["--seed", "-1"], "--seed"), (["--k1", "--report", str(f)], "--report")):
        code, out, err = run_cli(capsys, "bound-study", *argv)
        assert code == 2, argv
        assert field in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_general_k_wiring(tmp_path, capsys, monkeypatch):
    """--trials, --seed, --quick, --json, --report and the text output of the general-k study, with the
    campaign replaced by a stub that records its arguments (the real campaign: the slow test above)."""
    from lpft_theory.theory import campaign

    calls = []

    def fake(trials, seed, grid=None, progress=True, **kw):
        calls.append((trials, seed, progress))
        row = {f"ing_{n}": 0.1 for n in ("eps", "w_star_norm", "cos_theta_max", "phi_final")}
        row["ing_k"] = 1
        for st in bounds.STATEMENTS:
            row[st] = dict(observed=0.7, bound=1.0, applies=True, vacuous=False)
        return dict(rows=[row] * trials, seed=seed)

    monkeypatch.setattr(campaign, "run_campaign", fake)
    code, out, err = run_cli(capsys, "bound-study", "--quick", "--no-progress", "--json", "--seed", "5",
                             "--report", str(tmp_path / "r"))
    assert code == 0, err
    d = json.loads(out)
    assert calls[-1] == (60, 5, False) and d["trials"] == 60 and d["command"].endswith("--trials 60 --seed 5")
    assert all(e["constant"] == pytest.approx(0.7) for e in d["statements"].values())
    assert json.loads((tmp_path / "r" / "study.json").read_text()) == d
    code, out, err = run_cli(capsys, "bound-study", "--trials", "3")
    assert code == 0 and calls[-1] == (3, 0, True) and "c = 0.7" in out and "empirical finding" in out


def test_empirical_constant_is_the_minimum_ratio():
    """study.empirical_constant on a hand-made campaign result: the constant is min observed/bound over the
    applicable, non-vacuous rows, the reference value replacing the observed one where present."""
    from lpft_theory.theory import study

    def row(obs, b, applies=True, vacuous=False, ref=None, k=1):
        r = {f"ing_{n}": 0.1 for n in ("eps", "w_star_norm", "cos_theta_max", "phi_final")}
        r["ing_k"] = k
        for st in bounds.STATEMENTS:
            r[st] = dict(observed=obs, bound=b, applies=applies, vacuous=vacuous)
            if ref is not None:
                r[st]["reference_observed"] = ref
        return r

    rows = [row(2.0, 1.0), row(0.9, 1.0, ref=0.8, k=2), row(0.1, 1.0, applies=False), row(0.0, -1.0, vacuous=True)]
    out = study.empirical_constant(dict(rows=rows, seed=0))
    for st in bounds.STATEMENTS:
        e = out["statements"][st]
        assert e["constant"] == 0.8 and e["non_vacuous"] == 2 and e["below_one"] == 1
        assert [x["min_ratio"] for x in e["tightness"]["k"]] == [2.0, 0.8]


@pytest.mark.slow
def test_readme_replay_command_full_size(tmp_path):
    """The README's replay, ``lpft-theory bound-study --k1 --report DIR``, at full size (about a minute)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lpft_theory.cli.main", "bound-study", "--k1", "--report", str(tmp_path / "DIR")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "infimum of observed/bound = 1/2" in r.stdout
    assert (tmp_path / "DIR" / "study.json").is_file()

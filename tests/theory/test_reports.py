"""The report folders of ``check-bound --report`` (lpft_theory.figures.reports): the files against facts
fixed by construction of tiny results, JSON safety, no backend switch in a notebook's matplotlib, and
``check-bound --adversarial ... --report DIR`` end to end."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from lpft_theory.cli import main as cli
from lpft_theory.figures import reports
from lpft_theory.problem import Problem
from lpft_theory.theory import adversarial, campaign
from lpft_theory.theory import bounds as theory

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

#: observed / bound of the tiny campaign's trials: holds, violated, holds (the tightest), violated.
FACTORS = (2.0, 0.5, 1.001, 0.9)


def _problem():
    """d = 6, k = 1, S = span(e1, e2), B0 at angle a = 0.2 from e1 towards e3 (S⊥), w* = e1, v0 = 10:
    both statements apply, and their bound (sin a · √99 / 4 − 2 sin(a/2) ≈ 0.295) is positive."""
    a = 0.2
    X = np.array([[1.0, 0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0, 0]])
    w = np.array([1.0, 0, 0, 0, 0, 0])
    B0 = np.array([[math.cos(a), 0, math.sin(a), 0, 0, 0]])
    return Problem.from_arrays(X, X @ w, B0, np.array([10.0]), w, B_star=w[None, :], v_star=np.array([1.0]))


def tiny_campaign_result():
    """A campaign result (the shape run_campaign returns) without any integration: one problem, its true
    bound, and observed = FACTORS[i] * bound."""
    p = _problem()
    rows = []
    for i, f in enumerate(FACTORS):
        row = dict(seed=i, d=6, k=1, m=2, n=2, eps=2 * math.sin(0.1), w_star_norm=1.0, id_overlap=None,
                   sigma="identity", head="given", converged=True, steps=10, rtol=1e-7)
        for st in theory.STATEMENTS:
            b = theory.ft_lower_bound(p, st)
            row[st] = theory.verdict(b, f * b.value, 1.0)
        rows.append(row)
    return dict(rows=rows, problems=[p] * len(rows), elapsed_s=0.25, trials=len(rows), seed=0,
                grid=campaign.load_grid(), rechecked=0)


#: (applies, relative gap, status) of the tiny search's candidates, start by start.
CANDIDATES = ((False, 5.0, "below bound but not applicable: outside the regime"), (True, 0.3, "confirmed violation"),
              (True, 0.1, "confirmed violation"), (True, 0.05, "unconfirmed"), (True, -0.5, "holds"),
              (True, None, "n/a"))


def tiny_adversarial_result():
    """A run_search result without any search: CANDIDATES for each statement; NaN and inf where a real
    run can have them (surrogate values of failed steps)."""
    p = _problem()
    results = []
    for st in theory.STATEMENTS:
        for start, (applies, gap, status) in enumerate(CANDIDATES):
            results.append(dict(statement=st, start=start, seed=start, shape=[6, 1, 2, 2],
                                surrogate_relative_gap=float("nan"), gap_history=[0.1, None, float("inf")],
                                bound=None if gap is None else 0.25 * (1 + gap), observed=0.25,
                                margin=None if gap is None else -0.25 * gap, applies=applies, relative_gap=gap,
                                status=status, reference_observed=None, problem=p))
    return dict(results=results, elapsed_s=1.0, starts=len(CANDIDATES), steps=2, seed=0)


def _strict_json(path):
    def no_constant(name):
        raise AssertionError(f"{path}: {name} is not JSON")

    return json.loads(path.read_text(), parse_constant=no_constant)


def test_campaign_report_files(tmp_path):
    summary = reports.write_campaign_report(tiny_campaign_result(), tmp_path / "a")
    rep = tmp_path / "a"
    on_disk = _strict_json(rep / "report.json")
    assert on_disk == json.loads(json.dumps(summary))
    violated = [i for i, f in enumerate(FACTORS) if f < 1]
    for st in theory.STATEMENTS:
        s = on_disk["statements"][st]
        assert (s["applicable"], s["non_vacuous"], s["violations"]) == (len(FACTORS), len(FACTORS), len(violated))
        assert s["ratio_observed_over_bound"]["median"] == pytest.approx(float(np.median(FACTORS)), rel=1e-12)
        assert s["ratio_observed_over_bound"]["min"] == pytest.approx(min(FACTORS), rel=1e-12)
    # worst violation first (0.5 before 0.9), tightest holding case first (1.001 before 2.0)
    want = [f"{tag}_{st}_{r:02d}_trial{i}.npz" for st in theory.STATEMENTS
            for tag, idx in (("violation", (1, 3)), ("tightest", (2, 0))) for r, i in enumerate(idx)]
    assert on_disk["files"] == want
    for f in want:
        np.testing.assert_array_equal(np.asarray(Problem.load(rep / f).B0), np.asarray(_problem().B0))
    md = (rep / "summary.md").read_text()
    assert f"{len(FACTORS)} trials (seed 0)" in md and all(f"`{f}`" in md for f in want)
    lines = (rep / "trials.csv").read_text().strip().splitlines()
    assert len(lines) == len(FACTORS) + 1
    col = lines[0].split(",").index("final-thm-3.3:holds")
    assert [ln.split(",")[col] for ln in lines[1:]] == [str(f >= 1) for f in FACTORS]
    png = (rep / "histogram.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    reports.write_campaign_report(tiny_campaign_result(), tmp_path / "b")
    assert (tmp_path / "b" / "histogram.png").read_bytes() == png  # reproducible
    assert not [f for f in os.listdir(rep) if f.endswith(".tmp")]


def test_adversarial_report_files(tmp_path):
    summary = reports.write_adversarial_report(tiny_adversarial_result(), tmp_path)
    on_disk = _strict_json(tmp_path / "report.json")  # NaN / inf written as null
    assert on_disk == json.loads(json.dumps(reports.writer.to_jsonable(summary, digits=None)))
    assert on_disk["candidates"][0]["surrogate_relative_gap"] is None
    assert on_disk["candidates"][0]["gap_history"] == [0.1, None, None]
    want = []
    for st in theory.STATEMENTS:
        s = on_disk["statements"][st]
        assert (s["confirmed_violations"], s["unconfirmed"], s["applicable_finals"]) == (2, 1, 4)
        assert s["best"]["start"] == 1 and s["best"]["relative_gap"] == 0.3  # not the inapplicable start 0
        want += [f"adversarial_{st}_start01.npz", f"adversarial_{st}_start02.npz"]  # best, then other confirmed
    assert on_disk["files"] == want and all((tmp_path / f).exists() for f in want)
    md = (tmp_path / "summary.md").read_text()
    assert f"{len(CANDIDATES)} starts x 2 Adam steps" in md and "| final-thm-3.3 | 2 | 1 | 0.3 |" in md
    assert adversarial.summarize(tiny_adversarial_result())["statements"] == summary["statements"]


def test_writers_and_generate_keep_the_notebook_backend(tmp_path):
    """In a notebook kernel's matplotlib (inline backend), the report writers and figures.generate switch
    no backend and never import pyplot."""
    code = "\n".join([
        "import sys",
        f"sys.path.insert(0, {HERE!r})",
        "import jax",
        "jax.config.update('jax_enable_x64', True)",
        "import matplotlib, lpft_theory",
        "before = matplotlib.get_backend()",
        "import test_reports as t",
        "from lpft_theory.figures import registry, reports",
        "out = sys.argv[1]",
        "reports.write_campaign_report(t.tiny_campaign_result(), out + '/campaign')",
        "reports.write_adversarial_report(t.tiny_adversarial_result(), out + '/adversarial')",
        "registry.generate(out + '/figures', quick=True, only=['toy_2d'])",
        "after = matplotlib.get_backend()",
        "assert before == after == 'module://matplotlib_inline.backend_inline', (before, after)",
        "assert 'matplotlib.pyplot' not in sys.modules",
        "print('backend kept:', after)",
    ])
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="module://matplotlib_inline.backend_inline")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "backend kept: module://matplotlib_inline.backend_inline" in r.stdout
    for f in ("campaign/histogram.png", "adversarial/report.json", "figures/toy_2d.png", "figures/README.md"):
        assert (tmp_path / f).stat().st_size > 0


def _check_adversarial_folder(rep, starts, steps):
    summary = _strict_json(rep / "report.json")
    assert (summary["starts"], summary["steps"]) == (starts, steps)
    assert len(summary["candidates"]) == starts * len(theory.STATEMENTS)
    for st in theory.STATEMENTS:
        assert summary["statements"][st]["starts"] == starts
    assert summary["files"] and all(Problem.load(rep / f).k >= 1 for f in summary["files"])
    assert (rep / "summary.md").read_text().startswith(f"# Adversarial search: {starts} starts x {steps} Adam steps")
    return summary


def test_cli_adversarial_small_search_writes_report(tmp_path, capsys):
    """check-bound --adversarial with the smallest search (--starts 1 --steps 1): report.json, summary.md
    and the best case per statement."""
    rep = tmp_path / "adv"
    assert cli.main(["check-bound", "--adversarial", "--starts", "1", "--steps", "1", "--report", str(rep),
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    _check_adversarial_folder(rep, 1, 1)
    assert out.startswith("# Adversarial search: 1 starts x 1 Adam steps")


@pytest.mark.parametrize("flag", ["--starts", "--steps"])
def test_cli_adversarial_rejects_empty_search(tmp_path, capsys, flag):
    rc = cli.main(["check-bound", "--adversarial", flag, "0", "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and flag in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_adversarial_quick_report_end_to_end(tmp_path):
    """Exactly ``lpft-theory check-bound --adversarial --quick --report DIR`` (it used to crash at the end)."""
    rep = tmp_path / "adv"
    r = subprocess.run([sys.executable, "-m", "lpft_theory.cli", "check-bound", "--adversarial", "--quick",
                        "--report", str(rep)], env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    from lpft_theory.cli.check_bound import QUICK_STARTS

    _check_adversarial_folder(rep, QUICK_STARTS, adversarial.QUICK_STEPS)

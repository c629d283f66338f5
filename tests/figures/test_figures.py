"""Figures: the data in figures/ against independent facts, the plot functions' panels and series,
the writer, and the command (quick, in a temporary folder)."""

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from lpft_theory.cli import main as cli
from lpft_theory.figures import writer as figio
from lpft_theory.figures import paper as figures
from lpft_theory.figures import plots, registry
from lpft_theory.theory import bounds as theory
from lpft_theory.theory.bounds import align_representative
from lpft_theory.problem import Problem, RegimeWarning, regime_warnings_silenced

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIG_DIR = os.path.join(ROOT, "figures")
NAMES = ("toy_2d", "ood_vs_time", "distortion", "eps_tradeoff", "head_alignment")



def _lines_of_color(ax, color):
    return [ln for ln in ax.get_lines() if ln.get_color() == color and len(ln.get_xdata()) > 0]


# ---------------------------------------------------------------------------
# data files: independent checks


def test_committed_files_complete(committed):
    for name in NAMES:
        for ext in ("png", "pdf", "json"):
            assert os.path.exists(os.path.join(FIG_DIR, f"{name}.{ext}")), f"{name}.{ext} missing"
        d = committed(name)
        assert d["figure"] == name and d["quick"] is False and "params" in d


def test_toy_2d_closed_forms(committed):
    """docs/theory.md §5, recomputed here: w_lp = (w1, w1 tan a); v_inf^2 = (c + sqrt(c^2 + 4 w1^2))/2,
    c = v0^2 - 1 + sin^2 a, w_ft = (w1, v_inf sin a); LP-FT never moves."""
    d = committed("toy_2d")
    a, (w1, w2), v0 = d["a"], d["w_star"], d["v0"]
    c = v0**2 - 1 + math.sin(a) ** 2
    v_inf = math.copysign(math.sqrt((c + math.sqrt(c * c + 4 * w1 * w1)) / 2), v0)
    np.testing.assert_allclose(d["w_lp"], [w1, w1 * math.tan(a)], atol=1e-12)
    np.testing.assert_allclose(d["w_ft"], [w1, v_inf * math.sin(a)], atol=1e-8)
    np.testing.assert_allclose(d["w_lpft"], [w1, w1 * math.tan(a)], atol=1e-8)
    for m in ("lp", "ft", "lpft"):  # the JSON keeps 12 significant digits
        w = np.array(d[f"w_{m}"])
        assert abs(d["ood_loss"][m] - float(np.sum((w - np.array([w1, w2])) ** 2))) < 1e-10
    assert d["ood_loss"]["ft"] > d["ood_loss"]["lp"]  # the figure's point, for these parameters
    B = np.array(d["path"]["ft"]["B"])
    assert np.ptp(B[:, 1]) < 1e-14  # Lemma A.3: only e1 moves
    assert abs(B[0, 1] - math.sin(a)) < 1e-10  # (a is stored with 12 digits)


def test_distortion_perp_component_zero(committed):
    d = committed("distortion")
    for m in ("ft", "lpft"):
        perp = np.array(d[m]["ood_perp_full"], dtype=float)
        assert perp.shape[0] >= 2 and np.all(np.isfinite(perp))
        assert np.max(perp) <= 1e-12
        # the total OOD change is O(1) for FT, so 1e-12 is a real test of Lemma A.3
        assert np.max(np.array(d[m]["ood_total_full"], dtype=float)) > 1e-4
    r = d["ratio_at_convergence"]
    np.testing.assert_allclose(r["id"], np.array(d["ft"]["id_inf"]) / np.array(d["lpft"]["id_inf"]), rtol=1e-10)
    assert min(r["id"]) > 1 and min(r["ood"]) > 1  # FT distorts more than LP-FT on every seed


def test_eps_tradeoff_lpft_at_eps0(committed):
    d = committed("eps_tradeoff")
    assert d["eps"][0] == 0.0
    for m in ("lp", "lpft"):  # perfect features: LP reaches w*, FT from there never moves
        assert max(d["values"][m]["ood_loss"][0]) < 1e-20
    assert min(d["values"]["ft"]["ood_loss"][0]) > 1e-3  # FT from a random head does not
    for m in ("ft", "lpft"):  # FT fits S exactly at convergence
        assert max(max(row) for row in d["values"][m]["id_subspace_loss"]) < 1e-12
    for m in d["converged"]:
        assert all(all(row) for row in d["converged"][m])


def test_regime_warnings_silenced_hides_only_regime_warnings():
    """The one helper the figures (and toy, claims) use: RegimeWarning hidden inside, other warnings
    shown, the filters restored after."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with regime_warnings_silenced():
            Problem.random(seed=0, d=3, k=1, m=2)  # m + k < d fails: outside the regime
            warnings.warn("another warning", UserWarning)
        Problem.random(seed=0, d=3, k=1, m=2)
    assert [type(w.message) for w in seen] == [UserWarning, RegimeWarning]


def test_align_representative_is_the_minimiser():
    p = Problem.random(seed=4, d=20, k=2, m=5, eps=0.3)
    q = align_representative(p)
    np.testing.assert_allclose(np.asarray(q.B_star).T @ np.asarray(q.v_star), np.asarray(p.w_star), atol=1e-14)
    # ||B0 - B*'||_2 attains d(B0, B*) = 2 sin(theta_max / 2) (docs/theory.md §1)
    assert abs(np.linalg.norm(np.asarray(q.B0) - np.asarray(q.B_star), 2) - 0.3) < 1e-12


def test_ood_vs_time_bounds_equal_theory(committed):
    d = committed("ood_vs_time")
    p = d["params"]
    for idx in {d["representative"], 0, len(p["seeds"]) - 1}:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob = align_representative(Problem.random(seed=p["seeds"][idx], d=p["d"], k=p["k"], m=p["m"], n=p["n"],
                                                   eps=p["eps"], head_scale=p["head_scale"]))
        for st in theory.STATEMENTS:
            want = theory.ft_lower_bound(prob, st).value
            got = d["bounds"][st]["value"][idx]
            if math.isnan(want):
                assert got is None
            else:
                assert abs(got - want) <= 1e-11 * max(1.0, abs(want))
    for st in theory.STATEMENTS:
        assert d["representative_bounds"][st] == d["bounds"][st]["value"][d["representative"]]
    # the figure's message, checked on the data: no stopping time brings FT to LP's limit
    ft = np.array(d["sqrt_ood"]["ft"])
    lp_inf = np.array(d["sqrt_ood_inf"]["lp"])
    assert np.all(ft.min(axis=1) > lp_inf)
    assert len(p["seeds"]) >= 32


def test_head_alignment_bounds_equal_theory(committed):
    d = committed("head_alignment")
    n = d["params"]["n_problems"]
    for i in (0, n // 2, n - 1):
        prob, alpha, _ = figures._aligned_head_problem(i, n, figures.HEAD)
        assert abs(alpha - d["alpha"][i]) < 1e-10  # 12 digits in the JSON
        ing = theory.bound_ingredients(prob)
        assert abs(d["phi_final"][i] - math.sqrt(abs(alpha**2 - 1.0))) < 1e-9  # |v*| = 1, v0 = alpha v* + beta u
        for st in theory.STATEMENTS:
            want = theory.ft_lower_bound(prob, st, ing).value
            got = d[f"bound_{st}"][i]
            assert (got is None) if math.isnan(want) else abs(got - want) <= 1e-11
    below = [o < b for o, b in zip(d["observed"], d["bound_final-thm-3.3"])]
    assert d["n_below_final_bound"] <= sum(below)


# ---------------------------------------------------------------------------
# plot functions: panels and series


def test_plot_toy_2d_panels_and_series(committed):
    fig = plots.plot_toy_2d(committed("toy_2d"))
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    for ax, m, arrows in zip(fig.axes, ("lp", "ft", "lpft"), (2, 3, 2)):
        assert len(_lines_of_color(ax, plots.METHOD_COLORS[m])) == 3  # path, start point, error segment
        assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == arrows  # w, B0 (+ B(inf) for FT)
    assert len(fig.legends) == 1


def test_plot_ood_vs_time_panels_and_series(committed):
    d = committed("ood_vs_time")
    fig = plots.plot_ood_vs_time(d)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    for m in ("lp", "ft", "lpft"):
        assert len(_lines_of_color(ax, plots.METHOD_COLORS[m])) == 1
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 3
    drawn = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]]
    n_defined = sum(1 for v in d["representative_bounds"].values() if v is not None and v > 0)
    assert len(drawn) == n_defined
    for ln in drawn:
        assert any(abs(ln.get_ydata()[0] - v) < 1e-15 for v in d["representative_bounds"].values() if v)


def test_plot_distortion_panels_and_series(committed):
    d = committed("distortion")
    fig = plots.plot_distortion(d)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    a, b, c = fig.axes
    for m in ("ft", "lpft"):
        assert len(_lines_of_color(a, plots.METHOD_COLORS[m])) == 2  # ID and OOD
        assert len(_lines_of_color(b, plots.METHOD_COLORS[m])) == len(d[m]["ood_perp_full"])
    assert len(_lines_of_color(c, plots.METHOD_COLORS["ft"])) == 2  # ID and OOD strips


def test_plot_eps_tradeoff_panels_and_series(committed):
    fig = plots.plot_eps_tradeoff(committed("eps_tradeoff"))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for ax in fig.axes:
        for m in ("lp", "ft", "lpft"):
            assert len(_lines_of_color(ax, plots.METHOD_COLORS[m])) == 1
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 3


def test_plot_head_alignment_not_clipped(committed):
    d = committed("head_alignment")
    fig = plots.plot_head_alignment(d)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    lo, hi = fig.axes[0].get_ylim()
    vals = [v for v in d["observed"] + d["bound_final-thm-3.3"] if v is not None]
    assert lo < min(vals) and hi > max(vals)
    # a point below its bound is drawn, not hidden: feed a fake violation
    fake = json.loads(json.dumps(d))
    fake["observed"][0] = fake["bound_final-thm-3.3"][0] - 0.5
    fake["below_final_bound"][0] = True
    fig = plots.plot_head_alignment(fake)
    lo, _ = fig.axes[0].get_ylim()
    assert lo < fake["observed"][0]
    marks = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "X" and len(ln.get_xdata()) == 1]
    assert len(marks) == 1


# ---------------------------------------------------------------------------
# writer, registry, command


def test_write_figure_atomic_and_deterministic(committed, tmp_path):
    fig = plots.plot_toy_2d(committed("toy_2d"))
    with pytest.raises(TypeError, match="cannot write"):
        figio.write_figure(fig, {"x": object()}, tmp_path, "bad")
    assert os.listdir(tmp_path) == []
    data = {"x": np.array([1.0, np.nan, np.inf]), "params": {"seed": np.int64(3)}}
    a = figio.write_figure(fig, data, tmp_path / "a", "f")
    b = figio.write_figure(fig, data, tmp_path / "b", "f")
    for pa, pb in zip(a, b):
        assert Path(pa).read_bytes() == Path(pb).read_bytes(), os.path.basename(pa)
    assert figio.read_data(a[2]) == {"x": [1.0, None, None], "params": {"seed": 3}}


def test_registry_rules():
    with pytest.raises(ValueError, match="listed twice"):
        registry.by_name([registry.FIGURES["toy_2d"], registry.FIGURES["toy_2d"]])
    with pytest.raises(ValueError, match="name"):
        registry.FigureSpec("bad name", lambda q: {}, lambda d: None, "")
    with pytest.raises(TypeError):
        registry.FIGURES["new"] = registry.FIGURES["toy_2d"]  # read-only: figures are listed in registry.py
    assert tuple(registry.FIGURES)[: len(NAMES)] == NAMES
    assert registry.select(["lr_ratio", "toy_2d"]) == [registry.FIGURES["toy_2d"], registry.FIGURES["lr_ratio"]]
    with pytest.raises(ValueError, match="unknown figure"):
        registry.select(["nope"])


def test_figure_modules_import_one_way():
    """registry imports paper and beyond; neither imports registry back, paper does not import beyond,
    and nothing in figures/ imports by string (importlib)."""
    import ast

    folder = Path(figures.__file__).parent
    imported = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names |= {node.module or ""} | {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        imported[path.stem] = names
        assert not any("importlib" in n for n in names), path.name
    assert {"paper", "beyond"} <= imported["registry"]
    for stem in ("paper", "beyond", "plots", "writer"):
        assert "registry" not in imported[stem] and "reports" not in imported[stem], stem
    assert "beyond" not in imported["paper"]


def test_cli_list_prints_every_figure(capsys):
    assert cli.main(["figures", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(registry.FIGURES)


def test_cli_unknown_figure(tmp_path, capsys):
    assert cli.main(["figures", "--out", str(tmp_path), "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown figure" in err
    assert os.listdir(tmp_path) == []


def test_cli_quick_toy_writes_files_twice_identically(tmp_path):
    for sub in ("a", "b"):
        assert cli.main(["figures", "--out", str(tmp_path / sub), "--quick", "--only", "toy_2d"]) == 0
    for f in ("toy_2d.png", "toy_2d.pdf", "toy_2d.json", "README.md"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert cli.main(["figures", "--out", str(tmp_path / "a"), "--only", "toy_2d", "--replot"]) == 0
    assert (tmp_path / "a" / "toy_2d.png").read_bytes() == (tmp_path / "b" / "toy_2d.png").read_bytes()


@pytest.mark.slow
def test_cli_quick_writes_every_file(tmp_path):
    assert cli.main(["figures", "--out", str(tmp_path), "--quick"]) == 0
    for name in NAMES:
        for ext in ("png", "pdf", "json"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
        assert json.loads((tmp_path / f"{name}.json").read_text())["quick"] is True
    assert (tmp_path / "README.md").exists()


@pytest.mark.slow
def test_full_run_reproduces_committed_data(tmp_path):
    """The committed data files are what the full command produces (JSON compared; PNG/PDF depend on
    the matplotlib/freetype build)."""
    assert cli.main(["figures", "--out", str(tmp_path)]) == 0
    for name in NAMES:
        assert (tmp_path / f"{name}.json").read_text() == Path(FIG_DIR, f"{name}.json").read_text()


def test_cli_workers_write_the_same_files_as_one_process(tmp_path, capsys):
    """``--workers 2`` (figures computed in spawned processes, the longest first, drawn here as they come)
    and ``--workers 1`` write byte-identical files."""
    only = "toy_2d,followup_ensembles,followup_logistic"
    for sub, workers in (("one", "1"), ("two", "2")):
        assert cli.main(["figures", "--out", str(tmp_path / sub), "--quick", "--only", only, "--workers", workers]) == 0
    err = capsys.readouterr().err
    assert "in worker processes, longest first" in err
    files = sorted(os.listdir(tmp_path / "one"))
    assert files == sorted(os.listdir(tmp_path / "two")) and len(files) == 3 * 3 + 1
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f


def test_tasks_longest_first_and_shared_runs_together():
    tasks = registry.tasks(registry.select(None))
    assert sorted(n for t in tasks for n in t) == sorted(registry.FIGURES)
    assert ["ood_vs_time", "distortion", "head_alignment"] in tasks
    cost = [sum(registry.COMPUTE_SECONDS[n] for n in t) for t in tasks]
    assert cost == sorted(cost, reverse=True)
    assert set(registry.COMPUTE_SECONDS) == set(registry.FIGURES)
    assert registry.tasks(registry.select(["distortion"])) == [["distortion"]]


def test_cli_workers_must_be_positive(tmp_path, capsys):
    assert cli.main(["figures", "--out", str(tmp_path / "f"), "--only", "toy_2d", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers" in err
    assert not (tmp_path / "f").exists()

"""Bad and careless input through the CLI (issue 13): one line on stderr, exit code 2, no output file,
no temporary file, the input unchanged.

Every case of :data:`CASES` runs in a fresh interpreter. The default run sends them all to one
subprocess that calls ``lpft_theory.cli.main.main(argv)`` once per case (one JAX import instead of
fifty); ``-m slow`` runs each case as its own ``python -m lpft_theory.cli ...`` process as well.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lpft_theory as lt

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
CLI = [sys.executable, "-m", "lpft_theory.cli"]
R = "d=12,k=2,m=4,n=8,eps=0.1,seed=0"
FT = ["--method", "ft", "--times", "0,1"]
TMP_PREFIX = ".lpft-tmp-"


# ---------------------------------------------------------------------------
# input files


def _arrays(seed=1):
    p = lt.Problem.random(seed=seed, d=12, k=2, m=4, n=8, eps=0.1)
    return {k: np.asarray(getattr(p, k)) for k in ("X", "y", "B0", "v0", "w_star")}


def _setup(d: Path, kind: str) -> None:
    """Create the input files of a case in its folder ``d``."""
    a = _arrays()
    if kind in ("problem", "link", "noisy", "timesfile", "underfile", "folder"):
        np.savez(d / "P.npz", **a)
    if kind == "link":
        os.symlink(d / "P.npz", d / "link.npz")
    if kind == "noisy":
        np.savez(d / "N.npz", **dict(a, y=a["y"] + 0.1))
    if kind == "timesfile":
        (d / "t.npz").write_text("0\n1\n")  # a text times file with an .npz name
    if kind == "folder":
        (d / "folder.npz").mkdir()
    if kind == "file":
        (d / "file.txt").write_text("not a folder\n")
    if kind == "text":
        (d / "T.npz").write_text("X y B0\n1 2 3\n")
    if kind == "npy":
        np.save(d / "A.npy", a["X"])
        os.replace(d / "A.npy", d / "A.npz")
    if kind == "batch":
        b = {k: np.stack([v, v]) for k, v in a.items()}
        np.savez(d / "B.npz", **b)
    if kind == "f32":
        np.savez(d / "F.npz", **dict(a, B0=a["B0"].astype(np.float32)))
    if kind == "times2d":
        np.save(d / "t2.npy", np.array([[0.0, 1.0], [2.0, 3.0]]))
    if kind == "timesstr":
        np.save(d / "ts.npy", np.array(["0", "1"]))
    if kind == "timesbad":
        (d / "tb.txt").write_text("0 1\n2 x\n")
    if kind == "replot_key":
        (d / "figs").mkdir()
        (d / "figs" / "toy_2d.json").write_text("{}\n")
    if kind == "replot_json":
        (d / "figs").mkdir()
        (d / "figs" / "toy_2d.json").write_text('{"w_star": \n')


#: (id, input kind, argv with {d} = the case folder, text expected in the one stderr line).
#: Every case must exit 2 and leave its folder exactly as it was.
CASES = [
    # 1. input destroyed
    ("out_is_problem", "problem", ["simulate", "--problem", "{d}/P.npz", *FT, "--out", "{d}/P.npz"],
     "is the input file of --problem"),
    ("out_is_problem_respelled", "problem", ["simulate", "--problem", "{d}/P.npz", *FT, "--out", "{d}/x/../P.npz"],
     "is the input file of --problem"),
    ("out_is_problem_via_symlink", "link", ["simulate", "--problem", "{d}/P.npz", *FT, "--out", "{d}/link.npz"],
     "is the input file of --problem"),
    ("out_is_times_file", "timesfile", ["simulate", "--random", R, "--method", "ft", "--times", "@{d}/t.npz",
                                        "--out", "{d}/t.npz"], "is the input file of --times"),
    # 2. solver failure, file system, memory, replot
    ("solver_max_steps", "", ["simulate", "--random", R, "--method", "ft", "--times", "0,100", "--max-steps", "5",
                              "--out", "{d}/R.npz"], "--max-steps"),
    ("max_steps_zero", "", ["simulate", "--random", R, *FT, "--max-steps", "0", "--out", "{d}/R.npz"],
     "expected an integer >= 1"),
    ("rtol_zero", "", ["simulate", "--random", R, *FT, "--rtol", "0", "--out", "{d}/R.npz"], "expected a number > 0"),
    ("solver_frozen_head", "", ["simulate", "--random", R, "--method", "ft-frozen-head", "--times", "0,1",
                                "--solver", "kvaerno5", "--out", "{d}/R.npz"], "--solver only applies"),
    ("max_steps_gd", "", ["simulate", "--random", R, "--method", "gd", "--lr-v", "0.1", "--lr-B", "0.1", "--steps",
                          "10", "--max-steps", "9", "--out", "{d}/R.npz"], "--max-steps only applies"),
    ("out_not_writable", "", ["simulate", "--random", R, *FT, "--out", "/sys/lpft-theory-test/R.npz"],
     "cannot write in '/sys'"),
    ("out_under_a_file", "underfile", ["simulate", "--random", R, *FT, "--out", "{d}/P.npz/sub/R.npz"],
     "is a file, not a folder"),
    ("out_is_folder", "folder", ["simulate", "--random", R, *FT, "--out", "{d}/folder.npz"],
     "is an existing folder"),
    ("out_suffix", "", ["simulate", "--random", R, *FT, "--out", "{d}/R.txt"], "must end in .npz"),
    ("report_is_file", "file", ["check-bound", "--trials", "3", "--report", "{d}/file.txt", "--no-progress"],
     "exists and is not a folder"),
    ("adversarial_report_is_file", "file", ["check-bound", "--adversarial", "--quick", "--report", "{d}/file.txt"],
     "exists and is not a folder"),
    ("bench_out_is_file", "file", ["bench", "--quick", "--out", "{d}/file.txt"], "exists and is not a folder"),
    ("figures_out_is_file", "file", ["figures", "--quick", "--only", "toy_2d", "--out", "{d}/file.txt"],
     "exists and is not a folder"),
    ("memory_random_d", "", ["simulate", "--random", "d=100000000000,k=2,m=4,n=8", *FT, "--out", "{d}/R.npz"],
     "of memory"),
    ("memory_saved_states", "", ["simulate", "--random", "d=100000,k=2,m=4,n=8", "--method", "ft", "--times",
                                 "linspace:0,1,100000", "--out", "{d}/R.npz"], "saved states of B"),
    ("replot_missing_key", "replot_key", ["figures", "--replot", "--only", "toy_2d", "--out", "{d}/figs"],
     "toy_2d.json' lacks the key"),
    ("replot_broken_json", "replot_json", ["figures", "--replot", "--only", "toy_2d", "--out", "{d}/figs"],
     "toy_2d.json' is not valid JSON"),
    ("replot_no_file", "", ["figures", "--replot", "--only", "toy_2d", "--out", "{d}"], "does not exist"),
    # 5. one label rule
    *[(f"noisy_labels_{m}", "noisy", ["simulate", "--problem", "{d}/N.npz", "--method", m, *extra,
                                      "--out", "{d}/R.npz"], "y must equal X @ w_star")
      for m, extra in [("ft", ["--times", "0,1"]), ("wise-ft", ["--times", "inf", "--alpha", "0,1"]),
                       ("l2sp", ["--times", "0,1", "--l2sp", "1"]),
                       ("gd", ["--lr-v", "0.1", "--lr-B", "0.1", "--steps", "10"]),
                       ("ft-frozen-head", ["--times", "0,1"])]],
    ("noisy_labels_check_bound", "noisy", ["check-bound", "--problem", "{d}/N.npz"], "y must equal X @ w_star"),
    ("label_noise_with_file", "problem", ["simulate", "--problem", "{d}/P.npz", *FT, "--label-noise", "0.1",
                                          "--out", "{d}/R.npz"], "--label-noise needs --random"),
    # 6. accepted without a check
    ("gd_steps_unbounded", "", ["simulate", "--random", R, "--method", "gd", "--lr-v", "0.01", "--lr-B", "0.01",
                                "--steps", "100000000000", "--out", "{d}/R.npz"], "<= 1e+09"),
    ("gd_too_many_saves", "", ["simulate", "--random", R, "--method", "gd", "--lr-v", "0.01", "--lr-B", "0.01",
                               "--steps", "1000000000", "--save-every", "1", "--out", "{d}/R.npz"], "at most 1e+07"),
    ("alpha_not_finite", "", ["simulate", "--random", R, "--method", "wise-ft", "--times", "inf", "--alpha", "0,nan",
                              "--out", "{d}/R.npz"], "--alpha: values must be finite"),
    ("random_duplicate_key", "", ["simulate", "--random", R + ",d=13", *FT, "--out", "{d}/R.npz"],
     "key 'd' given twice"),
    ("random_fractional_d", "", ["simulate", "--random", "d=12.7,k=2,m=4", *FT, "--out", "{d}/R.npz"],
     "d='12.7' is not a valid int"),
    ("times_2d_file", "times2d", ["simulate", "--random", R, "--method", "ft", "--times", "@{d}/t2.npy",
                                  "--out", "{d}/R.npz"], "expected a 1-D array"),
    ("times_string_file", "timesstr", ["simulate", "--random", R, "--method", "ft", "--times", "@{d}/ts.npy",
                                       "--out", "{d}/R.npz"], "expected real numbers"),
    ("check_bound_trials_zero", "", ["check-bound", "--trials", "0", "--report", "{d}/rep"],
     "expected an integer >= 1"),
    # 7. unclear messages
    ("times_negative_needs_equals", "", ["simulate", "--random", R, "--method", "ft", "--times", "-1,0,1",
                                         "--out", "{d}/R.npz"], "must be attached with '='"),
    ("times_negative", "", ["simulate", "--random", R, "--method", "ft", "--times=-1,0,1", "--out", "{d}/R.npz"],
     "times must be non-negative"),
    ("seed_negative", "", ["simulate", "--random", R.replace("seed=0", "seed=-1"), *FT, "--out", "{d}/R.npz"],
     "seed must be an integer >= 0"),
    ("problem_is_text", "text", ["simulate", "--problem", "{d}/T.npz", *FT, "--out", "{d}/R.npz"], "is a text file"),
    ("problem_is_renamed_npy", "npy", ["simulate", "--problem", "{d}/A.npz", *FT, "--out", "{d}/R.npz"],
     "single .npy array"),
    ("check_bound_batched_file", "batch", ["check-bound", "--problem", "{d}/B.npz"], "holds a batch of shape (2,)"),
    ("b0_float32", "f32", ["simulate", "--problem", "{d}/F.npz", *FT, "--out", "{d}/R.npz"],
     "B0 is stored as float32"),
    ("problem_is_folder", "", ["simulate", "--problem", "{d}", *FT, "--out", "{d}/R.npz"], "is a folder"),
    # 8. many times
    ("times_file_missing", "", ["simulate", "--random", R, "--method", "ft", "--times", "@{d}/none.txt",
                                "--out", "{d}/R.npz"], "no such file"),
    ("times_file_bad_number", "timesbad", ["simulate", "--random", R, "--method", "ft", "--times", "@{d}/tb.txt",
                                           "--out", "{d}/R.npz"], "tb.txt line 2: 'x' is not a number"),
    ("logspace_from_zero", "", ["simulate", "--random", R, "--method", "ft", "--times", "logspace:0,1,10",
                                "--out", "{d}/R.npz"], "START must be > 0"),
    ("times_not_increasing", "", ["simulate", "--random", R, "--method", "ft", "--times", "0;linspace:0,1,5",
                                  "--out", "{d}/R.npz"], "strictly increasing"),
]

DRIVER = r"""
import io, json, sys
from lpft_theory.cli.main import main
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    finally:
        sys.stdout, sys.stderr = saved
    results.append(dict(rc=rc, out=out.getvalue(), err=err.getvalue()))
sys.__stdout__.write(json.dumps(results))
"""


def run_many(argvs, timeout=900):
    """Run ``main(argv)`` for each argv in one fresh interpreter; ``[{rc, out, err}]``."""
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(argvs), capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with the hash of its content (folders and links marked)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _prepare(root: Path, case):
    name, kind, argv, _ = case
    d = root / name
    d.mkdir()
    if kind:
        _setup(d, kind)
    return d, [a.replace("{d}", str(d)) for a in argv], snapshot(d)


def _check(case, d, before, rc, err):
    name, _, _, expect = case
    lines = err.strip().splitlines()
    assert rc == 2, (name, rc, err)
    assert len(lines) == 1, (name, err)
    assert lines[0].startswith("lpft-theory: error: "), (name, err)
    assert expect in lines[0], (name, lines[0])
    assert "Traceback" not in err
    assert snapshot(d) == before, f"{name}: the case folder changed (a file written, an input altered)"
    assert not [p for p in d.rglob(TMP_PREFIX + "*")], name


@pytest.fixture(scope="module")
def driver_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    prepared = [_prepare(root, case) for case in CASES]
    results = run_many([argv for _, argv, _ in prepared])
    return {case[0]: (d, before, res) for case, (d, _, before), res in zip(CASES, prepared, results)}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_exit_2(case, driver_results):
    d, before, res = driver_results[case[0]]
    _check(case, d, before, res["rc"], res["err"])
    assert res["out"] == ""


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_as_cli_process(case, tmp_path):
    d, argv, before = _prepare(tmp_path, case)
    proc = subprocess.run(CLI + argv, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    _check(case, d, before, proc.returncode, proc.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    ["simulate", "--random", R, "--method", "ft", "--times", "0,1e300", "--out", "{d}/R.npz"],
    ["simulate", "--random", R + ",w_star_norm=1e150", *FT, "--out", "{d}/R.npz"],
])
def test_solver_failure_as_cli_process(argv, tmp_path):
    proc = subprocess.run(CLI + [a.replace("{d}", str(tmp_path)) for a in argv], capture_output=True, text=True,
                          env=ENV, timeout=900)
    _check(("solver", "", argv, "did not finish"), tmp_path, {}, proc.returncode, proc.stderr)
    assert "--max-steps" in proc.stderr


def test_runs_that_succeed(tmp_path):
    """--times @file.txt / @file.npy / logspace / pieces; warnings in one line; a symbolic link --out
    (written through, with a warning; same seed, same bytes); missing folders; stale temporary files of
    dead processes removed, live ones kept; the help states the label rule."""
    np.savetxt(tmp_path / "t.txt", [0.0, 0.5, 2.0], header="save times")
    many = np.linspace(0.0, 1.0, 20_000)  # as a comma list: over the 128 KiB limit of one argument
    np.save(tmp_path / "t.npy", many)
    (tmp_path / "target.npz").write_bytes(b"old")
    os.symlink(tmp_path / "target.npz", tmp_path / "link.npz")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{TMP_PREFIX}{int(dead.stdout)}-abc.npz.tmp"
    live = tmp_path / f"{TMP_PREFIX}{os.getpid()}-def.npz.tmp"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    t = str(tmp_path)
    argvs = [
        ["simulate", "--random", R, "--method", "ft", "--times", f"@{t}/t.txt", "--out", f"{t}/a.npz"],
        ["simulate", "--random", R, "--method", "ft", "--times", f"@{t}/t.npy", "--out", f"{t}/b.npz"],
        ["simulate", "--random", R, "--method", "ft", "--times", "0;logspace:1e-3,1e3,19998;1e4",  # as many as b
         "--out", f"{t}/c.npz"],
        ["simulate", "--random", "d=6,k=2,m=4,n=8,eps=0.1", "--method", "lp", "--times", "0,1",
         "--out", f"{t}/new/sub/d.npz"],
        ["simulate", "--random", R, "--method", "wise-ft", "--times", "1", "--alpha", "0,1.5", "--out", f"{t}/e.npz"],
        ["simulate", "--random", R, "--method", "ft", "--times", f"@{t}/t.txt", "--out", f"{t}/link.npz"],
        ["simulate", "--help"],
    ]
    res = run_many(argvs)
    assert [r["rc"] for r in res] == [0] * 7, [r["err"] for r in res]
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "target.npz").read_bytes()  # same seed, same bytes
    with np.load(tmp_path / "a.npz") as r:
        np.testing.assert_array_equal(r["times"], [0.0, 0.5, 2.0])
    with np.load(tmp_path / "b.npz") as r:
        np.testing.assert_array_equal(r["times"], many)
    with np.load(tmp_path / "c.npz") as r:
        expect = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 19998), [1e4]])
        np.testing.assert_array_equal(r["times"], expect)
    assert (tmp_path / "new" / "sub" / "d.npz").is_file()
    for i in (3, 4, 5):  # one warning line each (regime, extrapolating alpha, symbolic link)
        lines = res[i]["err"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lpft-theory: warning: "), res[i]["err"]
    assert "outside the theorems' regime" in res[3]["err"] and "[RegimeWarning]" in res[3]["err"]
    assert "outside [0, 1]" in res[4]["err"]
    assert "symbolic link" in res[5]["err"]
    assert os.path.islink(tmp_path / "link.npz")
    help_text = " ".join(res[6]["out"].split())
    for phrase in ("y = X w*", "--label-noise SIGMA on a --random problem", "missing folders are created",
                   "logspace:START,STOP,N", "@FILE.npy", "--max-steps"):
        assert phrase in help_text, phrase
    assert not stale.exists() and live.exists()
    live.unlink()
    assert not list(tmp_path.rglob(TMP_PREFIX + "*"))


# ---------------------------------------------------------------------------
# the error boundary itself (in-process)


def test_unexpected_error_is_one_line_with_traceback_file(monkeypatch, capsys):
    from lpft_theory.cli import main as cli_main, simulate

    def boom(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(simulate, "run", boom)
    code = cli_main.main(["simulate", "--random", R, *FT, "--out", "unused.npz"])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lpft-theory: internal error: ZeroDivisionError: a bug")
    path = lines[0].split("full traceback in ", 1)[1].split(";", 1)[0]
    try:
        text = Path(path).read_text()
        assert "Traceback" in text and "ZeroDivisionError" in text
    finally:
        os.remove(path)


@pytest.mark.parametrize("exc,expect", [
    (RuntimeError("FT: the diffrax solve did not finish (max_steps=5 exhausted); raise max_steps or loosen rtol/atol"),
     "(CLI: --max-steps N)"),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 160003200232 bytes.\nmore"), "out of memory in JAX"),
    (MemoryError("Unable to allocate 1.5 TiB"), "out of memory (Unable to allocate 1.5 TiB)"),
    (PermissionError(13, "Permission denied", "/x/R.npz"), "cannot use '/x/R.npz': Permission denied"),
    (OSError(28, "No space left on device", "/x/R.npz"), "No space left on device"),
])
def test_expected_failures_exit_2(exc, expect):
    from lpft_theory.cli.main import classify

    code, msg = classify(exc)
    assert code == 2 and expect in msg and "\n" not in msg


def test_solver_error_type_is_expected():
    from lpft_theory.cli.main import _solver_error_type, classify

    kind = _solver_error_type()
    if kind is None:
        pytest.skip("lpft_theory.integrate.SolverError does not exist yet")
    code, msg = classify(kind("FT did not finish; raise max_steps (CLI: --max-steps), loosen rtol/atol, or use "
                              "the stiff solver kvaerno5"))
    assert code == 2 and "--max-steps" in msg


# ---------------------------------------------------------------------------
# the Python API cases of the issue that live in problem.py and geometry.py


def test_api_bad_input_messages(tmp_path):
    with pytest.raises(TypeError, match="d must be an integer, got 12.7"):
        lt.Problem.random(seed=0, d=12.7, k=2, m=4)
    assert lt.Problem.random(seed=0, d=12.0, k=2, m=4).d == 12
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        lt.Problem.random(seed=-1, d=12, k=2, m=4)
    with pytest.raises(TypeError, match="X is required"):
        lt.Problem.from_arrays(X=None, y=None, B0=None, v0=None, w_star=None)
    p = lt.Problem.random(seed=0, d=12, k=2, m=4)
    with pytest.raises(IsADirectoryError, match="is an existing folder"):
        p.save(tmp_path)
    assert not list(tmp_path.iterdir())
    B = np.asarray(p.B0)
    with pytest.raises(ValueError, match="same shape"):
        lt.feature_distance(B, B[:1])


def test_random_problem_with_x64_off_says_so():
    import warnings

    import jax

    jax.config.update("jax_enable_x64", False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lt.Problem.random(seed=0, d=12, k=2, m=4)
    finally:
        jax.config.update("jax_enable_x64", True)
    assert any(issubclass(w.category, lt.PrecisionWarning) for w in caught)

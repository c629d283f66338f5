"""The teaching notebooks in ``notebooks/``: paired, executable, and using only the public API.

Each notebook ``notebooks/NN_name.ipynb`` is stored *with outputs* (readable on the web) and
paired with a jupytext ``py:percent`` file ``notebooks/NN_name.py`` (reviewable diffs).
These tests check that

* every ``.py`` has its ``.ipynb`` and vice versa, and the two hold the same cells (type and
  source), i.e. the pair is in sync;
* the stored ``.ipynb`` was executed (every code cell has an execution count) and holds no
  error output;
* the first code cell enables float64, and no cell reaches into private ``lpft_theory`` names;
* each notebook ends with exercises followed by a marked solutions section;
* the stored outputs are current: at execution :func:`build` stamps each ``.ipynb`` with
  ``metadata["lpft_theory"]["source_hash"]`` (:func:`source_hash` of its cells) and ``["package_hash"]``
  (:func:`package_hash` of every ``lpft_theory/**/*.py``); the test recomputes both and fails when the
  notebook or the package changed since the outputs were made (``test_staleness_check_fails_on_an_edit``
  shows that it does);
* each notebook executes top to bottom in a fresh ``python3`` kernel (nbclient) without error, in a
  temporary working directory (so no notebook depends on being run from ``notebooks/``), with this
  checkout first on the kernel's ``PYTHONPATH``. The notebooks are executed two at a time (one worker
  process per notebook, each starting its own kernel), so the default run uses both cores of a 2-core
  CI machine.

To rebuild the ``.ipynb`` files (execute, store the outputs and stamp the hashes) after editing a
``.py`` or the package::

    python tests/test_notebooks.py                 # all notebooks
    python tests/test_notebooks.py 01 03           # only those whose name starts with 01 or 03
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
PACKAGE = ROOT / "lpft_theory"
PATTERN = re.compile(r"^\d\d_[a-z0-9_]+$")
KERNEL = "python3"  # provided by ipykernel, installed with the `test` extra
CELL_TIMEOUT = 120  # seconds; a hang guard, not a performance assertion
WORKERS = 2  # notebooks executed at the same time


def _stems() -> list[str]:
    stems = {p.stem for p in NB_DIR.glob("*.py")} | {p.stem for p in NB_DIR.glob("*.ipynb")}
    return sorted(s for s in stems if PATTERN.match(s))


STEMS = _stems()


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def source_hash(nb) -> str:
    """sha256 of the notebook's cells (type and stripped source, in order): what the outputs were made from."""
    return hashlib.sha256(json.dumps(_cells(nb)).encode("utf-8")).hexdigest()


def package_hash(package: pathlib.Path = PACKAGE) -> str:
    """sha256 over every ``*.py`` file under ``package`` (sorted relative paths, each path and its bytes)."""
    h = hashlib.sha256()
    for f in sorted(package.rglob("*.py"), key=lambda q: q.relative_to(package).as_posix()):
        h.update(f.relative_to(package).as_posix().encode("utf-8") + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).hexdigest().encode("ascii") + b"\n")
    return h.hexdigest()


def staleness(ipynb: pathlib.Path, package: pathlib.Path = PACKAGE) -> list[str]:
    """Why the stored outputs of ``ipynb`` are not current (empty when they are): a missing stamp, or cells or
    package source that differ from those the stamp records."""
    nb = jupytext.read(ipynb)
    stamp = nb.metadata.get("lpft_theory", {})
    reasons = []
    if not stamp:
        return ["no lpft_theory stamp in the metadata"]
    if stamp.get("source_hash") != source_hash(nb):
        reasons.append("the notebook's cells changed since its outputs were made")
    if stamp.get("package_hash") != package_hash(package):
        reasons.append("the lpft_theory source changed since the outputs were made")
    return reasons


def _kernel_env() -> None:
    """Put this checkout first on PYTHONPATH, so the kernel (a child process) imports the package under test."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *parts])


def _execute(nb, timeout: int = CELL_TIMEOUT):
    _kernel_env()
    with tempfile.TemporaryDirectory(prefix="lpft_nb_") as cwd:  # any directory, not notebooks/
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": cwd}}
        )
        client.execute()
    return nb


def test_notebooks_exist():
    assert len(STEMS) >= 2, f"expected the teaching notebooks in {NB_DIR}, found {STEMS}"
    assert STEMS[0].startswith("01_") and STEMS[1].startswith("02_")


@pytest.mark.parametrize("stem", STEMS)
def test_pair_in_sync(stem):
    py, ipynb = NB_DIR / f"{stem}.py", NB_DIR / f"{stem}.ipynb"
    assert py.exists(), f"{ipynb.name} has no paired {py.name}"
    assert ipynb.exists(), f"{py.name} has no paired {ipynb.name} (run: python tests/test_notebooks.py {stem[:2]})"
    from_py = _cells(jupytext.read(py))
    from_ipynb = _cells(jupytext.read(ipynb))
    assert len(from_py) == len(from_ipynb), f"{stem}: {len(from_py)} cells in .py, {len(from_ipynb)} in .ipynb"
    for i, (a, b) in enumerate(zip(from_py, from_ipynb)):
        assert a == b, f"{stem}: cell {i} differs between .py and .ipynb (rebuild with tests/test_notebooks.py)"


@pytest.mark.parametrize("stem", STEMS)
def test_stored_notebook_has_outputs(stem):
    nb = nbformat.read(NB_DIR / f"{stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{stem}: no code cells"
    assert all(c.execution_count is not None for c in code), f"{stem}: stored without outputs"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{stem}: stored outputs contain an error: {errors[0].get('ename')}"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{stem}: no figures in the stored outputs"


@pytest.mark.parametrize("stem", STEMS)
def test_stored_outputs_are_current(stem):
    reasons = staleness(NB_DIR / f"{stem}.ipynb")
    assert not reasons, f"{stem}: stored outputs are stale ({'; '.join(reasons)}): run python tests/test_notebooks.py"


def test_staleness_check_fails_on_an_edit(tmp_path):
    """The check is not vacuous: an edited cell, and an edited package file, each make a current notebook stale."""
    src = NB_DIR / f"{STEMS[0]}.ipynb"
    nb = jupytext.read(src)
    nb.metadata["lpft_theory"] = dict(source_hash=source_hash(nb), package_hash=package_hash())
    fresh = tmp_path / src.name
    jupytext.write(nb, fresh, fmt="ipynb")
    assert staleness(fresh) == []
    # 1. edit a cell of the notebook
    edited = jupytext.read(fresh)
    code = next(c for c in edited.cells if c.cell_type == "code")
    code.source += "\nx_edited = 1"
    stale = tmp_path / "edited.ipynb"
    jupytext.write(edited, stale, fmt="ipynb")
    assert staleness(stale) == ["the notebook's cells changed since its outputs were made"]
    # 2. edit the package (a copy of it)
    pkg = tmp_path / "lpft_theory"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert staleness(fresh, package=pkg) == []
    (pkg / "toy.py").write_text((pkg / "toy.py").read_text() + "\n# edited\n")
    assert staleness(fresh, package=pkg) == ["the lpft_theory source changed since the outputs were made"]
    # 3. no stamp at all
    del edited.metadata["lpft_theory"]
    jupytext.write(edited, stale, fmt="ipynb")
    assert staleness(stale) == ["no lpft_theory stamp in the metadata"]


@pytest.mark.parametrize("stem", STEMS)
def test_structure_and_public_api(stem):
    nb = jupytext.read(NB_DIR / f"{stem}.py")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert 'jax.config.update("jax_enable_x64", True)' in code[0], f"{stem}: first code cell must enable float64"
    private = re.compile(r"lpft_theory(\.\w+)*\._\w|\blt(\.\w+)*\._\w|from\s+lpft_theory[\w.]*\s+import\s+[^\n]*\b_\w")
    for src in code:
        hit = private.search(src)
        assert hit is None, f"{stem}: uses a private name of lpft_theory: {hit.group(0)!r}"
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    i_ex = next((i for i, s in enumerate(md) if re.search(r"^#+ .*Exercises", s, re.M)), None)
    i_sol = next((i for i, s in enumerate(md) if re.search(r"^#+ .*Solutions", s, re.M)), None)
    assert i_ex is not None and i_sol is not None and i_sol > i_ex, f"{stem}: needs Exercises, then Solutions"


def run_notebook(stem: str) -> dict:
    """Execute ``notebooks/<stem>.py`` in a fresh kernel; return ``stem``, ``error`` (None if it ran) and ``seconds``."""
    nb = jupytext.read(NB_DIR / f"{stem}.py")
    t0 = time.perf_counter()
    try:
        _execute(nb)
    except Exception as e:  # noqa: BLE001 - CellExecutionError carries the failing cell's traceback
        return dict(stem=stem, error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t0)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    error = f"{errors[0].ename}: {errors[0].evalue}" if errors else None
    return dict(stem=stem, error=error, seconds=time.perf_counter() - t0)


@pytest.fixture(scope="module")
def executed() -> dict:
    """Every notebook executed once, ``WORKERS`` at a time (largest first), keyed by stem."""
    order = sorted(STEMS, key=lambda s: (NB_DIR / f"{s}.py").stat().st_size, reverse=True)
    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(order)))
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold JAX threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return {r["stem"]: r for r in pool.map(run_notebook, order)}


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_executes(stem, executed, record_property):
    result = executed[stem]
    record_property("seconds", round(result["seconds"], 1))
    assert result["error"] is None, f"{stem} failed:\n{result['error']}"


def build_one(stem: str) -> float:
    """Execute ``notebooks/<stem>.py`` in a fresh kernel, stamp it and write the paired ``.ipynb``; return seconds."""
    nb = jupytext.read(NB_DIR / f"{stem}.py")
    t0 = time.perf_counter()
    _execute(nb)
    dt = time.perf_counter() - t0
    nb.metadata["lpft_theory"] = dict(source_hash=source_hash(nb), package_hash=package_hash())
    jupytext.write(nb, NB_DIR / f"{stem}.ipynb", fmt="ipynb")
    return dt


def build(prefixes=()) -> None:
    """Execute each selected ``.py`` (``WORKERS`` at a time), write the paired ``.ipynb`` with outputs and stamp it."""
    stems = [s for s in STEMS if not prefixes or any(s.startswith(p) for p in prefixes)]
    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(stems)))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for stem, dt in zip(stems, pool.map(build_one, stems)):
            print(f"{stem}: executed in {dt:.1f} s -> {stem}.ipynb (stamped)")


if __name__ == "__main__":
    build(tuple(sys.argv[1:]))

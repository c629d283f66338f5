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
* each notebook executes top to bottom in a fresh ``python3`` kernel (nbclient) without error.
  The notebooks are executed two at a time (one worker process per notebook, each starting its
  own kernel), so the default run uses both cores of a 2-core CI machine.

To rebuild the ``.ipynb`` files (with fresh outputs) after editing a ``.py``::

    python tests/test_notebooks.py                 # all notebooks
    python tests/test_notebooks.py 01 03           # only those whose name starts with 01 or 03
"""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NB_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
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


def _execute(nb, timeout: int = CELL_TIMEOUT):
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(NB_DIR)}}
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


def build(prefixes=()) -> None:
    """Execute each selected ``.py`` in a fresh kernel and write the paired ``.ipynb`` with outputs."""
    for stem in STEMS:
        if prefixes and not any(stem.startswith(p) for p in prefixes):
            continue
        nb = jupytext.read(NB_DIR / f"{stem}.py")
        t0 = time.perf_counter()
        _execute(nb)
        dt = time.perf_counter() - t0
        jupytext.write(nb, NB_DIR / f"{stem}.ipynb", fmt="ipynb")
        print(f"{stem}: executed in {dt:.1f} s -> {stem}.ipynb")


if __name__ == "__main__":
    build(tuple(sys.argv[1:]))

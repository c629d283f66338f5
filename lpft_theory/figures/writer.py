"""Writing figures: PNG (README), PDF (papers) and the data behind them (JSON), atomically and reproducibly.

:func:`write_figure` saves ``NAME.png``, ``NAME.pdf`` and ``NAME.json`` into a folder. Every file is
first written to a temporary name in that folder; only when all three exist are they renamed into
place, so a failure never leaves a half-written or mismatched set.

Reproducibility: matplotlib's metadata that would change between runs (software version, creation
date) is switched off, and floats in the JSON are written with :data:`JSON_DIGITS` significant digits
(so the data files are the same on rerun, also where the last bits of a BLAS differ).

:func:`write_png` saves one figure alone (the campaign report's histogram) the same way. Figures are
plain :class:`matplotlib.figure.Figure` objects: saving needs no pyplot and no backend switch.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .. import atomic
from ..atomic import temp_path

#: Resolution of the PNGs (the README shows them at about 800 px wide).
PNG_DPI = 110
#: Significant digits of floats in the JSON data files.
JSON_DIGITS = 12

PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}


def to_jsonable(obj, digits=JSON_DIGITS):
    """Numpy arrays/scalars to lists/floats (``digits`` significant digits; ``None``: every digit);
    NaN and ±inf to None.

    Raises TypeError naming the offending type for anything that is not numbers, strings,
    bools, None, lists/tuples or dicts with string keys.
    """
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"data: dict keys must be strings, got {type(k).__name__} ({k!r})")
            out[k] = to_jsonable(v, digits)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), digits)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if not math.isfinite(x):
            return None
        return x if digits is None else float(f"{x:.{digits}g}")
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "__array__"):  # jax arrays
        return to_jsonable(np.asarray(obj), digits)
    raise TypeError(f"data: cannot write {type(obj).__name__} to JSON")


def dumps(data) -> str:
    """Deterministic JSON text (sorted keys, no NaN)."""
    return json.dumps(to_jsonable(data), sort_keys=True, indent=1, allow_nan=False) + "\n"


def roundtrip(data) -> dict:
    """``data`` exactly as :func:`read_data` will return it from the written JSON."""
    return json.loads(dumps(data))


def _save(fig, path, fmt: str) -> None:
    if fmt == "png":
        fig.savefig(path, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
    else:
        fig.savefig(path, format="pdf", metadata=PDF_METADATA)


def _write_together(out_dir, writes: dict) -> list:
    """``writes`` maps final path -> ``write(tmp_path)``. Every file goes to a temporary name in
    ``out_dir`` first; only when all are written are they renamed into place (on any error the
    temporary files are removed and no final name is touched). Returns the final paths."""
    tmps = {}
    try:
        for target, write in writes.items():
            tmps[target] = temp_path(out_dir, os.path.splitext(target)[1])
            write(tmps[target])
        for target, tmp in tmps.items():
            atomic.replace(tmp, target)
    except BaseException:
        for tmp in tmps.values():
            if os.path.exists(tmp):
                os.remove(tmp)
            atomic.release(tmp)
        raise
    return list(writes)


def _plain_name(name: str) -> str:
    if not name or os.sep in name or name.startswith("."):
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    return name


def write_figure(fig, data, out_dir, name: str) -> list:
    """Save ``fig`` as ``NAME.png`` and ``NAME.pdf`` and ``data`` as ``NAME.json`` in ``out_dir``.

    All three are written to temporary files first and renamed together. Returns the final paths.
    """
    name = _plain_name(name)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    text = dumps(data)

    def write_json(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    target = {ext: os.path.join(out_dir, f"{name}.{ext}") for ext in ("png", "pdf", "json")}
    return _write_together(out_dir, {target["png"]: lambda tmp: _save(fig, tmp, "png"),
                                     target["pdf"]: lambda tmp: _save(fig, tmp, "pdf"),
                                     target["json"]: write_json})


def write_png(fig, out_dir, name: str) -> str:
    """Save ``fig`` alone as ``NAME.png`` in ``out_dir`` (atomically, fixed metadata). Returns the path."""
    name = _plain_name(name)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.png")
    return _write_together(out_dir, {path: lambda tmp: _save(fig, tmp, "png")})[0]


def read_data(path) -> dict:
    """Read a ``NAME.json`` written by :func:`write_figure` (None stands for NaN/inf)."""
    with open(os.fspath(path), encoding="utf-8") as f:
        return json.load(f)

"""Atomic file writes: write to a temporary file in the target folder, then rename.

A failure (bad input discovered late, an interrupt, a full disk) never leaves a
half-written result under the final name.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


def temp_path(folder, suffix: str) -> str:
    """A new empty temporary file in ``folder`` (created if needed) with the usual permissions."""
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(suffix=suffix + ".tmp", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual permissions
    return path


def _replace_or_clean(tmp, path, write):
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path, text: str) -> None:
    """Write a text file atomically."""
    path = os.fspath(path)
    tmp = temp_path(os.path.dirname(os.path.abspath(path)), os.path.splitext(path)[1])

    def write(p):
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)

    _replace_or_clean(tmp, path, write)


def atomic_savez(path, **arrays) -> None:
    """``np.savez`` atomically (the name is kept as given; no ``.npz`` is appended)."""
    path = os.fspath(path)
    tmp = temp_path(os.path.dirname(os.path.abspath(path)), ".npz")

    def write(p):
        with open(p, "wb") as f:
            np.savez(f, **arrays)

    _replace_or_clean(tmp, path, write)

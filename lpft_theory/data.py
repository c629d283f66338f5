"""Locating the problem files shipped in the repository's ``problems/`` folder.

The saved problems (``problems/*.npz``, written by :meth:`lpft_theory.Problem.save`, read by
:meth:`lpft_theory.Problem.load`) live in the repository next to the package, not inside it. These
functions find them from any working directory, so notebooks and scripts need no ``..`` paths.
"""

from __future__ import annotations

import os
import pathlib

__all__ = ["problems_dir", "problem_files", "problem_path"]

#: Environment variable that, when set, names the folder of problem files to use instead of the repository's.
ENV_VAR = "LPFT_THEORY_PROBLEMS"


def problems_dir() -> pathlib.Path:
    """The folder of saved problem files.

    Returns:
        ``$LPFT_THEORY_PROBLEMS`` when that variable is set, else ``problems/`` in the directory that
        holds the ``lpft_theory`` package (the repository root for a checkout or an editable install).

    Raises:
        FileNotFoundError: the folder does not exist (for example, a non-editable install from a wheel,
            which does not ship ``problems/``: clone the repository, or set ``LPFT_THEORY_PROBLEMS``).
    """
    env = os.environ.get(ENV_VAR)
    folder = pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parent.parent / "problems"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no problem folder at {folder}: problems/ is part of the repository, not of the installed package; "
            f"install from a clone (pip install -e .) or set {ENV_VAR} to the folder")
    return folder


def problem_files() -> list:
    """Every saved problem file, sorted by name.

    Returns:
        list of :class:`pathlib.Path`, the ``*.npz`` files of :func:`problems_dir`.

    Raises:
        FileNotFoundError: as :func:`problems_dir`.
    """
    return sorted(problems_dir().glob("*.npz"))


def problem_path(name: str) -> pathlib.Path:
    """The path of one saved problem file.

    Arguments:
        name: the file name, with or without the ``.npz`` suffix (e.g. ``"violation_both-statements_k2"``).

    Returns:
        :class:`pathlib.Path` of ``problems_dir() / name`` (``.npz`` appended when missing).

    Raises:
        ValueError: ``name`` is empty or contains a path separator.
        FileNotFoundError: the folder or the file does not exist (the message lists the files there).
    """
    name = str(name)
    if not name or "/" in name or os.sep in name:
        raise ValueError(f"name must be a bare file name, got {name!r}")
    if not name.endswith(".npz"):
        name += ".npz"
    path = problems_dir() / name
    if not path.is_file():
        have = ", ".join(p.name for p in problem_files()) or "none"
        raise FileNotFoundError(f"no problem file {name!r} in {path.parent} (files there: {have})")
    return path

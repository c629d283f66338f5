"""Atomic file writes: write to a temporary file in the target folder, then rename.

A failure (bad input discovered late, an interrupt, a full disk) never leaves a
half-written result under the final name.

Temporary files are named ``.lpft-tmp-<pid>-<random><suffix>.tmp`` (:data:`TMP_PREFIX`),
so they are recognisable. Every live one is recorded in this process;
:func:`remove_live_temps` (called by the CLI on Ctrl-C) deletes them and refuses new
ones. A process killed outright (SIGKILL, power loss) cannot clean up: its leftovers are
removed by the next write into the same folder (:func:`clean_stale`; a file is stale when
the process id in its name no longer runs).
"""

from __future__ import annotations

import os
import tempfile
import threading

#: Prefix of every temporary file this package writes.
TMP_PREFIX = ".lpft-tmp-"

_LOCK = threading.Lock()
_LIVE: set = set()
_CLOSED = False


class WritesClosed(RuntimeError):
    """Raised by a write attempted after :func:`remove_live_temps` (the process is being interrupted)."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: keep the file
    return True


def clean_stale(folder) -> list:
    """Remove ``.lpft-tmp-<pid>-*`` files in ``folder`` whose process no longer runs; return their paths.

    Files of running processes (this one included) and anything that cannot be parsed
    or removed are left alone.
    """
    folder = os.fspath(folder)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(TMP_PREFIX):
            continue
        pid_text = name[len(TMP_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        path = os.path.join(folder, name)
        try:
            if os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def temp_path(folder, suffix: str) -> str:
    """A new empty temporary file in ``folder`` (created if needed) with the usual permissions.

    Stale temporary files of dead processes in ``folder`` are removed first. The new
    file is recorded as live until :func:`release` (or a ``write_*`` here) finishes with it.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    clean_stale(folder)
    with _LOCK:
        if _CLOSED:
            raise WritesClosed("interrupted: no new files are written")
        fd, path = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=suffix + ".tmp", dir=folder)
        _LIVE.add(path)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual permissions
    return path


def release(path) -> None:
    """Forget a temporary file (after it was renamed or removed by its writer)."""
    with _LOCK:
        _LIVE.discard(os.fspath(path))


def replace(tmp, path) -> None:
    """``os.replace(tmp, path)`` unless the process is being interrupted (then :class:`WritesClosed`)."""
    with _LOCK:
        if _CLOSED:
            raise WritesClosed("interrupted: no new files are written")
        os.replace(tmp, path)
        _LIVE.discard(os.fspath(tmp))


def remove_live_temps() -> list:
    """Delete every live temporary file of this process and refuse new writes; return the paths removed.

    A rename in progress finishes first (it holds the same lock), so each final file is
    either the complete new one or untouched.
    """
    global _CLOSED
    with _LOCK:
        _CLOSED = True
        removed = []
        for path in sorted(_LIVE):
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass
        _LIVE.clear()
    return removed


def reopen_writes() -> None:
    """Allow writes again after :func:`remove_live_temps` (for a process that carries on, e.g. a test)."""
    global _CLOSED
    with _LOCK:
        _CLOSED = False


def _check_target(path: str) -> None:
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is an existing folder; give a file name inside it")


def _replace_or_clean(tmp, path, write):
    try:
        write(tmp)
        replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        release(tmp)
        raise


def write_text(path, text: str) -> None:
    """Write a text file atomically."""
    path = os.fspath(path)
    _check_target(path)
    tmp = temp_path(os.path.dirname(os.path.abspath(path)), os.path.splitext(path)[1])

    def write(p):
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)

    _replace_or_clean(tmp, path, write)


def atomic_savez(path, **arrays) -> None:
    """``np.savez`` atomically (the name is kept as given; no ``.npz`` is appended)."""
    import numpy as np

    path = os.fspath(path)
    _check_target(path)
    tmp = temp_path(os.path.dirname(os.path.abspath(path)), ".npz")

    def write(p):
        with open(p, "wb") as f:
            np.savez(f, **arrays)

    _replace_or_clean(tmp, path, write)

"""Command-line interface ``lpft-theory``: subcommands only, no math.

Each subcommand lives in ``lpft_theory/cli/<name>.py`` and exposes
``register(subparsers)``; it sets ``func(args) -> int`` on its parser.

The error boundary (:func:`main`): every expected failure (bad input, a solver that did not
finish, out of memory, the file system) is one line on stderr naming what to change, exit
code 2; anything else is one line naming the file where the full traceback was written,
exit code 1. Ctrl-C (SIGINT) or SIGTERM: one line, temporary files removed, exit code 130
(143 for SIGTERM). The work runs in a worker thread while the main thread waits, so a
signal is seen at once even during a long XLA call; the process then ends with
``os._exit`` (no interpreter teardown under running XLA threads, which could crash).
Output locations are checked before the work starts; results are written atomically.

Only the standard library is imported at module level: JAX and the subcommands are
imported inside :func:`main`, under the error boundary.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
import warnings

from . import _early_interrupt
from .common import UsageError

#: Names of the subcommand modules, in help order.
COMMANDS = ("simulate", "reproduce", "bench", "figures", "check_bound", "claims", "bound_study", "follow_up")

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (exit code 143)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message otherwise)
        if "expected one argument" in message:
            message += (" (a value that starts with '-' must be attached with '=', e.g. --times=-1,0,1; "
                        "times and sizes must be non-negative anyway)")
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(prog="lpft-theory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


# ---------------------------------------------------------------------------
# the error boundary


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _solver_error_type():
    try:  # the engine's typed solver failure, once it exists
        from ..integrate import SolverError
    except ImportError:
        return None
    return SolverError


def classify(exc: BaseException):
    """``(exit_code, message)`` for an expected failure, or None for an unexpected one."""
    if isinstance(exc, (UsageError, ValueError, TypeError)):
        return EXIT_USAGE, _one_line(exc)
    solver_error = _solver_error_type() if isinstance(exc, RuntimeError) else None
    if (solver_error is not None and isinstance(exc, solver_error)) or (
            isinstance(exc, RuntimeError) and "diffrax solve did not finish" in str(exc)):
        msg = _one_line(exc)
        if "--max-steps" not in msg:
            msg = msg.replace("raise max_steps", "raise max_steps (CLI: --max-steps N)")
        if "--rtol" not in msg:
            msg = msg.replace("loosen rtol/atol", "loosen rtol/atol (--rtol, --atol)")
        if "--solver" not in msg:
            msg = (msg.replace("stiff solver kvaerno5", "stiff solver kvaerno5 (--solver kvaerno5)")
                   if "kvaerno5" in msg else msg + ", or use the stiff solver (--solver kvaerno5)")
        return EXIT_USAGE, msg + ("; huge --times or an extreme scale (e.g. w_star_norm=1e150) also exhaust the "
                                  "budget: ask for t = inf (the limit) or rescale the problem")
    if isinstance(exc, MemoryError):
        detail = _one_line(exc) or "allocation failed"
        return EXIT_USAGE, f"out of memory ({detail}); use a smaller problem (d, n) or fewer saved times"
    if isinstance(exc, RuntimeError) and "RESOURCE_EXHAUSTED" in str(exc):
        first = _one_line(str(exc).splitlines()[0] if str(exc) else "", 300)
        return EXIT_USAGE, f"out of memory in JAX ({first}); use a smaller problem (d, n) or fewer saved times"
    if isinstance(exc, OSError):
        if exc.strerror and exc.filename:
            where = repr(exc.filename) + (f" -> {exc.filename2!r}" if exc.filename2 else "")
            return EXIT_USAGE, f"cannot use {where}: {exc.strerror}; check the path and its permissions"
        return EXIT_USAGE, _one_line(exc)
    return None


def _write_traceback(exc: BaseException) -> str | None:
    import tempfile

    try:
        fd, path = tempfile.mkstemp(prefix="lpft-theory-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("lpft-theory " + " ".join(sys.argv[1:]) + "\n\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=f)
        return path
    except OSError:
        return None


def report(exc: BaseException) -> int:
    """Print the one line for ``exc`` on stderr and return the exit code."""
    known = classify(exc)
    if known is not None:
        code, msg = known
        print(f"lpft-theory: error: {msg}", file=sys.stderr, flush=True)
        return code
    path = _write_traceback(exc)
    where = f"full traceback in {path}" if path else "the traceback could not be written"
    print(f"lpft-theory: internal error: {type(exc).__name__}: {_one_line(exc, 300)} ({where}; please report it)",
          file=sys.stderr, flush=True)
    return EXIT_INTERNAL


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = _one_line(message)
    name = getattr(category, "__name__", "Warning")
    if name not in ("UserWarning", "Warning"):
        text += f" [{name}]"
    try:
        print(f"lpft-theory: warning: {text}", file=sys.stderr if file is None else file, flush=True)
    except (OSError, ValueError):
        pass


def _run_in_worker(fn):
    """Run ``fn()`` in a worker thread; the main thread waits in short sleeps, so signals are seen at once."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            box["error"] = e

    worker = threading.Thread(target=target, name="lpft-theory-work", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _interrupted(exc: BaseException, hard_exit: bool) -> int:
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:  # a second Ctrl-C during the clean-up is ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _stop_workers()
    atomic = sys.modules.get("lpft_theory.atomic")
    removed = atomic.remove_live_temps() if atomic is not None else []
    code = EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
    what = "terminated" if code == EXIT_SIGTERM else "interrupted"
    tail = f"; removed {len(removed)} temporary file(s)" if removed else ""
    try:
        print(f"lpft-theory: {what}{tail}", file=sys.stderr, flush=True)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    if hard_exit:  # the worker may still be inside XLA: no interpreter teardown
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)
    if atomic is not None:
        atomic.reopen_writes()
    return code


def _stop_workers() -> None:
    """Kill the worker processes of any live pool (:func:`lpft_theory._pool.terminate_all`)."""
    pool = sys.modules.get("lpft_theory._pool")
    if pool is not None:
        try:
            pool.terminate_all()
        except Exception:  # noqa: BLE001 - never fail while exiting
            pass


def _on_sigterm(signum, frame):
    raise Terminated()


def _exit_on_signal(signum, frame):
    """The program's SIGINT/SIGTERM handler: clean up and end now, without raising.

    An exception raised by a signal can land anywhere, e.g. in a garbage-collection callback of
    XLA where Python ignores it and the run goes on; so the handler itself removes the temporary
    files, writes its line with ``os.write`` (no buffered-stream lock) and calls ``os._exit``.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    code = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
    removed = []
    _stop_workers()
    atomic = sys.modules.get("lpft_theory.atomic")
    if atomic is not None:
        try:
            removed = atomic.remove_live_temps()
        except Exception:  # noqa: BLE001 - never fail while exiting
            pass
    what = "terminated" if code == EXIT_SIGTERM else "interrupted"
    tail = f"; removed {len(removed)} temporary file(s)" if removed else ""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - e.g. a reentrant call while the main thread prints
            pass
    try:
        os.write(2, f"lpft-theory: {what}{tail}\n".encode())
    except OSError:
        pass
    os._exit(code)


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Called without ``argv`` (the ``lpft-theory`` program, ``python -m lpft_theory.cli``) SIGINT and
    SIGTERM end the process at once (:func:`_exit_on_signal`); with ``argv`` (tests, scripts) Ctrl-C
    raises KeyboardInterrupt as usual, is reported in one line, and ``main`` returns 130.
    """
    hard_exit = argv is None
    on_main = threading.current_thread() is threading.main_thread()
    restore = {}
    if on_main:
        if hard_exit:
            for sig in (signal.SIGINT, signal.SIGTERM):  # an inherited SIG_IGN (nohup, background job) is kept
                if signal.getsignal(sig) in (signal.default_int_handler, signal.SIG_DFL, _early_interrupt):
                    restore[sig] = signal.signal(sig, _exit_on_signal)
        elif signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            restore[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            from .._cache import enable_compilation_cache, prepare_environment

            prepare_environment()  # before Equinox is imported
            import jax

            jax.config.update("jax_enable_x64", True)
            enable_compilation_cache()
            args = build_parser().parse_args(argv)
            code = int(_run_in_worker(lambda: args.func(args)) or 0)
    except KeyboardInterrupt as e:
        return _interrupted(e, hard_exit)
    except SystemExit:
        raise  # --help
    except BaseException as e:  # noqa: BLE001 - the one error boundary
        try:
            return report(e)
        except KeyboardInterrupt as e2:
            return _interrupted(e2, hard_exit)
    finally:
        if hard_exit and on_main:  # the program ends: a late Ctrl-C must not interrupt the teardown
            for sig in restore:
                signal.signal(sig, signal.SIG_IGN)
        else:
            for sig, old in restore.items():
                signal.signal(sig, old)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

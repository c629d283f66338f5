"""The ``lpft-theory`` command line: :mod:`~lpft_theory.cli.main` (parser and error boundary), one module per
subcommand, and :mod:`~lpft_theory.cli.common` (the shared problem loader and argument parsers). No math here.

When this package is imported by the ``lpft-theory`` program itself (not by a user's script), a minimal
Ctrl-C handler is installed first, so an interrupt during start-up prints one line and exits 130 instead of a
``KeyboardInterrupt`` traceback; :func:`lpft_theory.cli.main.main` replaces it with the full one.
"""

import os as _os
import signal as _signal
import sys as _sys


def _early_interrupt(signum, frame):  # pragma: no cover - exercised through the program in tests/cli
    _sys.stderr.write("lpft-theory: interrupted\n")
    _sys.stderr.flush()
    _os._exit(130)


# the program: the console script, or ``python -m lpft_theory.cli`` (argv[0] is "-m" while runpy imports it)
if (_os.path.basename(_sys.argv[0]) if _sys.argv else "") in ("lpft-theory", "-m") and \
        _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _early_interrupt)

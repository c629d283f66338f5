"""Command-line interface ``lpft-theory``: subcommands only, no math.

Each subcommand lives in ``lpft_theory/cli/<name>.py`` and exposes
``register(subparsers)``; it sets ``func(args) -> int`` on its parser. Bad input
(``ValueError``/``TypeError``/:class:`UsageError`) is reported as one line on stderr
with exit code 2, and no output file is written.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import bench, check_bound, claims, figures, reproduce, simulate
from .common import UsageError

#: Subcommand modules, in help order.
COMMANDS = (simulate, reproduce, bench, figures, check_bound, claims)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message otherwise)
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lpft-theory", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return int(args.func(args) or 0)
    except (UsageError, ValueError, TypeError) as e:
        msg = " ".join(str(e).split())
        print(f"lpft-theory: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lpft-theory: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

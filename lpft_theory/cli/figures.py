"""``lpft-theory figures``: regenerate every figure (PNG, PDF and the JSON data behind it)."""

from __future__ import annotations

import os
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("figures", help="regenerate the figures: PNG + PDF + JSON data for each")
    p.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: figures)")
    p.add_argument("--quick", action="store_true", help="fewer seeds and grid points (for CI; under a minute)")
    p.add_argument("--only", metavar="NAME[,NAME..]", help="only these figures (comma list)")
    p.add_argument("--replot", action="store_true",
                   help="redraw from the NAME.json files already in --out (no simulation)")
    p.add_argument("--list", action="store_true", help="list the figure names and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..figures import registry

    if args.list:
        for name in registry.FIGURES:
            print(name)
        return 0
    only = None
    if args.only is not None:
        only = [s.strip() for s in args.only.split(",") if s.strip()]
        if not only:
            raise ValueError("--only: expected a comma list of figure names")
    registry.select(only)  # unknown names fail before any work
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out: {args.out!r} exists and is not a folder")
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    written = registry.generate(args.out, quick=args.quick, only=only, log=log, replot=args.replot)
    for path in written:
        print(path)
    return 0

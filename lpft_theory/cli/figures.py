"""``lpft-theory figures``: regenerate every figure (PNG, PDF and the JSON data behind it)."""

from __future__ import annotations

import json
import os
import sys
import time

from .common import UsageError, add_workers_option, check_out_dir, worker_pool


def register(sub) -> None:
    p = sub.add_parser("figures", help="regenerate the figures: PNG + PDF + JSON data for each")
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="output folder (default: figures; checked before any work, created with missing parents)")
    p.add_argument("--quick", action="store_true", help="fewer seeds and grid points (for CI; under a minute)")
    p.add_argument("--only", metavar="NAME[,NAME..]", help="only these figures (comma list)")
    p.add_argument("--replot", action="store_true",
                   help="redraw from the NAME.json files already in --out (no simulation)")
    p.add_argument("--list", action="store_true", help="list the figure names and exit")
    add_workers_option(p, "figures")
    p.set_defaults(func=run)


def _check_replot_files(out_dir, specs) -> None:
    """Every NAME.json to redraw exists and is valid JSON holding an object (the file is named if not)."""
    for spec in specs:
        path = os.path.join(out_dir, f"{spec.name}.json")
        if not os.path.isfile(path):
            raise UsageError(f"--replot: {path!r} does not exist; run without --replot first")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"--replot: {path!r} is not valid JSON ({e}); regenerate it without --replot") from None
        if not isinstance(data, dict):
            raise UsageError(f"--replot: {path!r} must hold a JSON object, got {type(data).__name__}; "
                             "regenerate it without --replot")


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
    specs = registry.select(only)  # unknown names fail before any work
    check_out_dir(args.out, "--out")
    if args.replot:
        _check_replot_files(args.out, specs)
    start = time.perf_counter()
    done = []

    def log(msg):
        if msg.endswith(".json") and ": wrote " in msg:
            done.append(msg.split(":", 1)[0])
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    try:
        with worker_pool(1 if args.replot or len(specs) < 2 else args.workers) as ex:
            written = registry.generate(args.out, quick=args.quick, only=only, log=log, replot=args.replot,
                                        executor=ex)
    except (KeyError, IndexError, TypeError, ValueError) as e:
        if not args.replot:
            raise
        failing = next((s.name for s in specs if s.name not in done), None)
        path = os.path.join(args.out, f"{failing}.json")
        what = f"lacks the key {e}" if isinstance(e, KeyError) else f"does not hold what {failing} draws ({e})"
        raise UsageError(f"--replot: {path!r} {what}; regenerate it without --replot") from None
    for path in written:
        print(path)
    return 0

"""``lpft-theory follow-up NAME``: one follow-up paper's claim checked in the linear model (issue 15).

Prints the experiment's title, the paper's claim and the verdict line (``--json``: one object ``{"name", "claim",
"agrees", "line", "data"}``). ``--report DIR`` (checked before any work) writes ``followup_<name>.png/.pdf/.json``
and, where the simulation disagrees with the claim, the problem of the case as ``<npz_name>.npz``. NAME is one of
:data:`lpft_theory.followup.NAMES`, with '-' or '_' (``early-lp`` or ``early_lp``); ``--list`` lists them.
"""

from __future__ import annotations

import json
import os
import sys

from .common import UsageError, check_out_dir, int_arg


def register(sub) -> None:
    p = sub.add_parser("follow-up", help="check one follow-up paper's claim (early-lp, head-norm, surgical, ...)",
                       description="Run one follow-up experiment (issue 15) and print whether the simulation agrees "
                       "with the paper's claim.",
                       epilog="Errors: one line on stderr, exit code 2 (an unknown NAME included); --report is "
                       "checked before any work.")
    p.add_argument("name", nargs="?", metavar="NAME", help="the experiment: " + ", ".join(_names()))
    p.add_argument("--list", action="store_true", help="list the experiments (NAME, title) and exit")
    p.add_argument("--quick", action="store_true", help="fewer seeds and grid points (seconds, for tests and CI)")
    p.add_argument("--seed", type=int_arg(0), default=0, metavar="N", help="first seed (default 0; each experiment "
                   "uses N, N+1, ...)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text")
    p.add_argument("--report", metavar="DIR", help="write followup_<name>.png/.pdf/.json (and the case's .npz) in DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _names():
    from ..followup import NAMES

    return [n.replace("_", "-") for n in NAMES]


def run(args) -> int:
    from .. import followup

    if args.list:
        if args.name is not None:
            raise UsageError("follow-up --list takes no NAME")
        for name in followup.NAMES:
            title = followup.get(name).TITLE
            print(f"{name.replace('_', '-'):12s} {title}")
        return 0
    if args.name is None:
        raise UsageError(f"follow-up: give a NAME ({', '.join(_names())}) or --list")
    key = str(args.name).replace("-", "_")
    if key not in followup.NAMES:
        raise UsageError(f"follow-up: unknown NAME {args.name!r}; choose one of {', '.join(_names())}")
    if args.report is not None:
        check_out_dir(args.report, "--report")
    mod = followup.get(key)
    data = mod.run(quick=args.quick, seed=args.seed, progress=not args.no_progress)
    from ..figures import writer

    data = writer.roundtrip(dict(data, figure=f"followup_{key}", quick=bool(args.quick)))
    v = mod.verdict(data)
    if args.report is not None:
        _write_report(mod, key, data, args.report)
    if args.json:
        print(json.dumps(dict(name=mod.NAME, claim=mod.CLAIM, agrees=v["agrees"], line=v["line"], data=data),
                         allow_nan=False))
    else:
        print(mod.TITLE)
        print(f"claim: {mod.CLAIM}")
        print(f"agrees: {v['agrees']}: {v['line']}")
        if data.get("case"):
            print(f"case: {data['case'].get('npz_name')} ({data['case'].get('why', '')})")
    return 0


def _write_report(mod, key, data, out_dir) -> None:
    from ..figures import plots, writer

    with plots.style():
        paths = writer.write_figure(mod.plot(data), data, out_dir, f"followup_{key}")
    case = data.get("case")
    if case:
        problem = mod.case_problem(data)
        if problem is not None:
            path = os.path.join(out_dir, f"{case['npz_name']}.npz")
            problem.save(path)
            paths.append(path)
    for path in paths:
        print(path, file=sys.stderr)

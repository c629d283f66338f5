"""``lpft-theory reproduce``: the project's main job, in three steps.

1. The LP / FT / LP-FT comparison on one random problem with good features (a table).
2. Every figure (``lpft-theory figures``) into ``--figures`` (default ``figures/``).
3. Every Section 3 statement checked by simulation (``lpft-theory claims``), printed and
   written to ``--report`` (default ``results/``) as ``claims.md`` and ``claims.json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

from ..compare import compare_methods, format_table, summary_ratios
from ..atomic import write_text
from ..problem import Problem

DEFAULT_PROBLEM = dict(seed=0, d=100, k=4, m=20, n=40, eps=0.05)


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="the main job: comparison table, every figure, every claim checked")
    p.add_argument("--quick", action="store_true", help="smaller sizes everywhere (for CI; about two minutes)")
    p.add_argument("--figures", default="figures", metavar="DIR", help="figure folder (default: figures)")
    p.add_argument("--report", default="results", metavar="DIR", help="folder for claims.md/claims.json (default: results)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..theory import claims
    from ..figures import registry

    for flag, path in (("--figures", args.figures), ("--report", args.report)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"{flag}: {path!r} exists and is not a folder")
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    spec = dict(DEFAULT_PROBLEM, d=40, m=10, n=20) if args.quick else DEFAULT_PROBLEM
    print("== 1. LP vs FT vs LP-FT on Problem.random(" + ", ".join(f"{k}={v}" for k, v in spec.items()) + ")")
    print("losses: train = ||X B^T v - y||^2, ID-subspace = ||P_S e||^2, OOD = e^T Sigma e (Sigma = I), e = B^T v - w*")
    rows = compare_methods(Problem.random(**spec), times=(0.0, 1.0, 10.0, 100.0, math.inf))
    print(format_table(rows))
    s = summary_ratios(rows)["final_ood"]
    print(f"OOD loss at convergence: LP {s['lp']:.3e}, FT {s['ft']:.3e}, LP-FT {s['lpft']:.3e}\n", flush=True)

    print(f"== 2. Figures -> {args.figures}/", flush=True)
    for path in registry.generate(args.figures, quick=args.quick, log=log):
        print(path)

    print("\n== 3. The paper's Section 3 statements, checked by simulation", flush=True)
    claim_rows = claims.run_claims(quick=args.quick)
    table = claims.format_claims_table(claim_rows)
    print(table)
    os.makedirs(args.report, exist_ok=True)
    write_text(os.path.join(args.report, "claims.md"), table + "\n")
    write_text(os.path.join(args.report, "claims.json"),
               json.dumps({"quick": bool(args.quick), "claims": claim_rows}, allow_nan=False, default=float, indent=1))
    print(f"\nwrote {args.report}/claims.md and {args.report}/claims.json; total {time.perf_counter() - start:.0f} s")
    return 0

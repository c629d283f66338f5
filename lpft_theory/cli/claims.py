"""``lpft-theory claims``: every statement of the paper's Section 3, checked by simulation, as a table."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("claims", help="check every Section 3 statement by simulation and print the verdicts")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON object {\"claims\": [...]}")
    p.add_argument("--quick", action="store_true", help="few instances per statement (for CI, ~40 s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..theory.claims import format_claims_table, run_claims

    rows = run_claims(quick=args.quick)
    if args.json:
        print(json.dumps({"quick": bool(args.quick), "claims": rows}, allow_nan=False, default=float))
    else:
        print(format_claims_table(rows))
    return 0

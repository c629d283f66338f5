"""``lpft-theory reproduce``: the project's main job.

Currently: the default LP / FT / LP-FT comparison on one random problem with good
features, printed as a table.
"""

from __future__ import annotations

import math

from ..compare import compare_methods, format_table, summary_ratios
from ..problem import Problem

DEFAULT_PROBLEM = dict(seed=0, d=100, k=4, m=20, n=40, eps=0.05)


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="run the main job: the default LP / FT / LP-FT comparison")
    p.add_argument("--quick", action="store_true", help="smaller sizes (for CI)")
    p.set_defaults(func=run)


def run(args) -> int:
    spec = dict(DEFAULT_PROBLEM, d=40, m=10, n=20) if args.quick else DEFAULT_PROBLEM
    problem = Problem.random(**spec)
    print("LP vs FT vs LP-FT on Problem.random(" + ", ".join(f"{k}={v}" for k, v in spec.items()) + ")")
    print("losses: train = ||X B^T v - y||^2, ID-subspace = ||P_S e||^2, OOD = e^T Sigma e (Sigma = I), e = B^T v - w*")
    rows = compare_methods(problem, times=(0.0, 1.0, 10.0, 100.0, math.inf))
    print(format_table(rows))
    s = summary_ratios(rows)["final_ood"]
    print(f"\nOOD loss at convergence: LP {s['lp']:.3e}, FT {s['ft']:.3e}, LP-FT {s['lpft']:.3e}")
    return 0

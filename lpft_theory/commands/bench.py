"""``lpft-theory bench [--quick]``: run ``benchmarks/bench_flow.py`` (scipy vs lpft_theory, FT flow).

The benchmark code lives in ``benchmarks/`` of the source checkout (performance code is
kept out of the library); this command loads it from there. See BENCHMARKS.md.
"""

from __future__ import annotations

import importlib.util
import os


def _bench_module():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "benchmarks", "bench_flow.py")
    if not os.path.exists(path):
        raise ValueError(f"bench: {path} not found; the benchmark needs a source checkout (pip install -e .)")
    spec = importlib.util.spec_from_file_location("lpft_theory_bench_flow", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the FT flow against scipy solve_ivp (writes bench_flow.json/.md)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmark runs (ratios not meaningful)")
    p.add_argument("--out", default="benchmarks/results", metavar="DIR", help="output folder (default benchmarks/results)")
    p.add_argument("--sections", default="scipy,d,lockstep,gpu", help="comma list of scipy,d,lockstep,gpu")
    p.add_argument("--gpu-smoke", action="store_true", help="without a GPU, run the GPU code path on CPU at tiny size")
    p.add_argument("--gpu-max-batch", type=int, default=10**6, help="largest GPU batch (default 1e6)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.gpu_max_batch < 1:
        raise ValueError(f"--gpu-max-batch must be >= 1, got {args.gpu_max_batch}")
    _bench_module().run(args)
    return 0

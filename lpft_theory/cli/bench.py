"""``lpft-theory bench [--quick]``: the benchmark of :mod:`lpft_theory.scale.bench` (scipy vs lpft_theory). See BENCHMARKS.md."""

from __future__ import annotations

from ..scale import bench


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
    bench.run(args)
    return 0

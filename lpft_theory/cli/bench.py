"""``lpft-theory bench [--quick]``: the benchmark of :mod:`lpft_theory.scale.bench` (scipy vs lpft_theory). See BENCHMARKS.md."""

from __future__ import annotations

from .common import check_out_dir, int_arg

SECTIONS = ("scipy", "d", "lockstep", "gpu")


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the FT flow against scipy solve_ivp (writes bench_flow.json/.md)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmark runs (ratios not meaningful)")
    p.add_argument("--out", default="benchmarks/results", metavar="DIR",
                   help="output folder (default benchmarks/results; checked before any work, created if missing)")
    p.add_argument("--sections", default="scipy,d,lockstep,gpu", help="comma list of scipy,d,lockstep,gpu")
    p.add_argument("--gpu-smoke", action="store_true", help="without a GPU, run the GPU code path on CPU at tiny size")
    p.add_argument("--gpu-max-batch", type=int_arg(1), default=10**6, help="largest GPU batch (default 1e6)")
    from ..scale.bench import add_d_arguments

    add_d_arguments(p, int_arg(1))  # --d-dims, --d-max-problems (the d section)
    p.set_defaults(func=run)


def run(args) -> int:
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sorted(sections - set(SECTIONS))
    if unknown or not sections:
        raise ValueError(f"--sections: unknown section(s) {unknown}; allowed {','.join(SECTIONS)}" if unknown else
                         f"--sections: none given; allowed {','.join(SECTIONS)}")
    from ..scale import bench

    bench.parse_dims(args.d_dims)  # bad --d-dims: exit 2 before any work
    check_out_dir(args.out, "--out")

    bench.run(args)
    return 0

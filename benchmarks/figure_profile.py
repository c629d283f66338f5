"""Where the time of ``lpft-theory figures`` goes, figure by figure, in one process.

For each figure: the wall time of its computation (``spec.compute``), and of it the time JAX spent tracing,
lowering to MLIR and in XLA's backend compilation (which includes reading a kernel back from the persistent
cache), from JAX's monitoring events; then the time to draw it and to render its PNG and PDF (into memory).
The command line's set-up is reproduced: float64, ``EQX_ON_ERROR=nan`` unless set, and the persistent
compilation cache (``$LPFT_THEORY_CACHE`` or the default, :mod:`lpft_theory._cache`); run it twice to see the
warm numbers.

Usage::

    python benchmarks/figure_profile.py [--only NAME,NAME] [--quick] [--out FILE.json]

Nothing here is a test: the numbers depend on the machine and its load, which are recorded with them.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EVENTS = dict(trace="/jax/core/compile/jaxpr_trace_duration", lower="/jax/core/compile/jaxpr_to_mlir_module_duration",
               backend="/jax/core/compile/backend_compile_duration")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None, help="comma-separated figure names (default: every figure)")
    p.add_argument("--quick", action="store_true", help="the figures' quick sizes")
    p.add_argument("--out", default=None, help="also write the rows to this JSON file")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    sys.path.insert(0, ROOT)
    from lpft_theory import _cache

    if hasattr(_cache, "prepare_environment"):  # absent in commits before it existed: profile them as they were
        _cache.prepare_environment()
    enable_compilation_cache = _cache.enable_compilation_cache
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = enable_compilation_cache()
    from lpft_theory.figures import registry

    names = list(registry.FIGURES) if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry.FIGURES]
    if unknown or not names:
        print(f"figure_profile: --only: unknown figure {unknown[0] if unknown else '(none given)'!r}; choose from "
              f"{', '.join(registry.FIGURES)}", file=sys.stderr)
        return 2
    events = collections.Counter()
    jax.monitoring.register_event_duration_secs_listener(lambda name, dur, **kw: events.update({name: dur}))
    rows = []
    for name in names:
        spec = registry.FIGURES[name]
        events.clear()
        t0 = time.perf_counter()
        data = registry._compute(spec, args.quick)
        t1 = time.perf_counter()
        fig = spec.plot(data)
        t2 = time.perf_counter()
        fig.savefig(io.BytesIO(), format="png", dpi=150)
        fig.savefig(io.BytesIO(), format="pdf")
        t3 = time.perf_counter()
        row = dict(figure=name, compute_s=t1 - t0, **{f"{k}_s": events.get(v, 0.0) for k, v in _EVENTS.items()},
                   plot_s=t2 - t1, render_s=t3 - t2)
        rows.append(row)
        print(f"{name:22s} compute {row['compute_s']:6.2f} s (trace {row['trace_s']:5.2f}, lower {row['lower_s']:5.2f}, "
              f"backend {row['backend_s']:5.2f}); plot {row['plot_s']:5.2f}, PNG+PDF {row['render_s']:5.2f}", flush=True)
    total = {k: sum(r[k] for r in rows) for k in rows[0] if k.endswith("_s")}
    print("total                  " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in total.items()))
    if args.out:
        try:
            load = os.getloadavg()
        except OSError:
            load = None
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(dict(command="python benchmarks/figure_profile.py " + " ".join(argv if argv is not None else
                                                                                  sys.argv[1:]),
                           quick=bool(args.quick), cache=cache, eqx_on_error=os.environ.get("EQX_ON_ERROR"),
                           python=platform.python_version(), jax=jax.__version__, machine=platform.processor() or
                           platform.machine(), cpus=os.cpu_count(), load_average=load, rows=rows, total=total), f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

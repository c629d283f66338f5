"""Where the explicit FT solve spends its time, and what the fused Tsit5 loop changes (BENCHMARKS.md, fourth pass).

Three measurements, one process, every number written to ``OUT/fused_profile.json`` and ``OUT/fused_profile.md``:

(a) **Step control and overhead.** N reduced FT problems (``Problem.random(seed=i, d, k=8, m=32, n=64,
    eps=0.1)``), t ∈ [0, T], rtol 1e-8, atol 1e-10, one jitted solve per problem (warm): diffrax's Tsit5 with its
    default integral controller, the same with a PI controller (pcoeff 0.4, icoeff 0.3), and
    ``solver="tsit5_fused"``. Accepted and rejected steps, time, µs per step, and the max relative error against
    scipy DOP853 at rtol 1e-12 on the reduced flow (``lpft_theory.scale.bench.scipy_reduced``, the bench's scipy
    side, which uses no package flow code).
(b) **Save-time density.** 8 problems (d = 200) on t ∈ [0, 5] with 11, 201 and 2001 save times through
    ``simulate_batch``: diffrax Tsit5 against the fused loop (time, steps, max difference of v).
(c) **Group size.** N problems through ``simulate_batch`` with group sizes 1, 2, 4, 8, 16, 32, both solvers.

Usage::

    python benchmarks/fused_profile.py --out benchmarks/results/fused_profile
    python benchmarks/fused_profile.py --tiny --out /tmp/fp     # seconds: checks the script, numbers not meaningful

No timing is asserted anywhere; ``tests/benchmarks/test_fused_profile.py`` runs ``--tiny`` and checks keys and errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def _now():
    return time.perf_counter()


def _best(fn, reps):
    out, best = None, float("inf")
    for _ in range(reps):
        t0 = _now()
        out = fn()
        best = min(best, _now() - t0)
    return out, best


def step_control(N, d, T, reps, log):
    import diffrax
    import jax
    import jax.numpy as jnp

    from lpft_theory import Problem, reduce
    from lpft_theory.flows import ft_field
    from lpft_theory.integrate import solve_at
    from lpft_theory.scale.bench import scipy_reduced

    rps = [reduce(Problem.random(seed=i, d=d, k=8, m=32, n=64, eps=0.1)) for i in range(N)]
    refs = [scipy_reduced(*(np.asarray(x) for x in (r.flow.G, r.flow.a_star, r.v0, r.B_S0)), T, 1e-12, 1e-14)[:2]
            for r in rps]
    rtol, atol = 1e-8, 1e-10

    def diffrax_solver(pcoeff, icoeff):
        @jax.jit
        def solve(flow, y0):
            ctrl = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=pcoeff, icoeff=icoeff)
            sol = diffrax.diffeqsolve(diffrax.ODETerm(ft_field), diffrax.Tsit5(), 0.0, T, None, y0, args=flow,
                                      saveat=diffrax.SaveAt(t1=True), stepsize_controller=ctrl, max_steps=2**20,
                                      adjoint=diffrax.ForwardMode())
            return sol.ys, sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"]

        return lambda r: solve(r.flow, (r.v0, r.B_S0))

    def fused(r):
        ys, steps, _ = solve_at(ft_field, r.flow, (r.v0, r.B_S0), jnp.asarray([T]), jnp.asarray(rtol),
                                jnp.asarray(atol), solver="tsit5_fused", max_steps=2**20)
        return ys, steps, None

    rows = []
    for name, one in (("diffrax Tsit5, integral controller (default)", diffrax_solver(0.0, 1.0)),
                      ("diffrax Tsit5, PI controller (pcoeff 0.4, icoeff 0.3)", diffrax_solver(0.4, 0.3)),
                      ("tsit5_fused", fused)):
        jax.block_until_ready(one(rps[0]))  # compile

        def run_all():
            outs = [one(r) for r in rps]
            jax.block_until_ready(outs)
            return outs

        outs, t = _best(run_all, reps)
        err = 0.0
        for (ys, _, _), (v_ref, B_ref) in zip(outs, refs):
            v, B = np.asarray(ys[0][-1]), np.asarray(ys[1][-1])
            err = max(err, float(np.sqrt((np.sum((v - v_ref) ** 2) + np.sum((B - B_ref) ** 2))
                                         / (np.sum(v_ref**2) + np.sum(B_ref**2)))))
        if outs[0][2] is None:  # the fused loop counts accepted + rejected together
            steps = int(sum(int(o[1]) for o in outs))
            acc = rej = None
        else:
            acc = int(sum(int(o[1]) for o in outs))
            rej = int(sum(int(o[2]) for o in outs))
            steps = acc + rej
        row = dict(side=name, time_s=t, steps=steps, accepted=acc, rejected=rej, us_per_step=1e6 * t / steps,
                   max_rel_err=err)
        rows.append(row)
        log(f"  (a) {name}: {t:.3f} s, {steps} steps (rejected {rej}), {row['us_per_step']:.1f} us/step, err {err:.1e}")
    return dict(N=N, d=d, T=T, rtol=rtol, atol=atol, rows=rows)


def save_density(N, d, counts, reps, log):
    import jax

    from lpft_theory import Problem
    from lpft_theory.scale.batch import simulate_batch

    problems = [Problem.random(seed=i, d=d, k=8, m=32, n=64, eps=0.1) for i in range(N)]
    rows = []
    for count in counts:
        times = np.linspace(0.0, 5.0, count)
        ref = None
        for solver in ("tsit5", "tsit5_fused"):
            run = lambda: jax.block_until_ready(simulate_batch(problems, "ft", times, solver=solver, rtol=1e-8,  # noqa: E731
                                                               atol=1e-10))
            run()
            bt, t = _best(run, reps)
            v = np.asarray(bt.v)
            ref = v if ref is None else ref
            rows.append(dict(save_times=count, solver=solver, time_s=t, steps=int(np.sum(bt.num_steps)),
                             max_abs_diff_v_vs_tsit5=float(np.max(np.abs(v - ref)))))
            log(f"  (b) {count} save times, {solver}: {t:.3f} s, {rows[-1]['steps']} steps")
    return dict(N=N, d=d, T=5.0, rows=rows)


def group_sizes(N, d, sizes, reps, log):
    import jax
    import jax.numpy as jnp

    from lpft_theory import Problem, reduce
    from lpft_theory.scale.batch import simulate_batch

    rp = jax.tree_util.tree_map(lambda *x: jnp.stack(x),
                                *[reduce(Problem.random(seed=i, d=d, k=8, m=32, n=64, eps=0.1)) for i in range(N)])
    rows = []
    for solver in ("tsit5_fused", "tsit5"):
        for g in sizes:
            run = lambda: jax.block_until_ready(simulate_batch(rp, "ft", [1.0], solver=solver, rtol=1e-8,  # noqa: E731
                                                               atol=1e-10, group_size=g))
            run()
            bt, t = _best(run, reps)
            rows.append(dict(solver=solver, group_size=g, time_s=t, waste=float(bt.info["work"]["waste"])))
            log(f"  (c) {solver} groups of {g}: {t:.3f} s, waste {rows[-1]['waste']:.0%}")
    return dict(N=N, d=d, T=1.0, rows=rows)


def markdown(res) -> str:
    env = res["environment"]
    L = [f"# fused_profile results ({env['date_utc']})\n", f"Command: `{env['command']}`  ",
         f"Device: {env['cpu']} ({env['cpu_count']} CPUs, backend {env['backend']}); versions: python {env['python']}, jax {env['jax']}, diffrax {env['diffrax']}  ",
         f"Load average at start: {env['load_average']}\n"]
    a = res["step_control"]
    L += [f"## (a) Step control and overhead (N={a['N']}, d={a['d']}, t∈[0,{a['T']:g}], rtol {a['rtol']:g})\n",
          "| side | time (s) | steps | rejected | µs/step | max rel. error vs scipy 1e-12 |", "|---|---|---|---|---|---|"]
    L += [f"| {r['side']} | {r['time_s']:.3f} | {r['steps']} | {r['rejected'] if r['rejected'] is not None else 'n/a'} "
          f"| {r['us_per_step']:.1f} | {r['max_rel_err']:.1e} |" for r in a["rows"]]
    b = res["save_density"]
    L += [f"\n## (b) Save-time density (N={b['N']}, d={b['d']}, t∈[0,5])\n",
          "| save times | solver | time (s) | steps | max abs diff of v vs tsit5 |", "|---|---|---|---|---|"]
    L += [f"| {r['save_times']} | {r['solver']} | {r['time_s']:.3f} | {r['steps']} | {r['max_abs_diff_v_vs_tsit5']:.1e} |"
          for r in b["rows"]]
    c = res["group_sizes"]
    L += [f"\n## (c) Group size (N={c['N']}, d={c['d']}, t∈[0,1])\n", "| solver | group size | time (s) | waste |",
          "|---|---|---|---|"]
    L += [f"| {r['solver']} | {r['group_size']} | {r['time_s']:.3f} | {r['waste']:.0%} |" for r in c["rows"]]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="fused_profile.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "fused_profile"), metavar="DIR",
                   help="output folder for fused_profile.json and .md (default benchmarks/results/fused_profile)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (seconds): checks the script, not a measurement")
    args = p.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    from lpft_theory.atomic import write_text
    from lpft_theory.scale.bench import environment

    log = lambda s: print(s, flush=True)  # noqa: E731
    env = environment()
    env["command"] = " ".join(["python", "benchmarks/fused_profile.py"] + list(sys.argv[1:] if argv is None else argv))
    if args.tiny:
        res = dict(step_control=step_control(2, 40, 0.2, 1, log), save_density=save_density(2, 40, (3, 21), 1, log),
                   group_sizes=group_sizes(4, 40, (1, 2, 4), 1, log))
    else:
        res = dict(step_control=step_control(16, 1000, 1.0, 3, log),
                   save_density=save_density(8, 200, (11, 201, 2001), 3, log),
                   group_sizes=group_sizes(64, 1000, (1, 2, 4, 8, 16, 32), 3, log))
    res = dict(environment=env, tiny=bool(args.tiny), **res)
    os.makedirs(args.out, exist_ok=True)
    write_text(os.path.join(args.out, "fused_profile.json"), json.dumps(res, indent=1, default=float))
    write_text(os.path.join(args.out, "fused_profile.md"), markdown(res))
    log(f"wrote {os.path.join(args.out, 'fused_profile.json')} and fused_profile.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One prepared GPU run: FT-trajectory throughput vs a naive ``jax.vmap`` of diffrax, and a bound campaign.

Run on a GPU machine (the whole run stays under 10 minutes: ``--timeout-guard``)::

    python benchmarks/gpu_run.py --out benchmarks/results/gpu

and on CPU, as a check that it works (one to three minutes, most of it compiling; t ∈ [0, 0.3] only; not a GPU result)::

    python benchmarks/gpu_run.py --tiny --out /tmp/gpu_tiny

What it measures, in one process:

(a) **Trajectories.** For each size N (default 10⁴, 10⁵, 10⁶; ``--tiny``: 64, 128, 256), N reduced FT
    problems (k=8, m=32, n=64; :func:`lpft_theory.scale.bench.sample_reduced`, drawn on the device) are
    integrated on t ∈ [0, 50], Tsit5, rtol 1e-8, atol 1e-10, float64, final state saved:

    * **package**: the batched driver :func:`lpft_theory.integrate.integrate_batch` with the
      stiffness sort of :func:`lpft_theory.scale.batch.stiffness_estimate` and groups of ``--group-size``
      members (one compiled shape). Compilation is timed separately: the group shape is compiled ahead of
      time (``jax.jit(...).lower(...).compile()``, which fills the cache the run then uses) after
      ``jax.clear_caches()``, so every size pays its own compile. ``--solver tsit5_fused`` runs the
      package side with the fused Tsit5 loop (:mod:`lpft_theory._fused_rk`; 2.5–3× diffrax's Tsit5 per
      problem on CPU, not yet measured on a GPU); the naive side is always diffrax's Tsit5. On a GPU,
      run the script once per solver if the time allows.
    * **naive**: what a user would write: one ``jax.jit(jax.vmap(solve))`` over all N members, ``solve``
      one ``diffrax.diffeqsolve`` (same field, solver, PID tolerances, step budget; diffrax's default
      adjoint unless ``--naive-adjoint forward``), no grouping, no sorting. Run for N <= ``--naive-max``
      (default 10⁵, so it fits in memory); the ratio naive / package is reported at equal sizes.

    Both sides' final states are compared (max relative difference over all members), and three
    members per size (first, middle, last) are written to the JSON with their inputs, so that an
    independent scipy solve can check them (``tests/benchmarks/test_gpu_run.py`` does).

(b) **Bound campaign.** ``lpft_theory.theory.campaign.run_campaign(trials, seed=0, progress=False)``
    (default 10⁵ trials; ``--tiny``: 20), timed as a whole.

Targets printed at the end: 10⁶ trajectories in <= 60 s including compilation, and >= 5× the naive
vmap at the largest size both sides ran. ``--timeout-guard S`` (default 480): no new size, naive side
or campaign starts once S seconds have passed since the start; what was skipped is recorded.

Output: ``OUT/gpu_run.json`` (every number, the device, versions, date, load, command) and
``OUT/gpu_run.md`` (the tables). Nothing is timed in the tests; they check keys and accuracy only.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run as `python benchmarks/gpu_run.py` from a checkout
    sys.path.insert(0, REPO)

K, M, N_TRAIN, D_SAMPLE = 8, 32, 64, 1000  # the problem shape (d only enters the sampling of B_S0)
T_END, RTOL = 50.0, 1e-8
#: --tiny integrates to t = 0.3 only: on [0, 50] the stiffest members need ~10⁵ explicit steps (minutes on a CPU).
TINY_T_END = 0.3
ATOL = RTOL * 1e-2
SIZES = (10**4, 10**5, 10**6)
TINY_SIZES = (64, 128, 256)
TARGET_1E6_S = 60.0
TARGET_SPEEDUP = 5.0


def _now():
    return time.perf_counter()


def build_parser():
    p = argparse.ArgumentParser(prog="gpu_run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true",
                   help="tiny run (64/128/256 trajectories on t in [0, 0.3], group 32, campaign 20 trials): checks "
                   "the script on CPU")
    p.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "gpu"), metavar="DIR",
                   help="output folder for gpu_run.json and gpu_run.md (default benchmarks/results/gpu)")
    p.add_argument("--timeout-guard", type=float, default=480.0, metavar="S",
                   help="start no new size, naive side or campaign after S seconds (default 480)")
    p.add_argument("--sizes", default=None, metavar="LIST",
                   help="comma list of trajectory counts (default 1e4,1e5,1e6; --tiny: 64,128,256)")
    p.add_argument("--naive-max", type=float, default=None, metavar="N",
                   help="largest N for the naive vmap (default 1e5; --tiny: all)")
    p.add_argument("--naive-adjoint", choices=("default", "forward"), default="default",
                   help="adjoint of the naive diffeqsolve: diffrax's default (checkpointed) or ForwardMode")
    p.add_argument("--group-size", type=int, default=None, metavar="G",
                   help="members per compiled group of the package driver (default 32768; --tiny: 32)")
    p.add_argument("--solver", choices=("tsit5", "tsit5_fused"), default="tsit5",
                   help="solver of the package side: diffrax's Tsit5 (default) or the package's fused Tsit5 loop; the "
                   "naive side is always diffrax's Tsit5")
    p.add_argument("--campaign-trials", type=int, default=None, metavar="N",
                   help="trials of the bound campaign (default 1e5; --tiny: 20; 0 skips it)")
    return p


def _int_list(text, flag):
    try:
        vals = [int(float(x)) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"gpu_run.py: error: {flag}: expected a comma list of integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise SystemExit(f"gpu_run.py: error: {flag}: expected positive integers, got {text!r}")
    return vals


def environment() -> dict:
    import diffrax
    import jax
    import scipy

    dev = jax.devices()[0]
    return dict(
        date_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        device=getattr(dev, "device_kind", str(dev)),
        devices=[str(d) for d in jax.devices()],
        backend=jax.default_backend(),
        python=platform.python_version(),
        jax=jax.__version__,
        diffrax=diffrax.__version__,
        numpy=np.__version__,
        scipy=scipy.__version__,
        cpu_count=os.cpu_count(),
        load_average=list(os.getloadavg()),
        command=" ".join([os.path.basename(sys.executable)] + sys.argv),
        x64=bool(jax.config.jax_enable_x64),
    )


# --------------------------------------------------------------------------------------------------
# (a) trajectories


def naive_solver(T, rtol, atol, max_steps, adjoint="default"):
    """``jax.jit(jax.vmap(solve))`` with ``solve`` one plain ``diffrax.diffeqsolve`` of the reduced FT flow
    (v' = -2 B r, B' = -2 v rᵀ, r = G(Bᵀv - a)), as a user would write it: no grouping, no sorting."""
    import diffrax
    import jax
    import jax.numpy as jnp

    def field(t, y, args):
        G, a = args
        v, B = y
        r = G @ (B.T @ v - a)
        return (-2.0 * B @ r, -2.0 * jnp.outer(v, r))

    extra = {} if adjoint == "default" else dict(adjoint=diffrax.ForwardMode())

    def solve(G, a, v0, B0):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(field), diffrax.Tsit5(), t0=0.0, t1=T, dt0=None, y0=(v0, B0),
                                  args=(G, a), saveat=diffrax.SaveAt(t1=True),
                                  stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                                  max_steps=max_steps, throw=False, **extra)
        v, B = sol.ys
        return v[0], B[0], sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful

    return jax.jit(jax.vmap(solve))


def _rel_diff(v1, B1, v2, B2):
    """Max over members of ‖(v1, B1) − (v2, B2)‖ / ‖(v2, B2)‖ (on the device; returns a float)."""
    import jax.numpy as jnp

    num = jnp.sum((v1 - v2) ** 2, axis=1) + jnp.sum((B1 - B2) ** 2, axis=(1, 2))
    den = jnp.sum(v2**2, axis=1) + jnp.sum(B2**2, axis=(1, 2))
    return float(jnp.max(jnp.sqrt(num / den)))


def run_size(N, T_end, group_size, naive_max, naive_adjoint, deadline, t_start, log, tiny, solver="tsit5"):
    import jax
    import jax.numpy as jnp

    from lpft_theory.flows import ft_field
    from lpft_theory.integrate import DEFAULT_MAX_STEPS, batched_solve_at, integrate_batch, jit_cached
    from lpft_theory.reduced import FlowView
    from lpft_theory.scale.batch import stiffness_estimate
    from lpft_theory.scale.bench import sample_reduced

    row = dict(size=N)
    t0 = _now()
    G, a, v0, B0 = jax.block_until_ready(sample_reduced(jax.random.PRNGKey(N), N, K, M, N_TRAIN, D_SAMPLE))
    row["sample_s"] = _now() - t0

    # ---- package: integrate_batch, stiffness-sorted groups of one compiled shape
    gs = min(group_size, N)
    jax.clear_caches()  # every size pays its own compilation
    fn = jit_cached(batched_solve_at(ft_field, solver, DEFAULT_MAX_STEPS))
    rep = (jnp.asarray(np.asarray([T_end])), jnp.asarray(RTOL), jnp.asarray(ATOL))  # as integrate_batch builds it
    t0 = _now()
    fn.lower((FlowView(G[:gs], a[:gs], B0[:gs], v0[:gs]), (v0[:gs], B0[:gs])), rep).compile()
    compile_s = _now() - t0
    t0 = _now()
    order = np.argsort(stiffness_estimate(G, v0, B0), kind="stable")
    order_s = _now() - t0  # part of the run (first call: includes compiling the estimate for this N)
    (v, B), steps, _, work = integrate_batch(ft_field, FlowView(G, a, B0, v0), (v0, B0), [T_end], rtol=RTOL,
                                             atol=ATOL, solver=solver, order=order, group_size=gs)
    v, B = jax.block_until_ready((v[:, -1], B[:, -1]))
    run_s = _now() - t0
    pkg = dict(solver=solver, group_size=gs, groups=work["groups"], compile_s=compile_s, run_s=run_s, sort_s=order_s,
               total_incl_compile_s=compile_s + run_s, traj_per_s=N / run_s,
               member_steps=int(work["member_steps"]), lockstep_steps=int(work["lockstep_steps"]),
               waste=float(work["waste"]), steps_min=int(np.min(steps)), steps_median=float(np.median(steps)),
               steps_max=int(np.max(steps)))
    if tiny and N == min(TINY_SIZES):  # --tiny: a second run shows the run used the ahead-of-time compilation
        t1 = _now()
        jax.block_until_ready(integrate_batch(ft_field, FlowView(G, a, B0, v0), (v0, B0), [T_end], rtol=RTOL,
                                              atol=ATOL, solver=solver, order=order, group_size=gs)[0])
        pkg["rerun_s"] = _now() - t1
    row["package"] = pkg
    log(f"  N={N:>8} package: compile {compile_s:.1f} s, run {run_s:.2f} s ({N / run_s:.0f} traj/s), "
        f"{work['groups']} groups of {gs}, waste {work['waste']:.1%}")

    idx = sorted({0, N // 2, N - 1})
    check = [dict(index=int(i), G=np.asarray(G[i]).tolist(), a=np.asarray(a[i]).tolist(),
                  v0=np.asarray(v0[i]).tolist(), B0=np.asarray(B0[i]).tolist(),
                  v_package=np.asarray(v[i]).tolist(), B_package=np.asarray(B[i]).tolist(),
                  steps_package=int(steps[i])) for i in idx]

    # ---- naive: one jit(vmap(diffeqsolve)) over all N
    row["naive"] = None
    if N > naive_max:
        row["naive_skipped"] = f"N > --naive-max {naive_max:g}"
    elif _now() - t_start > deadline:
        row["naive_skipped"] = "time guard"
    else:
        jax.clear_caches()
        f = naive_solver(T_end, RTOL, ATOL, DEFAULT_MAX_STEPS, naive_adjoint)
        t0 = _now()
        compiled = f.lower(G, a, v0, B0).compile()
        n_compile = _now() - t0
        t0 = _now()
        vn, Bn, sn, okn = jax.block_until_ready(compiled(G, a, v0, B0))
        n_run = _now() - t0
        sn = np.asarray(sn)
        row["naive"] = dict(compile_s=n_compile, run_s=n_run, total_incl_compile_s=n_compile + n_run,
                            traj_per_s=N / n_run, adjoint=naive_adjoint, all_successful=bool(np.all(np.asarray(okn))),
                            member_steps=int(sn.sum()), lockstep_steps=int(N * sn.max()),
                            waste=float(1 - sn.sum() / (N * sn.max())))
        row["ratio_run"] = n_run / run_s
        row["ratio_incl_compile"] = (n_compile + n_run) / (compile_s + run_s)
        row["max_rel_diff_package_vs_naive"] = _rel_diff(v, B, vn, Bn)
        for c in check:
            c["v_naive"] = np.asarray(vn[c["index"]]).tolist()
            c["B_naive"] = np.asarray(Bn[c["index"]]).tolist()
        log(f"  N={N:>8} naive:   compile {n_compile:.1f} s, run {n_run:.2f} s ({N / n_run:.0f} traj/s); "
            f"naive/package {row['ratio_run']:.1f}x (run), {row['ratio_incl_compile']:.1f}x (with compile); "
            f"max rel diff {row['max_rel_diff_package_vs_naive']:.1e}")
        del vn, Bn
    row["check_members"] = check
    return row


# --------------------------------------------------------------------------------------------------
# (b) campaign


def run_campaign_timed(trials, log):
    from lpft_theory.theory.campaign import run_campaign

    t0 = _now()
    res = run_campaign(trials, seed=0, progress=False)
    elapsed = _now() - t0
    rows = res.get("rows", []) if isinstance(res, dict) else []
    out = dict(trials=trials, elapsed_s=elapsed, trials_per_s=trials / elapsed, rows=len(rows),
               reported_elapsed_s=res.get("elapsed_s") if isinstance(res, dict) else None)
    log(f"  campaign: {trials} trials in {elapsed:.1f} s ({trials / elapsed:.1f} trials/s), {len(rows)} rows")
    return out


# --------------------------------------------------------------------------------------------------
# report


def targets(res) -> dict:
    rows = {r["size"]: r for r in res["trajectories"] if "package" in r}
    out = {}
    big = rows.get(10**6)
    out["traj_1e6_incl_compile_s"] = None if big is None else big["package"]["total_incl_compile_s"]
    out["traj_1e6_within_60s"] = None if big is None else bool(big["package"]["total_incl_compile_s"] <= TARGET_1E6_S)
    both = [r for r in rows.values() if r.get("naive")]
    if both:
        top = max(both, key=lambda r: r["size"])
        out["speedup_size"] = top["size"]
        out["speedup_run"] = top["ratio_run"]
        out["speedup_incl_compile"] = top["ratio_incl_compile"]
        out["speedup_at_least_5x"] = bool(top["ratio_run"] >= TARGET_SPEEDUP)
    else:
        out.update(speedup_size=None, speedup_run=None, speedup_incl_compile=None, speedup_at_least_5x=None)
    return out


def markdown(res) -> str:
    env, cfg = res["environment"], res["config"]
    L = [f"# gpu_run results ({env['date_utc']})\n"]
    if env["backend"] != "gpu":
        L.append(f"**Not a GPU result**: backend {env['backend']} ({'--tiny check' if cfg['tiny'] else 'CPU'}).\n")
    L.append(f"Command: `{env['command']}`  ")
    L.append(f"Device: {env['device']} (backend {env['backend']}, {env['devices']})  ")
    L.append(f"Versions: python {env['python']}, jax {env['jax']}, diffrax {env['diffrax']}, numpy {env['numpy']}, "
             f"scipy {env['scipy']}  ")
    L.append(f"Load average at start: {env['load_average']}; whole run {res['elapsed_s']:.1f} s "
             f"(time guard {cfg['timeout_guard_s']:g} s)\n")
    L.append(f"## (a) FT trajectories (k={cfg['k']}, m={cfg['m']}, n={cfg['n']}, t∈[0,{cfg['T']:g}], Tsit5, "
             f"rtol {cfg['rtol']:g}, atol {cfg['atol']:g}, float64)\n")
    L.append(f"package = `integrate_batch` with solver `{cfg['solver']}`, stiffness-sorted groups of one compiled "
             f"shape; naive = one `jit(vmap(diffeqsolve))` of diffrax's Tsit5 over all N (adjoint: "
             f"{cfg['naive_adjoint']}).\n")
    L.append("| N | side | compile (s) | run (s) | total incl. compile (s) | traj/s | member-steps | waste | "
             "naive/package (run) | naive/package (incl. compile) | max rel. diff |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["trajectories"]:
        if "package" not in r:
            L.append(f"| {r['size']} | skipped ({r.get('skipped')}) | | | | | | | | | |")
            continue
        p = r["package"]
        L.append(f"| {r['size']} | package (groups of {p['group_size']}) | {p['compile_s']:.1f} | {p['run_s']:.2f} | "
                 f"{p['total_incl_compile_s']:.1f} | {p['traj_per_s']:.0f} | {p['member_steps']} | {p['waste']:.1%} |"
                 f" | | |")
        nv = r.get("naive")
        if nv:
            L.append(f"| {r['size']} | naive vmap | {nv['compile_s']:.1f} | {nv['run_s']:.2f} | "
                     f"{nv['total_incl_compile_s']:.1f} | {nv['traj_per_s']:.0f} | {nv['member_steps']} | "
                     f"{nv['waste']:.1%} | **{r['ratio_run']:.1f}×** | {r['ratio_incl_compile']:.1f}× | "
                     f"{r['max_rel_diff_package_vs_naive']:.1e} |")
        else:
            L.append(f"| {r['size']} | naive vmap: {r.get('naive_skipped')} | | | | | | | | | |")
    c = res.get("campaign")
    L.append("\n## (b) Bound campaign\n")
    if c and "elapsed_s" in c:
        L.append(f"`run_campaign({c['trials']}, seed=0, progress=False)`: **{c['elapsed_s']:.1f} s** "
                 f"({c['trials_per_s']:.1f} trials/s, {c['rows']} rows).\n")
    else:
        L.append(f"not run ({(c or {}).get('skipped', 'not requested')}).\n")
    t = res["targets"]
    L.append("## Targets\n")
    v = t["traj_1e6_incl_compile_s"]
    L.append(f"- 10⁶ trajectories <= {TARGET_1E6_S:g} s including compilation: "
             + ("not run" if v is None else f"{v:.1f} s, **{'met' if t['traj_1e6_within_60s'] else 'NOT met'}**"))
    if t["speedup_size"] is None:
        L.append(f"- >= {TARGET_SPEEDUP:g}× the naive vmap: no size ran on both sides")
    else:
        L.append(f"- >= {TARGET_SPEEDUP:g}× the naive vmap (N={t['speedup_size']}): {t['speedup_run']:.1f}× run, "
                 f"{t['speedup_incl_compile']:.1f}× with compilation, "
                 f"**{'met' if t['speedup_at_least_5x'] else 'NOT met'}**")
    if res["skipped"]:
        L.append(f"- skipped by the time guard or options: {', '.join(res['skipped'])}")
    L.append("")
    return "\n".join(L)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    t_start = _now()
    import jax

    jax.config.update("jax_enable_x64", True)
    tiny = bool(args.tiny)
    sizes = _int_list(args.sizes, "--sizes") if args.sizes else list(TINY_SIZES if tiny else SIZES)
    naive_max = float(args.naive_max) if args.naive_max is not None else (float("inf") if tiny else 1e5)
    group_size = int(args.group_size) if args.group_size else (32 if tiny else 2**15)
    trials = args.campaign_trials if args.campaign_trials is not None else (20 if tiny else 10**5)
    T_end = TINY_T_END if tiny else T_END
    if group_size < 1 or trials < 0 or not args.timeout_guard > 0:
        raise SystemExit("gpu_run.py: error: --group-size >= 1, --campaign-trials >= 0 and --timeout-guard > 0")
    os.makedirs(args.out, exist_ok=True)
    if not os.access(args.out, os.W_OK):
        raise SystemExit(f"gpu_run.py: error: --out {args.out!r} is not writable")
    from lpft_theory.atomic import write_text

    log = lambda s: print(s, flush=True)  # noqa: E731
    res = dict(environment=environment(),
               config=dict(tiny=tiny, sizes=sizes, k=K, m=M, n=N_TRAIN, d_sample=D_SAMPLE, T=T_end, rtol=RTOL,
                           atol=ATOL, solver=args.solver, naive_solver="tsit5", group_size=group_size,
                           naive_max=naive_max, naive_adjoint=args.naive_adjoint, campaign_trials=trials,
                           timeout_guard_s=args.timeout_guard),
               trajectories=[], campaign=None, skipped=[])
    log(f"gpu_run on {res['environment']['device']} (backend {res['environment']['backend']})")
    log("(a) trajectories")
    for N in sizes:
        if _now() - t_start > args.timeout_guard:
            res["trajectories"].append(dict(size=N, skipped="time guard"))
            res["skipped"].append(f"trajectories N={N}")
            log(f"  N={N}: skipped (time guard {args.timeout_guard:g} s passed)")
            continue
        row = run_size(N, T_end, group_size, naive_max, args.naive_adjoint, args.timeout_guard, t_start, log, tiny,
                       solver=args.solver)
        if row.get("naive_skipped") == "time guard":
            res["skipped"].append(f"naive N={N}")
        res["trajectories"].append(row)
    log("(b) bound campaign")
    if trials == 0:
        res["campaign"] = dict(skipped="--campaign-trials 0")
    elif _now() - t_start > args.timeout_guard:
        res["campaign"] = dict(skipped="time guard")
        res["skipped"].append("campaign")
        log("  skipped (time guard)")
    else:
        res["campaign"] = run_campaign_timed(trials, log)
    res["elapsed_s"] = _now() - t_start
    res["targets"] = targets(res)
    write_text(os.path.join(args.out, "gpu_run.json"), json.dumps(res, indent=1, default=float))
    write_text(os.path.join(args.out, "gpu_run.md"), markdown(res))
    t = res["targets"]
    log("targets:")
    v = t["traj_1e6_incl_compile_s"]
    log(f"  1e6 trajectories incl. compile <= {TARGET_1E6_S:g} s: "
        + ("not run" if v is None else f"{v:.1f} s -> {'MET' if t['traj_1e6_within_60s'] else 'NOT MET'}"))
    log(f"  >= {TARGET_SPEEDUP:g}x naive vmap: " + ("no size on both sides" if t["speedup_size"] is None else
        f"{t['speedup_run']:.1f}x at N={t['speedup_size']} -> {'MET' if t['speedup_at_least_5x'] else 'NOT MET'}"))
    log(f"wrote {os.path.join(args.out, 'gpu_run.json')} and gpu_run.md ({res['elapsed_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

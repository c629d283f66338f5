"""Cost per campaign trial of the certified observer, by stiff solver, solve chunk size and vmapped batch size.

What the second pass of the issue "Fast where users wait" measured with ad-hoc scripts, made repeatable:
the first ``--trials`` trials of the seed-0 campaign (``campaign.sample_trial``) are screened exactly as the
campaign screens them (``campaign.observe_many`` at the screen's rtol 1e-7 / atol 1e-10, padded per K), once
per (solver, chunk, batch) setting and ``--reps`` times, in this one process, after a warm-up that compiles the
setting's kernels. The solvers are diffrax's Kvaerno5 (every accepted step saved, chunks of
``observe.CHUNK_STEPS``) and the package's Rodas4 loop ``rodas4_fused`` (streamed, chunks of
``observe.STREAM_CHUNK_STEPS``); ``--chunks`` sets the chunk of either. Also reported per setting: the largest
difference of the observed minima from the first setting, relative to max(1, |value|) (the settings change
the discretisation, not the flow), and how many solves did not reach the steady state. With ``--accuracy``
each solver's screen, and each solver at the re-check's rtol 1e-10, is compared with Kvaerno5 at rtol 1e-10
on all the trials, with the time per trial of the tight observation (the campaign docstring quotes these).

Usage (from the repository root; nothing else should run on the machine)::

    python benchmarks/observer_profile.py --trials 1024 --solvers kvaerno5,rodas4_fused --chunks 256 \\
        --batches 8,32 --reps 2 --accuracy --out benchmarks/results/observer_profile

Writes ``observer_profile.json`` and ``observer_profile.md`` into ``--out`` (machine, versions, load
averages, command). Nothing here is a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ints(text, flag):
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(_usage(f"{flag}: a comma list of positive integers, got {text!r}"))
    if not vals or min(vals) < 1:
        raise SystemExit(_usage(f"{flag}: a comma list of positive integers, got {text!r}"))
    return vals


def _usage(msg):
    print(f"observer_profile.py: {msg}", file=sys.stderr)
    return 2


def _versions():
    out = {"python": platform.python_version()}
    for mod in ("jax", "diffrax", "equinox", "numpy", "scipy"):
        out[mod] = __import__(mod).__version__
    return out


def profile(trials, chunks, batches, reps, accuracy=False, log=print, solvers=("kvaerno5",)) -> dict:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, ROOT)
    from lpft_theory.theory import campaign, observe

    grid = campaign.load_grid()
    problems, metas = [], []
    for i in range(trials):
        p, meta = campaign.sample_trial(campaign.trial_seed(0, i), grid)
        problems.append(p)
        metas.append(meta)
    m_by_k = campaign._m_by_k(grid)
    screen = dict(rtol=campaign.SCREEN_RTOL, atol=campaign.SCREEN_ATOL, m_by_k=m_by_k)
    rows, first = [], None
    saved_chunk = observe.CHUNK_STEPS, observe.STREAM_CHUNK_STEPS
    try:
        for solver, chunk in [(sv, ch) for sv in solvers for ch in chunks]:
            observe.CHUNK_STEPS = observe.STREAM_CHUNK_STEPS = chunk
            for bs in batches:
                t = time.perf_counter()
                campaign.observe_many(problems[: 3 * bs], batch_size=bs, solver=solver, **screen)  # compile
                warm = time.perf_counter() - t
                times = []
                for _ in range(reps):
                    t = time.perf_counter()
                    r = campaign.observe_many(problems, batch_size=bs, solver=solver, **screen)
                    times.append(time.perf_counter() - t)
                if first is None:
                    first = r
                diff = max(float(np.max(np.abs(r[k] - first[k]) / np.maximum(1.0, np.abs(first[k]))))
                           for k in ("min_identity", "min_sigma"))
                row = dict(solver=solver, chunk=chunk, batch=bs, warmup_s=warm, times_s=times,
                           ms_per_trial=1e3 * min(times) / trials, mean_steps=float(np.mean(r["steps"])),
                           unconverged=int(np.sum(~r["converged"])), max_rel_diff_vs_first=diff)
                rows.append(row)
                log(f"{solver}, chunk {chunk:5d}, batch {bs:3d}: {row['ms_per_trial']:.1f} ms per trial (best of {reps}), "
                    f"warm-up {warm:.1f} s, {row['unconverged']} unconverged, max rel diff vs first {diff:.1e}")
    finally:
        observe.CHUNK_STEPS, observe.STREAM_CHUNK_STEPS = saved_chunk
    out = dict(trials=trials, rows=rows)
    if accuracy:
        tight = dict(rtol=observe.RTOL, atol=observe.ATOL, m_by_k=m_by_k)
        ref = campaign.observe_many(problems, solver="kvaerno5", **tight)
        acc = []
        for solver in solvers:
            for what, kw in (("screen", screen), ("tight", tight)):
                campaign.observe_many(problems[:8], solver=solver, **kw)  # compile
                t = time.perf_counter()
                a = campaign.observe_many(problems, solver=solver, **kw)
                ms = 1e3 * (time.perf_counter() - t) / trials
                err = {key: float(np.max(np.abs(a[f"min_{key}"] - ref[f"min_{key}"])
                                         / np.maximum(1.0, np.abs(ref[f"min_{key}"])))) for key in ("identity", "sigma")}
                acc.append(dict(solver=solver, what=what, rtol=kw["rtol"], ms_per_trial=ms, max_rel_error=err,
                                same_where=float(np.mean(a["where_sigma"] == ref["where_sigma"]))))
                log(f"{solver} at rtol {kw['rtol']:g} vs kvaerno5 at rtol 1e-10 on {trials} trials: identity "
                    f"{err['identity']:.2e}, sigma {err['sigma']:.2e} (x max(1, |value|)); {ms:.1f} ms per trial")
        out["accuracy"] = dict(trials=trials, rows=acc, recheck_band=campaign.RECHECK_RTOL)
    return out


def markdown(res) -> str:
    L = [f"# Observer cost per campaign trial ({res['date']})", "",
         f"Command: `{res['command']}`  ", f"Machine: {res['machine']}; load average at start {res['load_average']}  ",
         "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()), "",
         f"{res['trials']} trials of the seed-0 campaign, screened at rtol 1e-7 (best of the repetitions).", "",
         "| solver | chunk (steps) | batch | ms per trial | mean steps | unconverged | max rel diff vs first row | "
         "warm-up (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        L.append(f"| {r.get('solver', 'kvaerno5')} | {r['chunk']} | {r['batch']} | {r['ms_per_trial']:.1f} | "
                 f"{r['mean_steps']:.0f} | {r['unconverged']} | {r['max_rel_diff_vs_first']:.1e} | {r['warmup_s']:.1f} |")
    if "accuracy" in res:
        a = res["accuracy"]
        L += ["", f"Against Kvaerno5 at rtol 1e-10 on the {a['trials']} trials (× max(1, |value|); re-check band "
              f"{a['recheck_band']:g}; time of one observation of all trials, batch 8):", "",
              "| solver | rtol | max rel diff, Σ = I | max rel diff, Σ | same `where` (Σ) | ms per trial |",
              "|---|---|---|---|---|---|"]
        for r in a["rows"]:
            L.append(f"| {r['solver']} | {r['rtol']:g} | {r['max_rel_error']['identity']:.2e} | "
                     f"{r['max_rel_error']['sigma']:.2e} | {r['same_where']:.3f} | {r['ms_per_trial']:.1f} |")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="observer_profile.py", description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=1024, help="first N trials of the seed-0 campaign (default 1024)")
    p.add_argument("--solvers", default="kvaerno5,rodas4_fused",
                   help="comma list of stiff solvers: kvaerno5, rodas4_fused (default both)")
    p.add_argument("--chunks", default="256", help="comma list of solve chunk sizes in steps (default 256)")
    p.add_argument("--batches", default="8,32", help="comma list of vmapped batch sizes (default 8,32)")
    p.add_argument("--reps", type=int, default=2, help="timed repetitions per setting (default 2)")
    p.add_argument("--accuracy", action="store_true",
                   help="also compare each solver, at the screen's and the re-check's rtol, with Kvaerno5 at rtol 1e-10")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "observer_profile"), help="output folder")
    args = p.parse_args(argv)
    if args.trials < 1:
        return _usage(f"--trials must be >= 1, got {args.trials}")
    if args.reps < 1:
        return _usage(f"--reps must be >= 1, got {args.reps}")
    chunks, batches = _ints(args.chunks, "--chunks"), _ints(args.batches, "--batches")
    solvers = [x.strip() for x in args.solvers.split(",") if x.strip()]
    bad = [x for x in solvers if x not in ("kvaerno5", "rodas4_fused")]
    if not solvers or bad:
        return _usage(f"--solvers: a comma list of kvaerno5, rodas4_fused; got {args.solvers!r}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        return _usage(f"--out: {args.out!r} exists and is not a folder")
    load = list(os.getloadavg())
    res = profile(args.trials, chunks, batches, args.reps, args.accuracy, solvers=solvers)
    res.update(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               command="python benchmarks/observer_profile.py " + " ".join(argv), load_average=load,
               machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", versions=_versions())
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "observer_profile.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "observer_profile.md"), "w") as f:
        f.write(markdown(res))
    print(f"wrote {os.path.join(args.out, 'observer_profile.json')} and observer_profile.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

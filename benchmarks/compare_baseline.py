"""Side-by-side timing of this tree against an earlier commit checked out beside it (issue "Fast where users wait").

Runs the same command line in both trees, one after the other on the same machine, and writes the wall
time, user CPU, peak memory, load average and versions of each run, plus what the two runs produced
compared with each other:

* ``campaign``: ``lpft-theory check-bound --trials N --seed 0 --report DIR --no-progress``; the verdict and
  applicability of every trial and statement are compared (``trials.csv`` of both reports), with the largest
  difference of the observed minima;
* ``reproduce``: ``lpft-theory reproduce`` in each tree (each writes its own ``figures/`` and ``results/``);
  figures are compared byte for byte by name and the claims tables line by line.

The new side runs with a fresh persistent compilation cache (cold: what a first run costs); ``--warm``
runs it a second time with that cache filled.

Usage (from the repository root, baseline checked out with ``git worktree add ../base 3df4af8``)::

    python benchmarks/compare_baseline.py --baseline ../base --what campaign,reproduce --trials 10000 \\
        --out benchmarks/results/vs_3df4af8

Nothing here is a test: the numbers depend on the machine and its load, which are recorded with them.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import filecmp
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(tree, *args):
    try:
        return subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def _versions():
    out = {"python": platform.python_version()}
    for mod in ("jax", "jaxlib", "diffrax", "equinox", "numpy", "scipy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing module is recorded, not fatal
            out[mod] = None
    return out


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        return f"{names[0]} x {len(names)}" if names else platform.processor()
    except OSError:
        return platform.processor()


def _run(tree, argv, env_extra, log_path):
    """Run ``python -m lpft_theory.cli ARGV`` in ``tree`` under /usr/bin/time -v; returns the measurements."""
    env = dict(os.environ, PYTHONPATH=tree, **env_extra)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cmd = [sys.executable, "-m", "lpft_theory.cli", *argv]
    timer = ["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    r = subprocess.run(timer + cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    with open(log_path, "w") as f:
        f.write(f"$ (cd {tree} && PYTHONPATH={tree} {' '.join(cmd)})\n# exit {r.returncode}\n\n## stdout\n{r.stdout}\n"
                f"## stderr\n{r.stderr}\n")

    def grab(pattern, cast=float):
        m = re.search(pattern, r.stderr)
        return cast(m.group(1)) if m else None

    return dict(command=" ".join(["lpft-theory", *argv]), tree=tree, commit=_git(tree, "rev-parse", "HEAD"),
                exit_code=r.returncode, wall_s=round(wall, 2), user_s=grab(r"User time \(seconds\): ([\d.]+)"),
                system_s=grab(r"System time \(seconds\): ([\d.]+)"),
                max_rss_mb=(grab(r"Maximum resident set size \(kbytes\): (\d+)", int) or 0) / 1024,
                load_before=[round(x, 2) for x in load0], load_after=[round(x, 2) for x in load1],
                log=os.path.relpath(log_path, ROOT))


def _trials_csv(path):
    with open(path) as f:
        return {r["trial"]: r for r in csv.DictReader(f)}


def compare_campaigns(a_dir, b_dir) -> dict:
    """Per trial and statement: holds/applies differences, and the largest |observed difference| / max(1, |obs|)."""
    a, b = _trials_csv(os.path.join(a_dir, "trials.csv")), _trials_csv(os.path.join(b_dir, "trials.csv"))
    cols = [c for c in next(iter(a.values())) if c.endswith((":holds", ":applies")) and c in next(iter(b.values()))]
    diffs, worst, worst_at = [], 0.0, None
    for t, ra in a.items():
        rb = b.get(t)
        if rb is None:
            diffs.append(dict(trial=t, what="missing in the new report"))
            continue
        for c in cols:
            if ra[c] != rb[c]:
                obs = c.rsplit(":", 1)[0] + ":observed"
                bnd = c.rsplit(":", 1)[0] + ":bound"
                diffs.append(dict(trial=t, column=c, baseline=ra[c], new=rb[c], observed_baseline=ra.get(obs),
                                  observed_new=rb.get(obs), bound=rb.get(bnd)))
        for c in (c for c in ra if c.endswith(":observed") and c in rb):
            if ra[c] and rb[c]:
                x, y = float(ra[c]), float(rb[c])
                e = abs(x - y) / max(1.0, abs(x))
                if e > worst:
                    worst, worst_at = e, (t, c, x, y)
    return dict(trials=len(a), compared_columns=cols, differences=diffs, n_differences=len(diffs),
                max_observed_difference=worst, max_observed_difference_at=worst_at)


def compare_reproduce(base_tree, new_tree) -> dict:
    fa, fb = os.path.join(base_tree, "figures"), os.path.join(new_tree, "figures")
    pa = {f for f in os.listdir(fa) if f.endswith(".png")}
    pb = {f for f in os.listdir(fb) if f.endswith(".png")}
    same = sorted(f for f in pa & pb if filecmp.cmp(os.path.join(fa, f), os.path.join(fb, f), shallow=False))
    differ = sorted(f for f in pa & pb if f not in same)
    out = dict(figures_identical=same, figures_differ=differ, only_baseline=sorted(pa - pb), only_new=sorted(pb - pa))
    ca, cb = os.path.join(base_tree, "results", "claims.md"), os.path.join(new_tree, "results", "claims.md")
    if os.path.exists(ca) and os.path.exists(cb):
        la, lb = open(ca).read().splitlines(), open(cb).read().splitlines()
        out["claims_lines_only_baseline"] = [ln for ln in la if ln not in lb]
        out["claims_lines_only_new"] = [ln for ln in lb if ln not in la]
    return out


def markdown(res) -> str:
    lines = [f"# {res['title']}", "", f"- date: {res['date']}", f"- machine: {res['cpu']}, {os.cpu_count()} cores",
             f"- versions: {', '.join(f'{k} {v}' for k, v in res['versions'].items())}",
             f"- baseline: {res['baseline_commit']} ({res['baseline_tree']}); new: {res['new_commit']}", "",
             "| what | side | wall (s) | user CPU (s) | peak RSS (MB) | load before | exit |", "|---|---|---|---|---|---|---|"]
    for what, runs in res["runs"].items():
        for side, r in runs.items():
            lines.append(f"| {what} | {side} | {r['wall_s']} | {r['user_s']} | {r['max_rss_mb']:.0f} | "
                         f"{r['load_before'][0]} | {r['exit_code']} |")
    lines.append("")
    for what, ratio in res["ratios"].items():
        lines.append(f"- **{what}**: baseline / new wall time = **{ratio:.2f}x**")
    for what, cmp in res["comparisons"].items():
        lines.append(f"- {what}: " + json.dumps({k: (v if not isinstance(v, list) or len(v) < 12 else f"{len(v)} items")
                                                  for k, v in cmp.items()}))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="a worktree of the baseline commit")
    p.add_argument("--what", default="campaign,reproduce", help="comma list of campaign,reproduce")
    p.add_argument("--trials", type=int, default=10_000, help="campaign trials (default 10000)")
    p.add_argument("--warm", action="store_true", help="also run the new side again with its compilation cache filled")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "vs_baseline"))
    args = p.parse_args(argv)
    base = os.path.abspath(args.baseline)
    if not os.path.isdir(os.path.join(base, "lpft_theory")):
        print(f"--baseline: {base} holds no lpft_theory package; check out the baseline there first", file=sys.stderr)
        return 2
    whats = [w.strip() for w in args.what.split(",") if w.strip()]
    bad = set(whats) - {"campaign", "reproduce"}
    if bad:
        print(f"--what: unknown {sorted(bad)}; use campaign and/or reproduce", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    res = dict(title="lpft_theory against a baseline commit, side by side", date=datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"), cpu=_cpu(), versions=_versions(), baseline_tree=base,
        baseline_commit=_git(base, "rev-parse", "HEAD"), new_commit=_git(ROOT, "rev-parse", "HEAD"),
        new_dirty=bool(_git(ROOT, "status", "--porcelain")), runs={}, ratios={}, comparisons={})
    cache = tempfile.mkdtemp(prefix="lpft_cache_")
    env_new = {"LPFT_THEORY_CACHE": cache}
    try:
        for what in whats:
            runs = {}
            if what == "campaign":
                dirs = {s: os.path.join(tempfile.gettempdir(), f"lpft_cmp_{s}_campaign") for s in ("baseline", "new", "new_warm")}
                for d in dirs.values():
                    shutil.rmtree(d, ignore_errors=True)
                argv = lambda d: ["check-bound", "--trials", str(args.trials), "--seed", "0", "--report", d,  # noqa: E731
                                  "--no-progress"]
                runs["baseline"] = _run(base, argv(dirs["baseline"]), {}, os.path.join(args.out, "campaign_baseline.log"))
                runs["new"] = _run(ROOT, argv(dirs["new"]), env_new, os.path.join(args.out, "campaign_new.log"))
                if args.warm:
                    runs["new_warm"] = _run(ROOT, argv(dirs["new_warm"]), env_new, os.path.join(args.out, "campaign_new_warm.log"))
                if runs["baseline"]["exit_code"] == 0 and runs["new"]["exit_code"] == 0:
                    res["comparisons"]["campaign"] = compare_campaigns(dirs["baseline"], dirs["new"])
                    for s in ("baseline", "new"):
                        shutil.copy(os.path.join(dirs[s], "summary.md"), os.path.join(args.out, f"campaign_{s}_summary.md"))
            else:
                runs["baseline"] = _run(base, ["reproduce"], {}, os.path.join(args.out, "reproduce_baseline.log"))
                runs["new"] = _run(ROOT, ["reproduce"], env_new, os.path.join(args.out, "reproduce_new.log"))
                if args.warm:
                    runs["new_warm"] = _run(ROOT, ["reproduce"], env_new, os.path.join(args.out, "reproduce_new_warm.log"))
                res["comparisons"]["reproduce"] = compare_reproduce(base, ROOT)
            res["runs"][what] = runs
            res["ratios"][what] = runs["baseline"]["wall_s"] / runs["new"]["wall_s"]
            if "new_warm" in runs:
                res["ratios"][what + " (new side warm)"] = runs["baseline"]["wall_s"] / runs["new_warm"]["wall_s"]
            with open(os.path.join(args.out, "compare.json"), "w") as f:
                json.dump(res, f, indent=1)
            with open(os.path.join(args.out, "compare.md"), "w") as f:
                f.write(markdown(res))
            print(markdown(res))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

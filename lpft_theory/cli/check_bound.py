"""``lpft-theory check-bound``: the FT lower bound (both statements) on one problem, a campaign, or an
adversarial search."""

from __future__ import annotations

import json

from ..theory import bounds as theory
from .common import check_out_dir, input_paths, int_arg, load_problem

RESULT_KEYS = ("statement", "bound", "observed", "t_min", "where", "margin", "holds", "applies")
#: ``--adversarial --quick``: starts per statement.
QUICK_STARTS = 4


def register(sub) -> None:
    from ..theory import adversarial

    p = sub.add_parser("check-bound", help="check the FT OOD lower bound (submission Thm 3.1, final Thm 3.3)")
    p.add_argument("--problem", metavar="P.npz", help="check one problem file")
    p.add_argument("--random", metavar="SPEC", help="check one random problem, e.g. d=12,k=2,m=4,eps=0.1,seed=0")
    p.add_argument("--json", action="store_true", help="print one JSON object {\"results\": [...]}")
    p.add_argument("--confirm", action="store_true",
                   help="also integrate with the independent full-dimensional reference (rtol 1e-11: Radau "
                        "to a flagged minimum at t = inf, else DOP853, or Radau where DOP853 needs more than "
                        "30000 evaluations)")
    p.add_argument("--trials", type=int_arg(1), metavar="N", help="randomised campaign of N >= 1 trials (default 10000)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="campaign / adversarial seed, >= 0 (default 0)")
    p.add_argument("--grid", metavar="FILE", help="JSON file overriding keys of the default sampling grid")
    p.add_argument("--report", metavar="DIR", help="folder for report.json, summary.md, histogram.png, cases "
                   "(checked before any work; created, with missing parents, when the report is written)")
    p.add_argument("--quick", action="store_true", help="reduced size (campaign: 200 trials; adversarial: 4 starts)")
    p.add_argument("--adversarial", action="store_true", help="gradient-based search maximising bound - observed")
    p.add_argument("--starts", type=int_arg(1), metavar="N",
                   help=f"adversarial: starts per statement, >= 1 (default {adversarial.DEFAULT_STARTS}, quick {QUICK_STARTS})")
    p.add_argument("--steps", type=int_arg(1), metavar="N",
                   help=f"adversarial: Adam steps per start, >= 1 (default {adversarial.DEFAULT_STEPS}, "
                        f"quick {adversarial.QUICK_STEPS})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    campaign_mode = args.trials is not None or args.report is not None and not args.adversarial
    if args.adversarial:
        return _adversarial(args)
    if campaign_mode or (args.quick and args.problem is None and args.random is None):
        return _campaign(args)
    if args.problem is None and args.random is None:
        raise ValueError("check-bound: give --problem P.npz (or --random SPEC), --trials N --report DIR, "
                         "or --adversarial --report DIR")
    problem = load_problem(args, who="check-bound")
    rows = theory.check_problem(problem)
    frames = None
    if problem.B_star is not None and problem.v_star is not None:
        frames = theory.bound_frame_range(problem)
        for r in rows:
            r["bound_frame_range"] = {k: _finite(v) for k, v in frames[r["statement"]].items()}
    if args.confirm:
        from ..theory.reference import confirm

        rows = confirm(problem, rows)
    if args.json:
        extra = ("vacuous", "tolerance", "loss", "reasons", "converged", "certified_by", "bound_frame_range",
                 "status", "reference_observed", "reference_t_min")
        out = [{k: r[k] for k in RESULT_KEYS + extra if k in r} for r in rows]
        print(json.dumps({"results": out}, allow_nan=False))
        return 0
    for r in rows:
        verdict = ("n/a (" + "; ".join(r["reasons"]) + ")") if not r["applies"] else (
            "holds" if r["holds"] else "VIOLATED")
        bound = "undefined" if r["bound"] is None else f"{r['bound']:.6g}"
        print(f"{r['statement']:20s} bound {bound:>12s}  observed {r['observed']:.6g} at t={r['t_min']:.4g} "
              f"({r['where']})  [{r['loss']}]  {verdict}" + (f"  reference: {r['status']}" if "status" in r else ""))
        if "bound_frame_range" in r:
            fr = r["bound_frame_range"]
            fmt = lambda x: "undefined" if x is None else f"{x:.6g}"  # noqa: E731
            print(f"{'':20s} bound over representatives (U B*, U v*), U in O(k): [{fmt(fr['min'])}, {fmt(fr['max'])}]"
                  f"; in B0's frame {fmt(fr['frame_B0'])}; as stored {fmt(fr['given'])}")
    print("minimum over t in [0, inf]: " + theory.CERTIFIED_BY)
    print(f"violated means observed < bound - tol (tol = {theory.VIOLATION_RTOL:g} * max(|bound|, observed, ||w*||) + {theory.VIOLATION_ATOL:g})")
    return 0


def _finite(x):
    """JSON-safe float: NaN (an undefined bound) becomes None."""
    return float(x) if x is not None and x == x else None


def _campaign(args) -> int:
    from ..figures import reports
    from ..theory import campaign

    if args.report is None:
        raise ValueError("check-bound: a campaign needs --report DIR")
    if args.problem is not None or args.random is not None:
        raise ValueError("check-bound: --trials/--report cannot be combined with --problem/--random")
    trials = args.trials if args.trials is not None else (campaign.QUICK_TRIALS if args.quick else
                                                           campaign.DEFAULT_TRIALS)
    check_out_dir(args.report, "--report", inputs=input_paths(args))
    grid = campaign.load_grid(args.grid)
    res = campaign.run_campaign(trials, args.seed, grid, progress=not args.no_progress)
    summary = reports.write_campaign_report(res, args.report)
    print(reports.campaign_markdown(summary, summary["files"]))
    print(f"report written to {args.report}/ (report.json, summary.md, histogram.png, trials.csv)")
    return 0


def _adversarial(args) -> int:
    from ..figures import reports
    from ..theory import adversarial

    if args.report is None:
        raise ValueError("check-bound --adversarial needs --report DIR")
    if args.problem is not None or args.random is not None:
        raise ValueError("check-bound: --adversarial cannot be combined with --problem/--random")
    check_out_dir(args.report, "--report", inputs=input_paths(args))
    starts = args.starts if args.starts is not None else (QUICK_STARTS if args.quick else adversarial.DEFAULT_STARTS)
    result = adversarial.run_search(starts=starts, seed=args.seed, quick=args.quick, steps=args.steps,
                                    progress=not args.no_progress)
    summary = reports.write_adversarial_report(result, args.report)
    print(reports.adversarial_markdown(summary))
    return 0

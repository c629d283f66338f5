"""``lpft-theory bound-study``: how tight the FT lower bound is.

``--k1``: the exact k = 1, ε = 0 study (``docs/theory.md`` §9): the t = ∞ infimum (1/2, analytic), the
worst min-over-t ratio found (numerical) with its parameters, confirmed by the reference integrator, and
the failure region. Without ``--k1``: a campaign and the empirical constant for general k (§9.6).
"""

from __future__ import annotations

import json
import os

from .common import check_out_dir, int_arg

QUICK_TRIALS = 60
FAILURE_REGION = ("sign(v_inf v*) = +1 and (1+w)^2 rho^2 max(1, sqrt|v0^2 - w^2|) < w (rho^2 + s^2)(rho + w), "
                  "w = |v*|, rho^2 = (delta + sqrt(delta^2 + 4 w^2 s^2))/2, delta = v0^2 - s^2, s = |Pi_S b0| "
                  "(docs/theory.md section 9.3)")


def register(sub) -> None:
    p = sub.add_parser("bound-study", help="tightness of the FT lower bound: exact k = 1 study (--k1) or the "
                       "empirical constant for general k")
    p.add_argument("--k1", action="store_true", help="the exact k = 1, eps = 0 study")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--report", metavar="DIR", help="folder for study.json, the tightness figure (--k1) and the "
                   "worst case as a problem file (checked before any work; created when written)")
    p.add_argument("--trials", type=int_arg(1), metavar="N", help=f"general k: campaign trials (default 2000, "
                   f"quick {QUICK_TRIALS})")
    p.add_argument("--seed", type=int_arg(0), default=0, help="seed, >= 0 (default 0)")
    p.add_argument("--quick", action="store_true", help="reduced size (a few seconds to a minute)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.report is not None:
        check_out_dir(args.report, "--report")
    if args.k1:
        if args.trials is not None:
            raise ValueError("bound-study: --trials is for the general-k study; drop it with --k1")
        return _k1(args)
    return _general(args)


def _k1(args) -> int:
    from ..theory import study

    worst = study.k1_worst(quick=args.quick, seed=args.seed)
    conf = study.k1_confirm(worst)
    out = dict(k=1, eps=0.0, infimum_t_inf=0.5, infimum_t_inf_status="proven (docs/theory.md 9.3; one sliver "
               "checked numerically), approached as |v*| -> 0, s -> 1, v0/v* -> 1, not attained",
               worst_ratio=worst["worst_ratio"], argmin=worst["argmin"], worst_ratio_status="numerical (Nelder-Mead "
               "over the bounded domain; isotropic inputs, Sigma = I, min over t)",
               worst_ratio_t_inf=worst["worst_ratio_inf"], argmin_t_inf=worst["argmin_inf"], domain=worst["domain"],
               reference=dict(min_ood=conf["reference_min"], t_min=conf["reference_t_min"], arc_min_ood=conf["arc_min"],
                              relative_difference=conf["relative_difference"], bound=conf["bound"],
                              ratio=conf["reference_ratio"], confirmed=bool(conf["relative_difference"] <= 1e-8)),
               failure_region=FAILURE_REGION)
    if args.report is not None:
        from ..figures import tightness, writer

        os.makedirs(args.report, exist_ok=True)
        data = tightness.compute_k1_tightness(args.quick)
        writer.write_figure(tightness.plot_k1_tightness(data), data, args.report, "k1_tightness")
        conf["problem"].save(os.path.join(args.report, "k1_worst_case.npz"))
        from ..atomic import write_text

        write_text(os.path.join(args.report, "study.json"), json.dumps(out, indent=1, allow_nan=False) + "\n")
        out["files"] = ["study.json", "k1_tightness.png", "k1_tightness.pdf", "k1_tightness.json", "k1_worst_case.npz"]
    if args.json:
        print(json.dumps(out, allow_nan=False))
        return 0
    a = worst["argmin"]
    print("FT lower bound, k = 1, eps = 0 (both statements; Sigma = I)")
    print("  t = inf: infimum of observed/bound = 1/2 (proven, not attained; |v*| -> 0, s -> 1, v0/v* -> 1)")
    print(f"  t = inf, worst in the domain: {worst['worst_ratio_inf']:.6g}")
    print(f"  min over t, worst found: {worst['worst_ratio']:.6g} at v0 = {a['v0']:.6g}, v* = {a['v_star']:.6g}, "
          f"s = {a['s']:.6g} (c = {a['c']:.3g}), {'at t = inf' if a['at_limit'] else 'interior minimum'} "
          f"[numerical]")
    r = out["reference"]
    print(f"  reference (DOP853, rtol 1e-11): min sqrt(L_ood) = {r['min_ood']:.10g}, arc value {r['arc_min_ood']:.10g}, "
          f"relative difference {r['relative_difference']:.2e} ({'confirmed' if r['confirmed'] else 'NOT confirmed'} "
          "to 1e-8)")
    print(f"  failure region: {FAILURE_REGION}")
    if args.report is not None:
        print(f"report written to {args.report}/ ({', '.join(out['files'])})")
    return 0


def _general(args) -> int:
    from ..theory import campaign, study

    trials = args.trials if args.trials is not None else (QUICK_TRIALS if args.quick else 2000)
    res = campaign.run_campaign(trials, args.seed, progress=not args.no_progress)
    out = study.empirical_constant(res)
    out["command"] = f"lpft-theory bound-study --trials {trials} --seed {args.seed}"
    if args.report is not None:
        from ..atomic import write_text

        os.makedirs(args.report, exist_ok=True)
        write_text(os.path.join(args.report, "study.json"), json.dumps(out, indent=1, allow_nan=False) + "\n")
    if args.json:
        print(json.dumps(out, allow_nan=False))
        return 0
    print(f"empirical tightness of the FT lower bound over {out['trials']} campaign trials, seed {args.seed} "
          "(an empirical finding, not a theorem)")
    for st, e in out["statements"].items():
        c = "n/a" if e["constant"] is None else f"{e['constant']:.6g}"
        print(f"  {st:20s} observed >= c * bound held in all {e['non_vacuous']} non-vacuous trials for c = {c}; "
              f"{e['below_one']} trials below 1")
    if args.report is not None:
        print(f"report written to {args.report}/study.json")
    return 0

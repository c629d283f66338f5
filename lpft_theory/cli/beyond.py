"""``lpft-theory simulate`` flags for the beyond-the-paper methods and label noise.

``simulate`` calls :func:`add_arguments` on its parser and hands the run to :func:`run`
when :func:`handles` says so (a method of :data:`lpft_theory.variants.dispatch.BEYOND_METHODS`, or
``--label-noise``). No math here: it validates the flag combination, builds the problem,
calls :func:`lpft_theory.variants.dispatch.simulate_variant` and writes the result atomically.
"""

from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np

from ..variants import gd, l2sp, noise
from ..metrics import trajectory_metrics
from ..atomic import atomic_savez
from ..variants.dispatch import ALL_METHODS, BEYOND_METHODS, simulate_variant
from .common import (SOLVE_FLAGS, UsageError, check_output_memory, float_arg, int_arg, load_problem,
                     nonnegative_or_inf_arg, parse_times, solve_options, warn)

#: flag -> methods that accept it
_ONLY = {
    "wise_from": ("wise-ft",), "alpha": ("wise-ft",), "l2sp": ("l2sp",),
    "lr_v": ("gd",), "lr_B": ("gd",), "steps": ("gd",), "save_every": ("gd",),
    "init": ("gd", "l2sp", "ft-frozen-head"),
    # lp and ft-frozen-head are closed forms, gd counts --steps
    **{k: ("ft", "lpft", "wise-ft", "l2sp") for k in SOLVE_FLAGS},
}
_FLAG = {"wise_from": "--wise-from", "alpha": "--alpha", "l2sp": "--l2sp", "lr_v": "--lr-v", "lr_B": "--lr-B",
         "steps": "--steps", "save_every": "--save-every", "init": "--init", "max_steps": "--max-steps",
         "rtol": "--rtol", "atol": "--atol", "solver": "--solver"}
# issue 15 follow-up methods (helper C2): projected FT and the logistic loss
_C2_METHODS = ("ft-projected", "ft-logistic", "lp-logistic", "lpft-logistic")
_LOGISTIC = ("ft-logistic", "lp-logistic", "lpft-logistic")
_ONLY.update(gamma=("ft-projected",), lp_time=("lpft-logistic",), init=_ONLY["init"] + ("ft-projected",))
for _k in SOLVE_FLAGS:
    _ONLY[_k] = _ONLY[_k] + _C2_METHODS
_FLAG.update(gamma="--gamma", lp_time="--lp-time")

#: Fresh ID draws for the ID test loss.
N_TEST = 1000
#: Largest ``--steps`` for gd (about 25 minutes at ~1.5 µs per step on one CPU core).
MAX_GD_STEPS = 10**9
#: Largest number of saved gd states (``--steps / --save-every``).
MAX_GD_SAVES = 10**7


def add_arguments(p) -> None:
    g = p.add_argument_group("beyond the paper (issue 7)")
    g.add_argument("--wise-from", choices=("init", "lp"), default=None,
                   help="wise-ft: interpolate from (v0, B0) and FT [init, default] or from (v_lp, B0) and LP-FT [lp]")
    g.add_argument("--alpha", metavar="A1,A2,..", help="wise-ft: interpolation weights, e.g. 0,0.1,0.5,1")
    g.add_argument("--l2sp", metavar="LAMBDA", type=float_arg, help="l2sp: penalty lambda*||B - B0||_F^2 (lambda >= 0)")
    g.add_argument("--lr-v", type=float_arg, help="gd: head step size (>= 0)")
    g.add_argument("--lr-B", type=float_arg, help="gd: feature step size (>= 0)")
    g.add_argument("--steps", type=int_arg(1, MAX_GD_STEPS), help=f"gd: number of steps (1 to {MAX_GD_STEPS:.0e}; "
                   "Ctrl-C stops a long run at once)")
    g.add_argument("--save-every", type=int_arg(1), help=f"gd: save every N steps (default: 101 evenly spaced; at "
                   f"most {MAX_GD_SAVES:.0e} saved states)")
    g.add_argument("--init", choices=("random", "lp"), default=None,
                   help="gd, l2sp, ft-frozen-head, ft-projected: start from the problem's head [random] or from v_lp [lp]")
    g.add_argument("--label-noise", metavar="SIGMA", type=float_arg,
                   help="any method: y = X w* + SIGMA * N(0, I) (needs --random; seed via --noise-seed); the only "
                   "way to noisy labels (a problem file must have y = X w*)")
    g.add_argument("--noise-seed", type=int, help="seed of the label noise (default: the problem seed)")
    f = p.add_argument_group("follow-up methods (issue 15)")
    f.add_argument("--gamma", metavar="GAMMA", type=nonnegative_or_inf_arg,
                   help="ft-projected: radius of the constraint ||B - B0||_F <= GAMMA (>= 0; 0 is LP, inf is FT)")
    f.add_argument("--lp-time", metavar="T", type=float_arg,
                   help="lpft-logistic: LP duration before FT (finite, >= 0: the logistic LP has no limit)")


def handles(args) -> bool:
    """Validate the flag combination; True when :func:`run` must do the run (beyond method or label noise)."""
    m = args.method
    if m not in ALL_METHODS:
        raise UsageError(f"--method must be one of {ALL_METHODS}, got {m!r}")
    for key, methods in _ONLY.items():
        if getattr(args, key, None) is not None and m not in methods:
            raise UsageError(f"{_FLAG[key]} only applies to --method {' / '.join(methods)}, not {m}")
    if args.noise_seed is not None and args.label_noise is None:
        raise UsageError("--noise-seed needs --label-noise SIGMA")
    if args.label_noise is not None:
        if not (math.isfinite(args.label_noise) and args.label_noise >= 0):
            raise UsageError(f"--label-noise must be a finite number >= 0, got {args.label_noise}")
        if args.random is None:
            raise UsageError("--label-noise needs --random (a problem file's labels must be noiseless, y = X w*)")
    if m == "gd":
        missing = [f for f in ("--lr-v", "--lr-B", "--steps") if getattr(args, f[2:].replace("-", "_")) is None]
        if missing:
            raise UsageError(f"--method gd needs {', '.join(missing)}")
        if args.times is not None:
            raise UsageError("--method gd saves at steps (--steps, --save-every), not at --times")
        try:
            gd.check_rates(args.lr_v, args.lr_B, args.steps)
            if args.save_every is not None:
                if args.steps // args.save_every + 2 > MAX_GD_SAVES:
                    raise ValueError(f"--steps {args.steps} with --save-every {args.save_every} saves "
                                     f"{args.steps // args.save_every + 1} states; at most {MAX_GD_SAVES:.0e}: "
                                     "raise --save-every")
                gd.save_steps(args.steps, every=args.save_every)
        except (ValueError, TypeError) as e:
            raise UsageError(f"--method gd: {e}") from None
    elif args.times is None:
        raise UsageError(f"--method {m} needs --times T1,T2,.. (e.g. 0,1,10,inf)")
    if m == "ft-projected" and args.gamma is None:
        raise UsageError("--method ft-projected needs --gamma GAMMA (radius of ||B - B0||_F <= GAMMA; inf for FT)")
    if m in _LOGISTIC:
        if args.label_noise is not None:
            raise UsageError(f"--label-noise does not apply to --method {m} (its labels are sign(X w*))")
        if m == "lpft-logistic":
            if args.lp_time is None:
                raise UsageError("--method lpft-logistic needs --lp-time T (finite LP duration, e.g. 10)")
            if args.lp_time < 0:
                raise UsageError(f"--lp-time must be >= 0, got {args.lp_time:g}")
        if args.times is not None and np.isinf(parse_times(args.times)[-1]):
            raise UsageError(f"--times: inf is refused for --method {m} (the logistic loss has no finite minimiser "
                             "on separable data); give finite times, e.g. 0,1,10,100")
    if m == "l2sp":
        if args.l2sp is None:
            raise UsageError("--method l2sp needs --l2sp LAMBDA")
        try:
            l2sp.check_lambda(args.l2sp)
        except (ValueError, TypeError) as e:
            raise UsageError(f"--l2sp: {e}") from None
    if m == "wise-ft":
        if args.alpha is None:
            raise UsageError("--method wise-ft needs --alpha A1,A2,.. (e.g. 0,0.25,0.5,0.75,1)")
        if len(parse_times(args.times)) != 1:
            raise UsageError("--method wise-ft takes one --times value: the FT time of the fine-tuned endpoint (e.g. inf)")
        alphas = _parse_alpha(args.alpha)
        outside = [a for a in alphas if not 0.0 <= a <= 1.0]
        if outside:
            warn(f"--alpha {', '.join(f'{a:g}' for a in outside)} outside [0, 1]: WiSE-FT extrapolates beyond the "
                 "two endpoints there")
    elif m != "gd":
        parse_times(args.times)  # bad times fail before any work
    return m in BEYOND_METHODS or args.label_noise is not None


def _parse_alpha(text):
    alphas = []
    for a in text.split(","):
        if not a.strip():
            continue
        try:
            alphas.append(float(a))
        except ValueError:
            raise UsageError(f"--alpha: expected a comma list of numbers like 0,0.5,1, got {text!r}") from None
    if not alphas:
        raise UsageError("--alpha: no values given (e.g. --alpha 0,0.25,0.5,0.75,1)")
    bad = [a for a in alphas if not math.isfinite(a)]
    if bad:
        raise UsageError(f"--alpha: values must be finite, got {bad[0]}")
    return alphas


def run(args, out_path=None) -> int:
    """Run a beyond-the-paper method (or any method with label noise) and write ``--out``
    (``out_path``: the checked path to write, default ``args.out``)."""
    m = args.method
    out_path = args.out if out_path is None else out_path
    opts = solve_options(args)
    times = None if m == "gd" else parse_times(args.times)
    if m == "wise-ft":
        opts.update(alpha=_parse_alpha(args.alpha), wise_from=args.wise_from or "init")
    elif m == "l2sp":
        opts.update(lam=args.l2sp, init=args.init or "random")
    elif m == "gd":
        opts.update(lr_v=args.lr_v, lr_B=args.lr_B, steps=args.steps, init=args.init or "random",
                    save_every=args.save_every)
    elif m == "ft-frozen-head":
        opts.update(init=args.init or "random")
    elif m == "ft-projected":
        opts.update(gamma=args.gamma, init=args.init or "random")
    elif m == "lpft-logistic":
        opts.update(lp_time=args.lp_time)
    problem = load_problem(args, who=f"--method {m}")
    n_saves = (gd.save_steps(args.steps, every=args.save_every).size if m == "gd" else
               len(opts["alpha"]) if m == "wise-ft" else times.size)
    check_output_memory(n_saves, problem, "--save-every" if m == "gd" else "--alpha" if m == "wise-ft" else "--times")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gd.DivergenceWarning)
        traj = simulate_variant(problem, m, times, **opts)
    for w in caught:  # divergence is a recorded result (diverged=1 in --out), reported in one line
        if issubclass(w.category, gd.DivergenceWarning):
            print(f"lpft-theory: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    metrics = trajectory_metrics(traj)
    extra = noise.noisy_metrics(traj, n_test=N_TEST, seed=0)
    resid = noise.label_residual(problem)
    info = {k: v for k, v in traj.info.items() if v is not None}
    out = dict(times=traj.times, axis=np.asarray(traj.axis), v=np.asarray(traj.v), B=np.asarray(traj.B()),
               method=np.asarray(m), solver=np.asarray(traj.solver), num_steps=np.asarray(traj.num_steps),
               converged=np.asarray(-1 if traj.converged is None else int(traj.converged)),
               id_test_loss=extra["id_test_loss"], id_test_loss_exact=extra["id_test_loss_exact"],
               label_noise=np.asarray(args.label_noise or 0.0), label_residual=np.asarray(resid["relative"]),
               noisy=np.asarray(int(noise.is_noisy(problem))), **metrics)
    for k, v in info.items():
        if k not in out:
            out[k] = np.asarray(v)
    if m == "gd":
        out["diverged_at"] = np.asarray(-1 if traj.info["diverged_at"] is None else traj.info["diverged_at"])
    atomic_savez(out_path, **out)
    if args.json:
        summary = dict(method=m, axis=traj.axis, out=args.out, num_steps=traj.num_steps, converged=traj.converged,
                       times=[float(t) for t in traj.times], noisy=bool(noise.is_noisy(problem)),
                       label_residual=resid["relative"],
                       info={k: _jsonable(v) for k, v in traj.info.items()},
                       final={k: float(v[-1]) for k, v in {**metrics, **extra}.items()})
        print(json.dumps(summary, allow_nan=True))
    return 0


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    return v

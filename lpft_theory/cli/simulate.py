"""``lpft-theory simulate``: one flow on one problem, saved as an .npz of states and metrics."""

from __future__ import annotations

import json

from . import beyond as _beyond
from .common import (LABEL_RULE, TIMES_HELP, add_solve_arguments, check_out_file, check_output_memory,
                     input_paths, load_problem, parse_times, solve_options)


def register(sub) -> None:
    from ..problem import LABEL_TOL

    p = sub.add_parser(
        "simulate", help="simulate LP, FT or LP-FT on one problem and save R.npz",
        description="Simulate one method on one problem and save the states and metrics as R.npz.",
        epilog=LABEL_RULE.format(tol=LABEL_TOL) + " Output: --out is checked before any work (writable, not an "
        "input file); missing folders are created; a symbolic link is written through to its target (with a "
        "warning). Values that start with '-' need '=', e.g. --times=-1 (and are refused: times are >= 0). "
        "Errors: one line on stderr, exit code 2; Ctrl-C: exit code 130, nothing left behind.")
    p.add_argument("--problem", metavar="P.npz", help="problem file (keys X, y, B0, v0, w_star[, B_star, v_star, sigma_ood]); "
                   "a file with a leading batch axis runs every member (lp, ft, lpft)")
    p.add_argument("--random", metavar="SPEC", help="random problem, e.g. d=50,k=2,m=10,n=20,eps=0.1,seed=0 "
                   "(each key once; seed >= 0)")
    p.add_argument("--method", required=True, choices=_beyond.ALL_METHODS)
    p.add_argument("--times", metavar="TIMES", help=TIMES_HELP + " (all methods but gd)")
    p.add_argument("--out", required=True, metavar="R.npz",
                   help="output file, written atomically; missing folders are created; must not be an input file")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_solve_arguments(p, "ft, lpft, wise-ft, l2sp, ft-projected, the -logistic methods")
    _beyond.add_arguments(p)  # wise-ft, l2sp, gd, ft-frozen-head, --label-noise (issue 7)
    p.set_defaults(func=run)


def run(args) -> int:
    beyond = _beyond.handles(args)  # validates the flags first
    out_path = check_out_file(args.out, "--out", inputs=input_paths(args), suffix=".npz")
    if beyond:  # beyond-the-paper methods and label noise run there
        return _beyond.run(args, out_path)
    times = parse_times(args.times)
    problem = load_problem(args, batch=True)
    check_output_memory(times.size, problem, "--times")
    opts = solve_options(args)
    if problem.batch_shape:  # batched problem file (issue 5): every member, outputs with a leading batch axis
        return _run_batch(args, problem, times, opts, out_path)
    import numpy as np

    from ..atomic import atomic_savez
    from ..metrics import trajectory_metrics
    from ..solve import simulate

    traj = simulate(problem, args.method, times, **opts)
    metrics = trajectory_metrics(traj)
    out = dict(times=traj.times, v=np.asarray(traj.v), B=np.asarray(traj.B()), num_steps=np.asarray(traj.num_steps),
               converged=np.asarray(-1 if traj.converged is None else int(traj.converged)),
               method=np.asarray(args.method), solver=np.asarray(traj.solver), **metrics)
    atomic_savez(out_path, **out)
    if args.json:
        summary = dict(method=args.method, out=args.out, num_steps=traj.num_steps, converged=traj.converged,
                       times=[float(t) for t in traj.times],
                       final={k: float(v[-1]) for k, v in metrics.items()})
        print(json.dumps(summary, allow_nan=True))
    return 0


def _run_batch(args, problem, times, opts, out_path) -> int:
    import numpy as np

    from ..atomic import atomic_savez
    from ..metrics import trajectory_metrics
    from ..scale.batch import simulate_batch

    if len(problem.batch_shape) != 1:
        raise ValueError(f"--problem: expected one leading batch axis, got batch shape {problem.batch_shape}")
    bt = simulate_batch(problem, args.method, times, **opts)
    metrics = trajectory_metrics(bt)
    conv = np.full(len(bt), -1) if bt.converged is None else bt.converged.astype(int)
    out = dict(times=bt.times, v=np.asarray(bt.v), B=np.asarray(bt.B()), num_steps=np.asarray(bt.num_steps),
               converged=conv, method=np.asarray(args.method), solver=np.asarray(bt.solver), **metrics)
    atomic_savez(out_path, **out)
    if args.json:
        summary = dict(method=args.method, out=args.out, batch=len(bt), num_steps=bt.num_steps.tolist(),
                       converged=None if bt.converged is None else bt.converged.tolist(),
                       times=[float(t) for t in bt.times], work=bt.info["work"],
                       final={k: v[:, -1].tolist() for k, v in metrics.items()})
        print(json.dumps(summary, allow_nan=True))
    return 0

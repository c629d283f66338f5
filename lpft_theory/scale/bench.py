r"""Benchmark of the FT flow: scipy ``solve_ivp`` (full and reduced) vs lpft_theory (vmapped, reduced).

Run ``python benchmarks/bench_flow.py [--quick] [--out DIR]`` or ``lpft-theory bench [--quick]``.
It writes ``DIR/bench_flow.json`` (every number, with the ratios measured in this run) and
``DIR/bench_flow.md`` (the tables).

Sections
--------
1. **scipy vs lpft_theory** on one shared set of N problems ``Problem.random(seed=i, d, k, m, n,
   eps=0.1)``, FT flow on [0, T], final state only:

   (a) a scipy ``solve_ivp(method="DOP853")`` loop over the *full-dimensional* flow (state
       (v, B) of size k + k·d, as a typical user would write it from the gradients);
   (b) the same scipy loop on the *reduced* flow (state (v, B_S), size k + k·m);
   (c) lpft_theory: the jitted diffrax core ``lpft_theory.integrate.solve_at`` once per problem ("single") and
       :func:`lpft_theory.scale.batch.simulate_batch` over all N ("batched", one vmap, and grouped by
       stiffness).

   Accuracy: every final state is compared with a reference from scipy DOP853 on the reduced
   flow at rtol 1e-12, atol 1e-14 (itself checked against the full flow at the same tolerance
   on one problem). Error = ‖(v, B) − (v, B)_ref‖ / ‖(v, B)_ref‖ in full coordinates, max over
   problems. lpft_theory is run for a small ladder of (solver, rtol); the headline ratio uses the
   fastest configuration whose max error is ≤ that of (a) (equal or better accuracy).
   Set-up (the reduction, O(n·d·m) per problem) is timed separately.
2. **d-independence**: one base set of problems at d = 100 is embedded isometrically into ℝ^d
   (X' = XPᵀ, B' = BPᵀ, w' = Pw with P a random d×100 matrix with orthonormal columns) for
   d = 100 … 100 000 (``--d-dims``, up to 10⁶ and beyond). The reduced flows are orthogonally
   equivalent, so any change of solve time with d would come from the implementation, not from
   different dynamics. Set-up (building + reducing) and solve are timed separately. Above
   d = 10⁵ the largest d embeds only 8 of the 32 problems by default (``--d-max-problems``; each row
   reports its N and is compared with the smallest d on the same problems); peak memory is that of
   one embedded problem (about 3 GB at d = 10⁶).
3. **Lockstep waste** (see :mod:`lpft_theory.scale.batch`): member-steps executed by one vmap over the
   whole batch vs the sum of per-member steps, and the same after sorting by stiffness into groups.
4. **GPU throughput** (only when a GPU is visible; ``--gpu-smoke``, and ``--quick`` without a GPU,
   run the same code path on CPU at tiny size to check it, and label it so): trajectories per second for batches 10³ … 10⁶,
   k=8, m=32, n=64, float64, rtol 1e-8, t ∈ [0, 50], compile time separately, achieved FP64
   FLOP rate vs the device's FP64 peak (FLOPs counted analytically per Tsit5 step).

Ratios are what count on CPU (other processes may share the machine; see ``load_average``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

# --------------------------------------------------------------------------------------
# helpers


def _now():
    return time.perf_counter()


def _block(tree):
    import jax

    return jax.block_until_ready(tree)


def environment() -> dict:
    import diffrax
    import jax
    import scipy

    cpu = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
    except Exception:  # noqa: BLE001 - lscpu is optional
        cpu = platform.processor()
    return dict(
        date_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        python=platform.python_version(),
        jax=jax.__version__,
        diffrax=diffrax.__version__,
        scipy=scipy.__version__,
        numpy=np.__version__,
        cpu=cpu,
        cpu_count=os.cpu_count(),
        devices=[str(d) for d in jax.devices()],
        backend=jax.default_backend(),
        load_average=list(os.getloadavg()),
        command=" ".join(sys.argv),
    )


# --------------------------------------------------------------------------------------
# the scipy side, written as a user would


def scipy_full(problem, T, rtol, atol):
    """(a) DOP853 on the full flow v' = -2 B Xᵀr, B' = -2 v rᵀX, r = XBᵀv - y."""
    from scipy.integrate import solve_ivp

    X = np.asarray(problem.X)
    y = np.asarray(problem.y)
    B0 = np.asarray(problem.B0)
    v0 = np.asarray(problem.v0)
    k, d = B0.shape

    def f(t, z):
        v = z[:k]
        B = z[k:].reshape(k, d)
        r = X @ (B.T @ v) - y
        g = X.T @ r
        return np.concatenate([-2.0 * B @ g, (-2.0 * np.outer(v, g)).ravel()])

    sol = solve_ivp(f, (0.0, T), np.concatenate([v0, B0.ravel()]), method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"scipy full flow failed: {sol.message}")
    z = sol.y[:, -1]
    return z[:k], z[k:].reshape(k, d), int(sol.nfev)


def scipy_reduced(G, a, v0, B0, T, rtol, atol):
    """(b) DOP853 on the reduced flow v' = -2 B_S r, B_S' = -2 v rᵀ, r = G(B_Sᵀv - a)."""
    from scipy.integrate import solve_ivp

    k, m = B0.shape

    def f(t, z):
        v = z[:k]
        B = z[k:].reshape(k, m)
        r = G @ (B.T @ v - a)
        return np.concatenate([-2.0 * B @ r, (-2.0 * np.outer(v, r)).ravel()])

    sol = solve_ivp(f, (0.0, T), np.concatenate([v0, B0.ravel()]), method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"scipy reduced flow failed: {sol.message}")
    z = sol.y[:, -1]
    return z[:k], z[k:].reshape(k, m), int(sol.nfev)


def _np_rp(rp, i):
    return (np.asarray(rp.G[i]), np.asarray(rp.a_star[i]), np.asarray(rp.v0[i]), np.asarray(rp.B_S0[i]))


def _rel_err_reduced(v, B_S, v_ref, B_ref, perp_sq):
    """Relative error in full coordinates: B differs from the reference only in its S-part."""
    num = np.sum((v - v_ref) ** 2) + np.sum((B_S - B_ref) ** 2)
    den = np.sum(v_ref**2) + np.sum(B_ref**2) + perp_sq
    return float(np.sqrt(num / den))


# --------------------------------------------------------------------------------------
# section 1


def bench_vs_scipy(N, d, k, m, n, T, rtol_scipy, atol_scipy, ladder, group_size, reps, log):
    import jax
    import jax.numpy as jnp

    from lpft_theory import Problem, reduce
    from lpft_theory.flows import ft_field
    from lpft_theory.integrate import solve_at
    from lpft_theory.scale.batch import simulate_batch

    out = dict(N=N, d=d, k=k, m=m, n=n, T=T, rtol_scipy=rtol_scipy, atol_scipy=atol_scipy)
    problems = [Problem.random(seed=i, d=d, k=k, m=m, n=n, eps=0.1) for i in range(N)]

    t0 = _now()
    members = [reduce(p) for p in problems]
    rp = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *members)
    _block(rp)
    out["setup_reduce_s"] = _now() - t0
    perp_sq = [float(k - np.sum(np.asarray(r.B_S0) ** 2)) for r in members]  # ‖B_⊥‖_F² (orthonormal rows)

    # reference: scipy DOP853 on the reduced flow at rtol 1e-12
    t0 = _now()
    ref = [scipy_reduced(*_np_rp(rp, i), T, 1e-12, 1e-14)[:2] for i in range(N)]
    out["reference_s"] = _now() - t0
    # check the reference against the full flow at the same tolerance on problem 0
    vf, Bf, _ = scipy_full(problems[0], T, 1e-12, 1e-14)
    U = np.asarray(members[0].U_S)
    out["reference_full_vs_reduced_err"] = _rel_err_reduced(vf, Bf @ U, ref[0][0], ref[0][1], perp_sq[0])
    log(f"  reference done ({out['reference_s']:.1f} s); full-vs-reduced reference gap "
        f"{out['reference_full_vs_reduced_err']:.2e}")

    # (a) scipy full
    t0 = _now()
    errs, nfev = [], []
    for i, p in enumerate(problems):
        v, B, nf = scipy_full(p, T, rtol_scipy, atol_scipy)
        B_S = B @ np.asarray(members[i].U_S)
        B_perp = B - B_S @ np.asarray(members[i].U_S).T
        B0_perp = np.asarray(p.B0) - np.asarray(members[i].B_S0) @ np.asarray(members[i].U_S).T
        num = np.sum((v - ref[i][0]) ** 2) + np.sum((B_S - ref[i][1]) ** 2) + np.sum((B_perp - B0_perp) ** 2)
        den = np.sum(ref[i][0] ** 2) + np.sum(ref[i][1] ** 2) + perp_sq[i]
        errs.append(float(np.sqrt(num / den)))
        nfev.append(nf)
    out["a_scipy_full"] = dict(time_s=_now() - t0, max_err=max(errs), median_nfev=float(np.median(nfev)))
    log(f"  (a) scipy full: {out['a_scipy_full']['time_s']:.2f} s, max err {max(errs):.2e}")

    # (b) scipy reduced
    t0 = _now()
    errs, nfev = [], []
    for i in range(N):
        v, B_S, nf = scipy_reduced(*_np_rp(rp, i), T, rtol_scipy, atol_scipy)
        errs.append(_rel_err_reduced(v, B_S, ref[i][0], ref[i][1], perp_sq[i]))
        nfev.append(nf)
    out["b_scipy_reduced"] = dict(time_s=_now() - t0, max_err=max(errs), median_nfev=float(np.median(nfev)))
    log(f"  (b) scipy reduced: {out['b_scipy_reduced']['time_s']:.2f} s, max err {max(errs):.2e}")

    # (c) lpft_theory: ladder of (solver, rtol)
    def errors(v, B_S):
        v, B_S = np.asarray(v), np.asarray(B_S)
        return max(_rel_err_reduced(v[i], B_S[i], ref[i][0], ref[i][1], perp_sq[i]) for i in range(N))

    ts = jnp.asarray([T])
    args = rp.flow
    rows = []
    for solver, rtol in ladder:
        atol = rtol * 1e-2
        row = dict(solver=solver, rtol=rtol, atol=atol)
        # batched, one vmap over all N (first call = compile + run)
        t0 = _now()
        bt = simulate_batch(rp, "ft", [T], rtol=rtol, atol=atol, solver=solver, group_size=None)
        _block(bt.v)
        first = _now() - t0
        times = []
        for _ in range(reps):
            t0 = _now()
            bt = simulate_batch(rp, "ft", [T], rtol=rtol, atol=atol, solver=solver, group_size=None)
            _block(bt.v)
            times.append(_now() - t0)
        row["batched_s"] = min(times)
        row["batched_compile_s"] = max(first - row["batched_s"], 0.0)
        row["max_err"] = errors(bt.v[:, -1], bt.B_S[:, -1])
        row["work_one_vmap"] = bt.info["work"]
        # batched, sorted by stiffness into groups
        bt = simulate_batch(rp, "ft", [T], rtol=rtol, atol=atol, solver=solver, group_size=group_size)
        _block(bt.v)
        times = []
        for _ in range(reps):
            t0 = _now()
            bt = simulate_batch(rp, "ft", [T], rtol=rtol, atol=atol, solver=solver, group_size=group_size)
            _block(bt.v)
            times.append(_now() - t0)
        row["grouped_s"] = min(times)
        row["grouped_max_err"] = errors(bt.v[:, -1], bt.B_S[:, -1])
        row["work_grouped"] = bt.info["work"]
        # single: the jitted core once per problem
        a0 = jax.tree_util.tree_map(lambda a: a[0], args)
        y00 = (rp.v0[0], rp.B_S0[0])
        _block(solve_at(ft_field, a0, y00, ts, jnp.asarray(rtol), jnp.asarray(atol), solver=solver))
        t0 = _now()
        vs, Bs = [], []
        for i in range(N):
            ai = jax.tree_util.tree_map(lambda a: a[i], args)
            (v, B_S), _, _ = solve_at(ft_field, ai, (rp.v0[i], rp.B_S0[i]), ts, jnp.asarray(rtol),
                                      jnp.asarray(atol), solver=solver)
            vs.append(v[-1])
            Bs.append(B_S[-1])
        _block((vs, Bs))
        row["single_loop_s"] = _now() - t0
        row["single_max_err"] = errors(jnp.stack(vs), jnp.stack(Bs))
        rows.append(row)
        log(f"  (c) {solver} rtol={rtol:g}: batched {row['batched_s']:.3f} s (compile {row['batched_compile_s']:.1f} s),"
            f" grouped {row['grouped_s']:.3f} s, single loop {row['single_loop_s']:.3f} s, max err {row['max_err']:.2e}")
    out["c_lpft_theory"] = rows

    a_err = out["a_scipy_full"]["max_err"]
    ok = [r for r in rows if max(r["max_err"], r["grouped_max_err"]) <= a_err]
    pick = min(ok, key=lambda r: min(r["batched_s"], r["grouped_s"])) if ok else min(rows, key=lambda r: r["max_err"])
    best = min(pick["batched_s"], pick["grouped_s"])
    out["headline"] = dict(
        config=f"{pick['solver']} rtol={pick['rtol']:g}",
        accuracy_matched=bool(ok),
        ours_batched_s=best,
        ours_err=max(pick["max_err"], pick["grouped_max_err"]),
        scipy_full_err=a_err,
        scipy_reduced_err=out["b_scipy_reduced"]["max_err"],
        speedup_vs_a=out["a_scipy_full"]["time_s"] / best,
        speedup_vs_b=out["b_scipy_reduced"]["time_s"] / best,
        speedup_single_vs_a=out["a_scipy_full"]["time_s"] / pick["single_loop_s"],
        speedup_single_vs_b=out["b_scipy_reduced"]["time_s"] / pick["single_loop_s"],
        speedup_vs_a_with_setup=out["a_scipy_full"]["time_s"] / (best + out["setup_reduce_s"]),
        speedup_vs_b_with_setup=(out["b_scipy_reduced"]["time_s"] + out["setup_reduce_s"]) / (best + out["setup_reduce_s"]),
    )
    return out


# --------------------------------------------------------------------------------------
# section 2


def embedding(d, d0, rng):
    """A random d×d0 matrix P with orthonormal columns (PᵀP = I); a blocked QR above 16384 rows
    (:func:`lpft_theory.geometry.orthonormal_columns`: O(d·d0) memory, ~10× faster than LAPACK's at d = 10⁶)."""
    from lpft_theory.geometry import orthonormal_columns

    return orthonormal_columns(rng.standard_normal((max(d, d0), d0)))


def embed(problem, P):
    """The same problem isometrically embedded in ℝ^d (X' = XPᵀ, B' = BPᵀ, w' = Pw, PᵀP = I)."""
    from lpft_theory import Problem

    f = lambda a: np.asarray(a) @ P.T  # noqa: E731
    return Problem.from_arrays(f(problem.X), np.asarray(problem.y), f(problem.B0), np.asarray(problem.v0),
                               P @ np.asarray(problem.w_star), B_star=f(problem.B_star), v_star=np.asarray(problem.v_star))


#: Above this d the d-independence rows embed only ``max_problems`` problems (default 8): each member
#: costs O(n·d) memory and seconds of set-up at d = 10⁶.
D_FULL_SET_MAX = 100_000
#: Default number of problems embedded at the largest d when it exceeds :data:`D_FULL_SET_MAX`.
D_LARGE_PROBLEMS = 8


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; ``ru_maxrss`` is in kB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def problems_per_row(N, dims, max_problems=None):
    """How many of the N base problems each d-independence row embeds.

    Every row uses all N, except the largest d: ``min(N, max_problems)`` when ``max_problems`` is given,
    else ``min(N, D_LARGE_PROBLEMS)`` when that d exceeds :data:`D_FULL_SET_MAX`.
    """
    counts = [N] * len(dims)
    if dims:
        if max_problems is not None:
            counts[-1] = min(N, int(max_problems))
        elif dims[-1] > D_FULL_SET_MAX:
            counts[-1] = min(N, D_LARGE_PROBLEMS)
    return counts


def _strip_lift(rp):
    """The reduced problem without its d-sized lift basis Q (d × (m+r)), which the solve never reads:
    kept, 32 members at d = 10⁶ would hold 12.5 GB. Replaced by an empty (…, 0, m+r) array."""
    import equinox as eqx
    import jax.numpy as jnp

    return eqx.tree_at(lambda r: r.basis, rp, jnp.zeros(rp.basis.shape[:-2] + (0, rp.basis.shape[-1])))


def bench_d_independence(N, dims, k, m, n, T, rtol, solver, reps, log, max_problems=None):
    r"""Solve time of one set of problems embedded isometrically into ℝ^d, for each d in ``dims``.

    Per row: ``build_s`` (the embedding P and the embedded, validated Problems), ``setup_reduce_s``
    (:func:`~lpft_theory.reduced.reduce`) and ``solve_s`` (the batched FT solve; best of ``reps``
    after one compiling call) are reported separately. Members are reduced one at a time and only
    their d-free reduced form is kept (:func:`_strip_lift`), so peak memory is that of one embedded
    problem (about 3 GB at d = 10⁶, n = 64), whatever the count. The largest d may embed fewer
    problems (:func:`problems_per_row`); every row reports its ``N`` and is compared with the
    smallest d solved on the same first ``N`` problems (``solve_s_smallest_d_same_N``,
    ``ratio_to_smallest_d``; equal ``total_steps`` means identical dynamics).
    """
    import jax
    import jax.numpy as jnp

    from lpft_theory import Problem, reduce
    from lpft_theory.scale.batch import simulate_batch

    dims = [int(d) for d in dims]
    counts = problems_per_row(N, dims, max_problems)
    base = [Problem.random(seed=1000 + i, d=100, k=k, m=m, n=n, eps=0.1) for i in range(N)]

    def solve(rp):
        bt = simulate_batch(rp, "ft", [T], rtol=rtol, atol=rtol * 1e-2, solver=solver, group_size=None)  # compile (shape is d-free)
        _block(bt.v)
        times = []
        for _ in range(reps):
            t0 = _now()
            bt = simulate_batch(rp, "ft", [T], rtol=rtol, atol=rtol * 1e-2, solver=solver, group_size=None)
            _block(bt.v)
            times.append(_now() - t0)
        return bt, times

    rows = []
    smallest = None  # the stacked reduced problems at the smallest d (d-free: the lift is stripped)
    for d, count in zip(dims, counts):
        t0 = _now()
        P = embedding(d, 100, np.random.default_rng(d))
        t_build = _now() - t0
        t_reduce = 0.0
        members = []
        for p in base[:count]:
            t0 = _now()
            q = embed(p, P)
            t_build += _now() - t0
            t0 = _now()
            members.append(_strip_lift(reduce(q)))
            t_reduce += _now() - t0
            del q
        del P
        rp = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *members)
        del members
        bt, times = solve(rp)
        row = dict(d=d, N=count, build_s=t_build, setup_reduce_s=t_reduce, setup_s=t_build + t_reduce,
                   solve_s=min(times), solve_s_all=times, total_steps=int(np.sum(bt.num_steps)),
                   final_v_checksum=float(jnp.sum(jnp.abs(bt.v[:, -1]))), peak_rss_mb=_peak_rss_mb())
        if smallest is None:
            smallest = rp
        rows.append(row)
        log(f"  d={d} (N={count}): build {t_build:.2f} s, reduce {t_reduce:.2f} s, solve {min(times):.3f} s, "
            f"steps {row['total_steps']}, peak RSS {row['peak_rss_mb']:.0f} MB")
        del rp, bt
    # the reference for each row: the smallest d, solved on the same first N problems
    ref = {rows[0]["N"]: (rows[0]["solve_s"], rows[0]["total_steps"], rows[0]["final_v_checksum"])}
    for row in rows:
        if row["N"] not in ref:
            sub = jax.tree_util.tree_map(lambda a: a[: row["N"]], smallest)
            bt, times = solve(sub)
            ref[row["N"]] = (min(times), int(np.sum(bt.num_steps)), float(jnp.sum(jnp.abs(bt.v[:, -1]))))
            log(f"  d={rows[0]['d']} on the first {row['N']} problems (reference): solve {min(times):.3f} s")
        s_ref, steps_ref, check_ref = ref[row["N"]]
        row.update(solve_s_smallest_d_same_N=s_ref, total_steps_smallest_d_same_N=steps_ref,
                   final_v_checksum_smallest_d_same_N=check_ref, ratio_to_smallest_d=row["solve_s"] / s_ref)
    return dict(N=N, k=k, m=m, n=n, T=T, rtol=rtol, solver=solver, rows=rows, max_problems=max_problems,
                ratio_largest_to_smallest=rows[-1]["ratio_to_smallest_d"],
                peak_rss_mb=max(r["peak_rss_mb"] for r in rows))


# --------------------------------------------------------------------------------------
# section 3


def bench_lockstep(N, d, k, m, n, T, rtol, solver, group_sizes, reps, log):
    import jax
    import jax.numpy as jnp

    from lpft_theory import Problem, reduce
    from lpft_theory.scale.batch import simulate_batch, stiffness_estimate

    members = [reduce(Problem.random(seed=2000 + i, d=d, k=k, m=m, n=n, eps=0.1)) for i in range(N)]
    rp = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *members)
    est = stiffness_estimate(rp.G, rp.v0, rp.B_S0)
    rows = []
    steps = None
    for gs, sort in [(N, False)] + [(g, True) for g in group_sizes] + [(g, False) for g in group_sizes]:
        kw = dict(rtol=rtol, atol=rtol * 1e-2, solver=solver, group_size=gs, sort=sort)
        bt = simulate_batch(rp, "ft", [T], **kw)
        _block(bt.v)
        times = []
        for _ in range(reps):
            t0 = _now()
            bt = simulate_batch(rp, "ft", [T], **kw)
            _block(bt.v)
            times.append(_now() - t0)
        steps = np.asarray(bt.num_steps)
        rows.append(dict(group_size=gs, sorted=sort, time_s=min(times),
                         us_per_executed_member_step=1e6 * min(times) / bt.info["work"]["lockstep_steps"], **bt.info["work"]))
        log(f"  group {gs:>4} sorted={sort!s:5}: {min(times):.3f} s, waste {bt.info['work']['waste']:.1%}, "
            f"lockstep/member steps {bt.info['work']['lockstep_steps']}/{bt.info['work']['member_steps']}")
    corr = float(np.corrcoef(est, steps)[0, 1])
    return dict(N=N, d=d, k=k, m=m, n=n, T=T, rtol=rtol, solver=solver, rows=rows,
                steps_min=int(steps.min()), steps_median=float(np.median(steps)), steps_max=int(steps.max()),
                corr_estimate_vs_steps=corr)


# --------------------------------------------------------------------------------------
# section 4: GPU throughput (runs when a GPU is visible)

#: FP64 (non-tensor-core) peaks in TFLOP/s, from the vendors' data sheets.
FP64_PEAK_TFLOPS = {"H100": 34.0, "H200": 34.0, "A100": 9.7}


def flops_per_tsit5_step(k, m):
    r"""Analytic FLOPs of one Tsit5 step of the reduced FT flow (6 new field evaluations, FSAL).

    Field: Bᵀv (2km), minus a (m), G·(…) (2m²), −2B_S r (2km + k), −2vrᵀ (2km) ≈ 6km + 2m² + m + k.
    Runge–Kutta algebra on the state (size S = k + km): stage combinations 2S(1+…+6), solution and
    error estimate 2·7S each, error norm ≈ 3S.
    """
    S = k + k * m
    field = 6 * k * m + 2 * m * m + m + k
    return 6 * field + 2 * S * 21 + 2 * 7 * S * 2 + 3 * S


def sample_reduced(key, N, k, m, n, d):
    r"""Reduced FT problems sampled directly on the device (no d-sized arrays).

    Same distribution as ``reduce(Problem.random(d, k, m, n, input_cond=1))`` for G, v0 and B_S0,
    except that B* and B0 are drawn independently (ε is not controlled; irrelevant for throughput):
    G = ZᵀZ with Z ~ N(0,1)^{n×m}; v0 ~ N(0, I_k); B_S0 = B0U_S is the k×m block of a random
    k-frame in ℝ^d, sampled exactly as (G_mG_mᵀ + W)^{-1/2}G_m with G_m ~ N(0,1)^{k×m} and
    W ~ Wishart_k(I, d − m) by the Bartlett decomposition; a* = (B*U_S)ᵀv* likewise with ‖v*‖ = 1.
    """
    import jax
    import jax.numpy as jnp

    def frame_block(key):
        k1, k2, k3 = jax.random.split(key, 3)
        Gm = jax.random.normal(k1, (k, m))
        dof = d - m - jnp.arange(k)
        diag = jnp.sqrt(jax.random.chisquare(k2, dof.astype(jnp.float64), (k,)))
        L = jnp.tril(jax.random.normal(k3, (k, k)), -1) + jnp.diag(diag)
        C = Gm @ Gm.T + L @ L.T
        lam, V = jnp.linalg.eigh(C)
        return (V / jnp.sqrt(lam)) @ V.T @ Gm

    def one(key):
        kz, kv, kb, ks, kw = jax.random.split(key, 5)
        Z = jax.random.normal(kz, (n, m))
        v0 = jax.random.normal(kv, (k,))
        B_S0 = frame_block(kb)
        Bs = frame_block(ks)
        vs = jax.random.normal(kw, (k,))
        a = Bs.T @ (vs / jnp.linalg.norm(vs))
        return Z.T @ Z, a, v0, B_S0

    f = jax.jit(jax.vmap(one))
    keys = jax.random.split(key, N)
    block = 2**17  # Z is n·m per member: sample in blocks to bound device memory
    parts = [f(keys[s : s + block]) for s in range(0, N, block)]
    return tuple(jnp.concatenate(xs) if len(xs) > 1 else xs[0] for xs in zip(*parts))


def bench_gpu(batches, k, m, n, d, T, rtol, chunk, group_size, naive_max, log, smoke=False):
    import jax
    import jax.numpy as jnp

    from lpft_theory.flows import ft_field
    from lpft_theory.integrate import DEFAULT_MAX_STEPS, batched_solve_at, jit_cached
    from lpft_theory.reduced import FlowView
    from lpft_theory.scale.batch import stiffness_estimate

    dev = jax.devices()[0]
    name = getattr(dev, "device_kind", str(dev))
    peak = next((v for key, v in FP64_PEAK_TFLOPS.items() if key in name), None)
    atol = rtol * 1e-2
    jitted = jit_cached(batched_solve_at(ft_field, "tsit5", DEFAULT_MAX_STEPS))  # the core simulate_batch uses
    rep = (jnp.asarray([T]), jnp.asarray(rtol), jnp.asarray(atol))
    fps = flops_per_tsit5_step(k, m)
    rows = []

    def solve(fn, G, a, v0, B0, size):
        """Solve in blocks of ``size`` (the compiled shape); the batch is padded once to whole blocks."""
        N = G.shape[0]
        nb = -(-N // size)
        pad = nb * size - N

        def blocks(x):
            if pad:
                x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)])
            return x.reshape((nb, size) + x.shape[1:])

        Gb, ab, vb, Bb = blocks(G), blocks(a), blocks(v0), blocks(B0)
        outs = [fn((FlowView(Gb[i], ab[i], Bb[i], vb[i]), (vb[i], Bb[i])), rep)[1] for i in range(nb)]  # async dispatch
        st = np.concatenate([np.asarray(o) for o in outs])
        lock = int(sum(size * st[i * size:(i + 1) * size].max() for i in range(nb)))  # padding counts as executed
        return st[:N], lock

    for B in batches:
        G, a, v0, B0 = _block(sample_reduced(jax.random.PRNGKey(B), B, k, m, n, d))
        for variant in ("grouped", "naive"):
            if variant == "naive" and B > naive_max:
                continue
            size = min(B, chunk) if variant == "naive" else min(B, group_size)
            t0 = _now()
            if variant == "grouped":
                order = jnp.asarray(np.argsort(stiffness_estimate(G, v0, B0), kind="stable"))
                Gs, as_, vs, Bs = G[order], a[order], v0[order], B0[order]
            else:
                Gs, as_, vs, Bs = G, a, v0, B0
            # compile separately (lower + compile on the block shape)
            tc = _now()
            compiled = jitted.lower((FlowView(Gs[:size], as_[:size], Bs[:size], vs[:size]), (vs[:size], Bs[:size])), rep).compile()
            compile_s = _now() - tc
            t1 = _now()
            steps, lock = solve(compiled, Gs, as_, vs, Bs, size)
            run_s = _now() - t1
            total_s = _now() - t0
            flops = fps * lock
            row = dict(batch=B, variant=variant, block=size, compile_s=compile_s, run_s=run_s,
                       total_incl_compile_s=total_s, traj_per_s=B / run_s, us_per_traj=1e6 * run_s / B,
                       member_steps=int(steps.sum()), lockstep_steps=lock, waste=1 - steps.sum() / lock,
                       gflops=flops / run_s / 1e9, fp64_peak_fraction=(flops / run_s / 1e12 / peak) if peak else None)
            rows.append(row)
            log(f"  batch {B:>8} {variant:7}: {row['traj_per_s']:.0f} traj/s ({row['us_per_traj']:.1f} µs/traj), "
                f"compile {compile_s:.1f} s, waste {row['waste']:.1%}, {row['gflops']:.1f} GFLOP/s")
        del G, a, v0, B0
    return dict(device=name, smoke_on_cpu=smoke, k=k, m=m, n=n, d=d, T=T, rtol=rtol, atol=atol, chunk=chunk,
                group_size=group_size, flops_per_step=fps, fp64_peak_tflops=peak, rows=rows)


# --------------------------------------------------------------------------------------
# report


def markdown(res) -> str:
    L = []
    env = res["environment"]
    L.append(f"# bench_flow results ({env['date_utc']})\n")
    L.append(f"Command: `{env['command']}`  ")
    L.append(f"Device: {env['cpu']} ({env['cpu_count']} logical CPUs), backend {env['backend']}, devices {env['devices']}  ")
    L.append(f"Versions: python {env['python']}, jax {env['jax']}, diffrax {env['diffrax']}, scipy {env['scipy']}, "
             f"numpy {env['numpy']}  ")
    L.append(f"Load average at start: {env['load_average']}\n")
    if "vs_scipy" in res:
        s = res["vs_scipy"]
        L.append(f"## FT flow, scipy vs lpft_theory (N={s['N']}, d={s['d']}, k={s['k']}, m={s['m']}, n={s['n']}, "
                 f"t∈[0,{s['T']:g}])\n")
        L.append(f"Set-up (reduce all N problems): {s['setup_reduce_s']:.3f} s. Reference: scipy DOP853 reduced, "
                 f"rtol 1e-12 (full-vs-reduced reference gap on problem 0: {s['reference_full_vs_reduced_err']:.1e}).\n")
        L.append("| side | config | time for N (s) | max rel. error | notes |")
        L.append("|---|---|---|---|---|")
        a, b = s["a_scipy_full"], s["b_scipy_reduced"]
        L.append(f"| (a) scipy full | DOP853 rtol {s['rtol_scipy']:g} | {a['time_s']:.3f} | {a['max_err']:.2e} | "
                 f"median nfev {a['median_nfev']:.0f} |")
        L.append(f"| (b) scipy reduced | DOP853 rtol {s['rtol_scipy']:g} | {b['time_s']:.3f} | {b['max_err']:.2e} | "
                 f"median nfev {b['median_nfev']:.0f} |")
        for r in s["c_lpft_theory"]:
            L.append(f"| (c) batched, one vmap | {r['solver']} rtol {r['rtol']:g} | {r['batched_s']:.4f} | "
                     f"{r['max_err']:.2e} | compile {r['batched_compile_s']:.1f} s, waste {r['work_one_vmap']['waste']:.0%} |")
            L.append(f"| (c) batched, grouped | {r['solver']} rtol {r['rtol']:g} | {r['grouped_s']:.4f} | "
                     f"{r['grouped_max_err']:.2e} | {r['work_grouped']['groups']} groups, waste "
                     f"{r['work_grouped']['waste']:.0%} |")
            L.append(f"| (c) single, loop | {r['solver']} rtol {r['rtol']:g} | {r['single_loop_s']:.4f} | "
                     f"{r['single_max_err']:.2e} | jitted core per problem |")
        h = s["headline"]
        L.append("")
        L.append(f"**Headline** ({h['config']}, accuracy matched: {h['accuracy_matched']}; error {h['ours_err']:.1e} vs "
                 f"(a) {h['scipy_full_err']:.1e}, (b) {h['scipy_reduced_err']:.1e}): batched is "
                 f"**{h['speedup_vs_a']:.0f}×** faster than (a) and **{h['speedup_vs_b']:.1f}×** faster than (b); "
                 f"single-problem loop {h['speedup_single_vs_a']:.0f}× / {h['speedup_single_vs_b']:.1f}×; "
                 f"with set-up included {h['speedup_vs_a_with_setup']:.1f}× / {h['speedup_vs_b_with_setup']:.1f}×.\n")
    if "d_independence" in res:
        s = res["d_independence"]
        L.append(f"## d-independence (N={s['N']}, k={s['k']}, m={s['m']}, n={s['n']}, t∈[0,{s['T']:g}], "
                 f"{s['solver']} rtol {s['rtol']:g})\n")
        d0 = s["rows"][0]["d"]
        L.append(f"| d | N | build (s) | reduce (s) | set-up (s) | solve (s) | solve at d={d0}, same N (s) | ratio | "
                 "total steps | peak RSS (MB) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in s["rows"]:
            L.append(f"| {r['d']} | {r['N']} | {r['build_s']:.3f} | {r['setup_reduce_s']:.3f} | {r['setup_s']:.3f} | "
                     f"{r['solve_s']:.4f} | {r['solve_s_smallest_d_same_N']:.4f} | {r['ratio_to_smallest_d']:.2f} | "
                     f"{r['total_steps']} | {r['peak_rss_mb']:.0f} |")
        L.append(f"\nSet-up = build (embedding + validation) + reduce, O(n·d·m) per problem; solve = the batched FT "
                 f"solve (best of the repeats, compiled first), which never sees d. N = problems embedded in the row "
                 f"(the largest d may embed fewer: `--d-max-problems`); each row is compared with d={d0} solved on "
                 f"the same first N problems. Peak RSS: the process so far.\n")
        L.append(f"Solve time at d={s['rows'][-1]['d']} / d={d0} (same N={s['rows'][-1]['N']}): "
                 f"**{s['ratio_largest_to_smallest']:.2f}**\n")
    if "lockstep" in res:
        s = res["lockstep"]
        L.append(f"## Lockstep waste (N={s['N']}, d={s['d']}, t∈[0,{s['T']:g}], {s['solver']} rtol {s['rtol']:g})\n")
        L.append(f"Steps per member: min {s['steps_min']}, median {s['steps_median']:.0f}, max {s['steps_max']}; "
                 f"correlation of the stiffness estimate with the steps: {s['corr_estimate_vs_steps']:.3f}\n")
        L.append("| group size | sorted | time (s) | member-steps | executed (lockstep) | waste | µs per executed member-step |")
        L.append("|---|---|---|---|---|---|---|")
        for r in s["rows"]:
            L.append(f"| {r['group_size']} | {r['sorted']} | {r['time_s']:.3f} | {r['member_steps']} | "
                     f"{r['lockstep_steps']} | {r['waste']:.1%} | {r['us_per_executed_member_step']:.2f} |")
        L.append("")
    if "gpu" in res:
        s = res["gpu"]
        label = " — SMOKE RUN ON CPU, not a GPU result" if s["smoke_on_cpu"] else ""
        L.append(f"## GPU throughput ({s['device']}{label})\n")
        L.append(f"k={s['k']}, m={s['m']}, n={s['n']}, d={s['d']} (sampled in reduced form), t∈[0,{s['T']:g}], rtol "
                 f"{s['rtol']:g}, Tsit5, float64; {s['flops_per_step']} FLOP per member-step; FP64 peak "
                 f"{s['fp64_peak_tflops']} TFLOP/s\n")
        L.append("| batch | variant | block | compile (s) | run (s) | traj/s | µs/traj | waste | GFLOP/s | FP64 peak fraction |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in s["rows"]:
            frac = "n/a" if r["fp64_peak_fraction"] is None else f"{r['fp64_peak_fraction']:.2%}"
            L.append(f"| {r['batch']} | {r['variant']} | {r['block']} | {r['compile_s']:.1f} | {r['run_s']:.2f} | "
                     f"{r['traj_per_s']:.0f} | {r['us_per_traj']:.1f} | {r['waste']:.1%} | {r['gflops']:.1f} | {frac} |")
        L.append("")
    elif "gpu_note" in res:
        L.append(f"## GPU throughput\n\n{res['gpu_note']}\n")
    return "\n".join(L)




def build_parser(prog="bench_flow.py"):
    p = argparse.ArgumentParser(prog=prog, description="FT-flow benchmark: scipy vs lpft_theory (see module docstring)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run in seconds; ratios not meaningful)")
    p.add_argument("--out", default="benchmarks/results", metavar="DIR", help="output folder (default benchmarks/results)")
    p.add_argument("--sections", default="scipy,d,lockstep,gpu", help="comma list of scipy,d,lockstep,gpu")
    p.add_argument("--gpu-smoke", action="store_true", help="without a GPU, run the GPU code path on CPU at tiny size "
                   "(always on with --quick)")
    p.add_argument("--gpu-max-batch", type=int, default=10**6, help="largest GPU batch (default 1e6)")
    add_d_arguments(p, int)
    return p


#: Help texts of the d-independence options (shared by ``bench_flow.py`` and ``lpft-theory bench``).
D_DIMS_HELP = ("comma list of the dimensions d of the d-independence section, each >= 100, increasing; 1e6 "
               "notation accepted (default 100,1000,10000,100000; --quick: 100,1000), e.g. "
               "100,1000,10000,100000,1000000")
D_MAX_PROBLEMS_HELP = (f"number of the base problems embedded at the largest d (default: all, or "
                       f"{D_LARGE_PROBLEMS} when the largest d exceeds {D_FULL_SET_MAX}); each row reports its N and "
                       f"is compared with the smallest d solved on the same problems")


def add_d_arguments(p, int_type) -> None:
    """``--d-dims`` and ``--d-max-problems`` (``int_type`` parses a positive integer)."""
    p.add_argument("--d-dims", default=None, metavar="LIST", help=D_DIMS_HELP)
    p.add_argument("--d-max-problems", type=int_type, default=None, metavar="N", help=D_MAX_PROBLEMS_HELP)


def parse_dims(text):
    """``--d-dims``: a comma list of integers >= 100 (the base dimension), strictly increasing; None = default."""
    if text is None:
        return None
    dims = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"--d-dims: {item!r} is not a number (expected a comma list such as 100,1000,1e6)") from None
        if not (np.isfinite(value) and value.is_integer()):
            raise ValueError(f"--d-dims: {item!r} is not an integer")
        dims.append(int(value))
    if not dims:
        raise ValueError("--d-dims: no dimension given")
    if dims[0] < 100:
        raise ValueError(f"--d-dims: every d must be >= 100 (the base problems live in R^100), got {dims[0]}")
    if any(b <= a for a, b in zip(dims, dims[1:])):
        raise ValueError(f"--d-dims: dimensions must be strictly increasing, got {dims}")
    return dims


def run(args, log=print) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - {"scipy", "d", "lockstep", "gpu"}
    if unknown:
        raise ValueError(f"--sections: unknown section(s) {sorted(unknown)}; allowed scipy,d,lockstep,gpu")
    dims = parse_dims(getattr(args, "d_dims", None))
    max_problems = getattr(args, "d_max_problems", None)
    if max_problems is not None and int(max_problems) < 1:
        raise ValueError(f"--d-max-problems must be >= 1, got {max_problems}")
    res = dict(environment=environment(), quick=bool(args.quick))
    q = args.quick
    if "scipy" in sections:
        log("[1] scipy vs lpft_theory")
        if q:
            res["vs_scipy"] = bench_vs_scipy(N=4, d=100, k=2, m=6, n=12, T=0.5, rtol_scipy=1e-8, atol_scipy=1e-10,
                                             ladder=[("tsit5", 1e-8), ("tsit5_fused", 1e-8)], group_size=2, reps=1,
                                             log=log)
        else:
            ladder = [("tsit5", 1e-8), ("tsit5", 1e-9), ("tsit5", 1e-10), ("dopri8", 1e-8), ("dopri8", 1e-9),
                      ("tsit5_fused", 1e-8), ("tsit5_fused", 1e-9), ("tsit5_fused", 1e-10)]
            res["vs_scipy"] = bench_vs_scipy(N=64, d=1000, k=8, m=32, n=64, T=1.0, rtol_scipy=1e-8, atol_scipy=1e-10,
                                             ladder=ladder, group_size=16, reps=3, log=log)
    if "d" in sections:
        log("[2] d-independence")
        if q:
            res["d_independence"] = bench_d_independence(N=4, dims=dims or (100, 1000), k=2, m=6, n=12, T=0.5,
                                                         rtol=1e-8, solver="tsit5", reps=1, log=log,
                                                         max_problems=max_problems)
        else:
            res["d_independence"] = bench_d_independence(N=32, dims=dims or (100, 1000, 10_000, 100_000), k=8, m=32,
                                                         n=64, T=1.0, rtol=1e-8, solver="tsit5", reps=5, log=log,
                                                         max_problems=max_problems)
    if "lockstep" in sections:
        log("[3] lockstep waste")
        if q:
            res["lockstep"] = bench_lockstep(N=4, d=100, k=2, m=6, n=12, T=0.5, rtol=1e-8, solver="tsit5",
                                             group_sizes=(2,), reps=1, log=log)
        else:
            res["lockstep"] = bench_lockstep(N=256, d=200, k=8, m=32, n=64, T=5.0, rtol=1e-8, solver="tsit5",
                                             group_sizes=(64, 16), reps=1, log=log)
    if "gpu" in sections:
        has_gpu = jax.default_backend() == "gpu"
        if has_gpu:
            log("[4] GPU throughput")
            batches = [b for b in (10**3, 10**4, 10**5, 10**6) if b <= args.gpu_max_batch]
            res["gpu"] = bench_gpu(batches, k=8, m=32, n=64, d=1000, T=50.0, rtol=1e-8, chunk=2**18,
                                   group_size=2**15, naive_max=10**5, log=log)
        elif args.gpu_smoke or q:
            # the same code path on CPU at the quick shapes (compiled above, so this costs little)
            log("[4] GPU code path, smoke run on CPU (not a GPU result)")
            res["gpu"] = bench_gpu([4], k=2, m=6, n=12, d=100, T=0.5, rtol=1e-8, chunk=4, group_size=2,
                                   naive_max=4, log=log, smoke=True)
        else:
            res["gpu_note"] = f"No GPU visible (backend {jax.default_backend()}): the GPU section was not run."
            log("[4] " + res["gpu_note"])
    os.makedirs(args.out, exist_ok=True)
    from lpft_theory.atomic import write_text

    write_text(os.path.join(args.out, "bench_flow.json"), json.dumps(res, indent=1, default=float))
    write_text(os.path.join(args.out, "bench_flow.md"), markdown(res))
    log(f"wrote {os.path.join(args.out, 'bench_flow.json')} and bench_flow.md")
    return res


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

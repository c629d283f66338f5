r"""Randomised campaign for the FT lower bound (both statements, ``docs/theory.md`` §4).

Each trial draws a problem from a sampling grid that covers what the issue asks for:

* shapes (d, k, m, n) across the regime, k = 1 included, and one shape outside the
  submission's printed regime (k < d − n fails) where only the final version applies;
* ε = d(B₀, B*) from 0 to 0.5 (exact zeros, log-uniform from 1e-4, uniform);
* the representative (B*, v*) of w* aligned with B₀ (:func:`theory.align_representative`):
  φ compares v₀ with v*, which is only meaningful in B₀'s coordinates;
* heads: zero, random N(0, s²I) with s log-uniform over three decades, and *given* heads
  v₀ = α v* + noise (α uniform in [−3, 3]) — the only way the printed φ² ≥ 0 is reached;
* ‖w*‖ log-uniform over 1e-2 … 1e2;
* cos²θ(R₀, S) (``id_overlap``) uniform in [0.01, 0.99], or a uniformly random S;
* Σ = I or anisotropic Σ with condition number log-uniform in [1, 100];
* input condition number log-uniform in [1, 10].

Every trial is observed by :mod:`lpft_theory.theory.observe` (batched by padded shape group,
``jax.vmap``) with the same certified brackets and refinement as the observer's default, but with the
package's Rodas4 loop as the stiff solver (:data:`SCREEN_SOLVER`, :mod:`lpft_theory._rosenbrock`; one
Jacobian and one factorisation per step instead of Kvaerno5's Newton iterations, and no saved steps).
**Two-stage accuracy**: the screen runs at rtol 1e-7 (on the first 512 trials of seed 0 its minimum
differed from Kvaerno5's rtol-1e-10 value by at most 5.2e-7 × max(1, |value|), measured in
``BENCHMARKS.md``, far inside the re-check band); every trial whose screened margin is below
:data:`RECHECK_RTOL` (relative) is observed again at rtol 1e-10, and a trial is a *violation* only
if that tight value is below the bound by more than :func:`theory.violation_tolerance`. Each
violation is then re-integrated by :mod:`lpft_theory.theory.reference` (full dimension, rtol 1e-11;
Radau to a flagged minimum at t = ∞, else DOP853, switched to Radau past
:data:`~lpft_theory.theory.reference.CONFIRM_MAX_NFEV` evaluations) and reported as confirmed or
unconfirmed.

**Stages and processes.** A campaign runs in three stages (:func:`_screen`, :func:`_recheck`,
:func:`_confirm`). From :data:`PARALLEL_MIN_TRIALS` trials on, ``min(2, CPU count)`` spawned worker
processes run them as tasks (:func:`_trials_parallel`):

1. the screen, in tasks of at most :data:`CHUNK` trials of one padded K each, the groups interleaved,
   so that the workers' first tasks compile different kernels and each loads the other's from the
   persistent compilation cache when the parent uses one (the command line does: :mod:`lpft_theory._cache`);
2. the tight re-checks of all tasks together, in full batches of the screen's size, which run the
   screen's compiled kernels (the tolerances are traced arguments), so no kernel is compiled twice;
3. one task per flagged trial for the reference integration.

In one process (:func:`_trials`) the same stages run in turn. A vmapped member's result does not depend
on the other members of its batch, so both give the same rows (``tests/theory/test_campaign.py``).
Host threads are not used: two concurrent XLA executions from one process deadlocked on the CPU backend
(jax 0.10, 2 cores).
"""

from __future__ import annotations

import collections.abc
import copy
import json
import os
import re
import time

import jax.numpy as jnp
import numpy as np

from .. import _pool
from . import observe, reference
from . import bounds as theory
from ..problem import Problem, _random_arrays

#: The distribution random trials are drawn from: shapes (d, k, m, n), ε, head kind and scale, ‖w*‖, the
#: overlap of the ID subspace with B₀'s rows, Σ and the conditioning of the inputs. :func:`load_grid`
#: overrides its top-level keys from a JSON file (``check-bound --grid FILE``).
DEFAULT_GRID = {
    # (d, k, m, n). [12, 2, 5, 10] is outside the printed regime (k < d - n fails); the cost per trial
    # grows with k*m (the reduced state), not with d, so d reaches 40 while k*m stays small.
    "shapes": [[8, 1, 2, 4], [10, 1, 4, 5], [10, 2, 2, 4], [12, 2, 4, 8], [12, 2, 5, 10], [14, 3, 3, 6],
               [40, 3, 4, 8]],
    "eps": {"zero_frac": 0.1, "log_frac": 0.45, "log_range": [1e-4, 0.5], "uniform_range": [0.0, 0.5]},
    "head": {"zero_frac": 0.1, "given_frac": 0.4, "random_scale_log10": [-2.0, 1.0], "given_alpha": [-3.0, 3.0],
             "given_noise": 0.3},
    "w_star_norm_log10": [-2.0, 2.0],
    "id_overlap": {"random_subspace_frac": 0.2, "range": [0.01, 0.99]},
    "sigma": {"anisotropic_frac": 0.5, "cond_log10": [0.0, 2.0]},
    "input_cond_log10": [0.0, 1.0],
}
#: Trials whose screened margin is below RECHECK_RTOL * max(1, |bound|, observed, ||w*||) are re-observed tight.
RECHECK_RTOL = 1e-4
SCREEN_RTOL = 1e-7
SCREEN_ATOL = 1e-10
#: The solver of the screen and of the tight re-check: the package's Rodas4 loop (:mod:`lpft_theory._rosenbrock`),
#: streamed (no saved steps). On the first 512 trials of seed 0 (``benchmarks/observer_profile.py``,
#: ``BENCHMARKS.md``, fifth pass) its rtol-1e-10 minima are within 1.8e-7 × max(1, |value|) of the observer's
#: default, diffrax's Kvaerno5, at 3.5x less time (the worst trial is a t = ∞ minimum where both sit ~1e-4
#: relative below the scipy reference's limit: the limit polish, not the solver); its rtol-1e-7 screen is within
#: 5.2e-7 of Kvaerno5 at rtol 1e-10 (Kvaerno5's own screen: 7.4e-7), far inside the re-check band.
SCREEN_SOLVER = "rodas4_fused"
RECHECK_SOLVER = "rodas4_fused"
#: Problems per vmapped batch of the screen (the streaming solve: 32 is ~1.5x faster per trial than 8 on 2 cores).
SCREEN_BATCH = 32
DEFAULT_TRIALS = 10_000
QUICK_TRIALS = 200
WORST_CASES = 20
#: Campaigns smaller than this run in one process (spawning workers costs a compilation each).
PARALLEL_MIN_TRIALS = 500


def load_grid(path=None) -> dict:
    """The default grid, with the top-level keys of a JSON file (if given) replacing it."""
    grid = copy.deepcopy(DEFAULT_GRID)
    if path is None:
        return grid
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"--grid: file {path!r} does not exist")
    try:
        with open(path) as f:
            user = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"--grid: {path!r} is not valid JSON ({e})") from None
    if not isinstance(user, dict):
        raise ValueError(f"--grid: {path!r} must hold a JSON object")
    unknown = sorted(set(user) - set(grid))
    if unknown:
        raise ValueError(f"--grid: unknown key(s) {unknown}; allowed: {sorted(grid)}")
    grid.update(user)
    for s in grid["shapes"]:
        if not (isinstance(s, (list, tuple)) and len(s) == 4 and all(isinstance(x, int) and x > 0 for x in s)):
            raise ValueError(f"--grid: shapes must be lists [d, k, m, n] of positive integers, got {s!r}")
    return grid


def sample_trial(seed: int, grid: dict):
    """One random problem and the parameters that drew it (a dict), from ``numpy.random.default_rng(seed)``."""
    arrays, noisy, meta = _sample_arrays(seed, grid)
    return Problem._from_random(arrays, noisy, meta["m"]), meta


def _draw_shape(rng, grid: dict) -> tuple:
    """(d, k, m, n) of a trial: the first draw of its generator (:func:`_sample_arrays`, :func:`_group_of`)."""
    return tuple(int(x) for x in grid["shapes"][rng.integers(len(grid["shapes"]))])


def _sample_arrays(seed: int, grid: dict):
    """The arrays of trial ``seed`` (numpy, not yet validated: :meth:`Problem._from_random`), whether its
    labels are noisy, and its parameters. The problem is ``Problem.random`` with the representative
    (B*, v*) aligned with B₀ (:func:`theory.aligned_pair`; w* unchanged) and, for a given head, v₀ set;
    built as arrays and validated once, so a worker makes no device array per trial."""
    rng = np.random.default_rng(seed)
    d, k, m, n = _draw_shape(rng, grid)
    e = grid["eps"]
    u = rng.uniform()
    if u < e["zero_frac"]:
        eps = 0.0
    elif u < e["zero_frac"] + e["log_frac"]:
        eps = float(np.exp(rng.uniform(*np.log(e["log_range"]))))
    else:
        eps = float(rng.uniform(*e["uniform_range"]))
    wn = float(10 ** rng.uniform(*grid["w_star_norm_log10"]))
    io = grid["id_overlap"]
    overlap = None if rng.uniform() < io["random_subspace_frac"] else float(rng.uniform(*io["range"]))
    sg = grid["sigma"]
    aniso = rng.uniform() < sg["anisotropic_frac"]
    scond = float(10 ** rng.uniform(*sg["cond_log10"]))
    icond = float(10 ** rng.uniform(*grid["input_cond_log10"]))
    h = grid["head"]
    u = rng.uniform()
    head_kind = "zero" if u < h["zero_frac"] else "given" if u < h["zero_frac"] + h["given_frac"] else "random"
    scale = float(10 ** rng.uniform(*h["random_scale_log10"]))
    alpha = float(rng.uniform(*h["given_alpha"]))
    pseed = int(rng.integers(2**31))
    arrays, noisy = _random_arrays(pseed, d=d, k=k, m=m, n=n, eps=eps, head="random" if head_kind == "random" else
                                   "zero", head_scale=scale, w_star_norm=wn, input_cond=icond, id_overlap=overlap,
                                   sigma_ood="anisotropic" if aniso else None, sigma_cond=scond)
    arrays["B_star"], arrays["v_star"] = theory.aligned_pair(arrays["B0"], arrays["B_star"], arrays["v_star"])
    if head_kind == "given":
        vs = arrays["v_star"]
        noise = h["given_noise"] * np.linalg.norm(vs) * rng.standard_normal(k)
        arrays["v0"] = alpha * vs + noise
    meta = dict(seed=seed, d=d, k=k, m=m, n=n, eps=eps, w_star_norm=wn, id_overlap=overlap, sigma="anisotropic"
                if aniso else "identity", sigma_cond=scond if aniso else 1.0, input_cond=icond, head=head_kind,
                head_scale=scale if head_kind == "random" else None, head_alpha=alpha if head_kind == "given" else None)
    return arrays, noisy, meta


def _padded_k(k: int) -> int:
    """The padded head size K of a problem with k heads: K = max(2, k). k = 1 unpadded let Kvaerno5's
    step control stall (every step rejected) on some stiff trials with large ||w*||; a zero row changes
    no trajectory (``observe`` module docstring)."""
    return max(2, int(k))


def _groups(problems):
    """Indices grouped by padded K (:func:`_padded_k`), each padded to the group's largest m (one
    compilation per group: k = 1 and k = 2 share one)."""
    out = {}
    for i, p in enumerate(problems):
        out.setdefault(_padded_k(p.k), []).append(i)
    return out


def observe_many(problems, *, rtol, atol, batch_size=observe.BATCH_SIZE, progress=None, m_by_k=None,
                 solver="kvaerno5") -> dict:
    """:func:`observe.observe` over problems of mixed shapes (grouped by padded K = max(2, k), padded
    within a group to ``m_by_k[K]`` if given, else to the group's largest m)."""
    n = len(problems)
    res = None
    for K, idx in sorted(_groups(problems).items()):
        sub = [problems[i] for i in idx]
        M = max(int(np.linalg.matrix_rank(np.asarray(p.X))) for p in sub)
        if m_by_k is not None and K in m_by_k:
            M = max(M, m_by_k[K])
        r = observe.observe(sub, K=K, M=M, batch_size=batch_size, rtol=rtol, atol=atol, progress=progress,
                            solver=solver)
        if res is None:
            res = {key: np.empty((n,) + v.shape[1:], v.dtype) for key, v in r.items()}
        for key, v in r.items():
            res[key][idx] = v
    return res


def trial_seed(seed: int, i: int) -> int:
    """The sampling seed of trial ``i`` of a campaign with ``seed``."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def _m_by_k(grid) -> dict:
    """Largest m per padded K over the grid's shapes: one padded shape (one compilation) per K."""
    out = {}
    for d, k, m, n in grid["shapes"]:
        K = _padded_k(k)
        out[K] = max(out.get(K, 0), int(m))
    return out


def _needs_recheck(row, ing) -> bool:
    return any(row[st]["bound"] is not None and row[st]["margin"] < RECHECK_RTOL * max(
        1.0, abs(row[st]["bound"]), row[st]["observed"], ing["w_star_norm"]) for st in theory.STATEMENTS)


def _screen(seeds, grid, rtol, batch_size, progress=None):
    """Stage 1 for ``seeds``: sample, screen (:data:`SCREEN_SOLVER` at ``rtol``) and judge. Returns the
    problems' arrays (dicts of numpy arrays), the rows, and the positions of the rows to re-check tight."""
    problems, rows, recheck = [], [], []
    for s in seeds:
        arrays, noisy, meta = _sample_arrays(s, grid)
        # numpy fields: nothing leaves a worker as a Problem
        problems.append(Problem._from_random(arrays, noisy, meta["m"], host=True))
        rows.append(meta)
    obs = observe_many(problems, rtol=rtol, atol=SCREEN_ATOL, batch_size=SCREEN_BATCH if batch_size is None else
                       batch_size, progress=progress, m_by_k=_m_by_k(grid), solver=SCREEN_SOLVER)
    for i, (p, meta) in enumerate(zip(problems, rows)):
        ing = theory.bound_ingredients(p)
        meta.update({f"ing_{k}": v for k, v in ing.items()}, converged=bool(obs["converged"][i]),
                    steps=int(obs["steps"][i]), rtol=rtol)
        meta.update(theory.observed_verdicts(p, obs, i, ing))
        if _needs_recheck(meta, ing):
            recheck.append(i)
    return [_fields(p) for p in problems], rows, recheck


def _recheck(arrays, grid, batch_size):
    """Stage 2: the tight observation (:data:`RECHECK_SOLVER`, rtol 1e-10) of the problems ``arrays`` and
    their verdicts: a list of row updates."""
    problems = [Problem(**a) for a in arrays]
    tight = observe_many(problems, rtol=observe.RTOL, atol=observe.ATOL, batch_size=SCREEN_BATCH if batch_size is None
                         else batch_size, m_by_k=_m_by_k(grid), solver=RECHECK_SOLVER)
    out = []
    for j, p in enumerate(problems):
        row = dict(rechecked=True, converged=bool(tight["converged"][j]), rtol=observe.RTOL)
        row.update(theory.observed_verdicts(p, tight, j))
        out.append(row)
    return out


def _violated(row) -> bool:
    return any(row[st]["applies"] and row[st]["holds"] is False for st in theory.STATEMENTS)


def _confirm(arrays, row):
    """Stage 3: the reference integration (:func:`reference.confirm`) of a flagged trial: its statement rows."""
    conf = reference.confirm(Problem(**arrays), [row[st] for st in theory.STATEMENTS])
    return dict(zip(theory.STATEMENTS, conf))


def _recheck_batches(arrays, positions, batch_size):
    """``positions`` (rows to re-check) grouped by padded K and cut into batches of the screen's size, so
    the tight re-check runs the screen's compiled kernels (tolerances are traced) on full batches."""
    by_k = {}
    for i in positions:
        by_k.setdefault(_padded_k(arrays[i]["B0"].shape[0]), []).append(i)
    bs = SCREEN_BATCH if batch_size is None else batch_size
    return [idx[j:j + bs] for _, idx in sorted(by_k.items()) for j in range(0, len(idx), bs)]


def _trials(seeds, grid, rtol, batch_size, progress, confirm=True):
    """Sample, screen, judge, re-check (tight) and confirm (reference) the trials of ``seeds`` in this
    process: (the problems' arrays, a list of dicts of numpy arrays; rows; number rechecked).

    The same three stages as :func:`_trials_parallel` (:func:`_screen`, :func:`_recheck`, :func:`_confirm`)
    and the same rows (module docstring)."""
    arrays, rows, recheck = _screen(seeds, grid, rtol, batch_size, progress)
    for idx in _recheck_batches(arrays, recheck, batch_size):
        for i, upd in zip(idx, _recheck([arrays[i] for i in idx], grid, batch_size)):
            rows[i].update(upd)
    if confirm:
        for i, row in enumerate(rows):
            if _violated(row):
                row.update(_confirm(arrays[i], row))
    return arrays, rows, len(recheck)


def _fields(problem) -> dict:
    return {f: np.asarray(getattr(problem, f)) for f in _FIELDS if getattr(problem, f) is not None}


_FIELDS = ("X", "y", "B0", "v0", "w_star", "B_star", "v_star", "sigma_ood")


class _Problems(collections.abc.Sequence):
    """The campaign's problems: a read-only sequence of :class:`~lpft_theory.problem.Problem` built from
    the workers' arrays when first accessed (a report saves a few dozen of 10 000; building every one
    costs about 2 s of device arrays)."""

    def __init__(self, arrays):
        self._arrays = list(arrays)
        self._built = {}

    def __len__(self):
        return len(self._arrays)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # IndexError / negative indices as a list
        if i not in self._built:
            self._built[i] = Problem(**{k: jnp.asarray(v) for k, v in self._arrays[i].items()})
        return self._built[i]


#: Seeds per screening task of the worker processes.
CHUNK = 256


def _group_of(seed: int, grid: dict) -> int:
    """The padded K of trial ``seed``, from the first draw of its generator alone (:func:`_draw_shape`)."""
    return _padded_k(_draw_shape(np.random.default_rng(seed), grid)[1])


def _screen_chunks(seeds, grid):
    """``seeds`` cut into tasks of at most :data:`CHUNK` trials of one padded K each (one padded shape per
    task), the groups interleaved: the first tasks of the workers compile different kernels, which the
    others then load from the persistent compilation cache. Each task is ``(positions, seeds)``."""
    by_k = {}
    for i, s in enumerate(seeds):
        by_k.setdefault(_group_of(s, grid), []).append(i)
    queues = [[idx[j:j + CHUNK] for j in range(0, len(idx), CHUNK)] for _, idx in sorted(by_k.items())]
    out = []
    while any(queues):
        for q in queues:
            if q:
                pos = q.pop(0)
                out.append((pos, [seeds[i] for i in pos]))
    return out


def _trials_parallel(seeds, grid, rtol, batch_size, workers, bar, confirm=True):
    """:func:`_trials` in ``workers`` spawned processes, stage by stage: the screen in tasks of one padded
    K (:func:`_screen_chunks`), then the re-checks of all tasks together in full batches, then one task
    per flagged trial for the reference (:func:`lpft_theory._pool.pool`). Each process compiles its own
    kernels, or loads them from the persistent compilation cache when this process uses one
    (:mod:`lpft_theory._cache`)."""
    import concurrent.futures

    n = len(seeds)
    arrays, rows, recheck = [None] * n, [None] * n, []
    with _pool.pool(workers) as ex:
        futs = {ex.submit(_screen, part, grid, rtol, batch_size): pos
                for pos, part in _screen_chunks(seeds, grid)}
        for fut in concurrent.futures.as_completed(futs):
            pos = futs[fut]
            a, r, rc = fut.result()
            for j, i in enumerate(pos):
                arrays[i], rows[i] = a[j], r[j]
            recheck += [pos[j] for j in rc]
            if bar is not None:
                bar.update(len(pos))
        batches = _recheck_batches(arrays, sorted(recheck), batch_size)
        if bar is not None:
            bar.set_postfix_str(f"re-checking {len(recheck)} tight")
        futs = {ex.submit(_recheck, [arrays[i] for i in idx], grid, batch_size): idx
                for idx in batches}
        for fut in concurrent.futures.as_completed(futs):
            for i, upd in zip(futs[fut], fut.result()):
                rows[i].update(upd)
        flagged = [i for i in range(n) if confirm and _violated(rows[i])]
        if bar is not None and flagged:
            bar.set_postfix_str(f"reference for {len(flagged)} violations")
        futs = {ex.submit(_confirm, arrays[i], rows[i]): i for i in flagged}
        for fut in concurrent.futures.as_completed(futs):
            rows[futs[fut]].update(fut.result())
    return arrays, rows, len(recheck)


def run_campaign(trials: int, seed: int, grid=None, *, batch_size=None, progress: bool = True,
                 confirm: bool = True, screen_rtol: float = SCREEN_RTOL, workers=None) -> dict:
    """Run the campaign; returns ``dict(rows=[...], problems=..., elapsed_s=...)`` (``problems``: a read-only
    sequence of the trials' :class:`~lpft_theory.problem.Problem`, each built when first accessed).

    The trials run in ``workers`` processes (default: min(2, CPU count); 1 = in this process), each
    screening, judging and re-checking its share. Each row holds the trial's sampling parameters, every
    bound ingredient, and per statement the bound, the observed minimum (tight value where re-checked),
    margin, holds, applies, vacuous and, for violations, the reference status.
    """
    if trials < 1:
        raise ValueError(f"--trials must be >= 1, got {trials}")
    grid = load_grid() if grid is None else grid
    t0 = time.time()
    workers = _pool.default_workers() if workers is None else int(workers)
    seeds = [trial_seed(seed, i) for i in range(trials)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=trials, desc="check-bound campaign", unit="trial")
    if workers > 1 and trials >= PARALLEL_MIN_TRIALS:
        arrays, rows, rechecked = _trials_parallel(seeds, grid, screen_rtol, batch_size, workers, bar, confirm)
    else:
        arrays, rows, rechecked = _trials(seeds, grid, screen_rtol, batch_size,
                                          bar.update if bar is not None else None, confirm)
    problems = _Problems(arrays)
    if bar is not None:
        bar.close()
    return dict(rows=rows, problems=problems, elapsed_s=time.time() - t0, trials=trials, seed=seed, grid=grid,
                rechecked=rechecked)


def summarize(result: dict) -> dict:
    """Counts per statement: trials, applicable, non-vacuous, violations (confirmed/unconfirmed),
    unconverged, and the distribution of observed/bound over applicable non-vacuous trials."""
    rows = result["rows"]
    out = dict(trials=len(rows), seed=result["seed"], elapsed_s=round(result["elapsed_s"], 1),
               rechecked_tight=result["rechecked"], unconverged=int(sum(not r["converged"] for r in rows)),
               violation_rule=(f"violated iff observed < bound - tol, tol = {theory.VIOLATION_RTOL:g} * "
                               f"max(|bound|, observed, ||w*||) + {theory.VIOLATION_ATOL:g}; observed re-computed at rtol 1e-10 when the "
                               f"rtol {SCREEN_RTOL:g} screen margin < {RECHECK_RTOL:g} * scale; violations "
                               "re-integrated by reference.py (rtol 1e-11: Radau to a flagged minimum at t = inf, "
                               f"else DOP853, or Radau where DOP853 needs more than {reference.CONFIRM_MAX_NFEV} "
                               "evaluations)"),
               statements={})
    all_ratios = observed_over_bound(result)
    for st in theory.STATEMENTS:
        app = [r for r in rows if r[st]["applies"]]
        viol = [r for r in app if r[st]["holds"] is False]
        ratios = all_ratios[st]
        margins = np.array([r[st]["margin"] for r in app if r[st]["margin"] is not None])
        reasons = {}
        for r in rows:
            for why in r[st]["reasons"]:
                key = re.sub(r"\s*\((?:\w+=[^,()]*,?\s*)+\)$", "", why)  # drop the "(k=.., n=..)" values
                reasons[key] = reasons.get(key, 0) + 1
        out["statements"][st] = dict(
            reference=theory.REFERENCES[st], loss=theory.LOSSES[st],
            applicable=len(app), non_vacuous=ratios.size, vacuous=len(app) - ratios.size,
            violations=len(viol),
            confirmed_violations=sum(r[st].get("status") == "confirmed violation" for r in viol),
            unconfirmed=sum(r[st].get("status") == "unconfirmed" for r in viol),
            unconverged_applicable=sum(not r["converged"] for r in app),
            not_applicable_reasons=reasons,
            worst_margin=float(margins.min()) if margins.size else None,
            ratio_observed_over_bound=(dict(min=float(ratios.min()), q01=float(np.quantile(ratios, 0.01)),
                                            median=float(np.median(ratios)), max=float(ratios.max()))
                                       if ratios.size else None),
        )
    return out


def observed_over_bound(result: dict) -> dict:
    """``{statement: observed / bound}`` (a float array) over the trials where the statement applies and
    its bound is defined and positive (non-vacuous), in trial order."""
    return {st: np.array([r[st]["observed"] / r[st]["bound"] for r in result["rows"]
                          if r[st]["applies"] and not r[st]["vacuous"] and r[st]["bound"] is not None],
                         dtype=np.float64)
            for st in theory.STATEMENTS}


__all__ = ["DEFAULT_GRID", "load_grid", "sample_trial", "run_campaign", "summarize", "observed_over_bound",
           "observe_many"]

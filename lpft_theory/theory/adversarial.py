r"""Adversarial search for violations of the FT lower bound: maximise (bound − observed)/observed.

Random sampling can miss thin regions, so we ascend the relative gap by gradient over the
problem's free parameters, from many starts (starts are campaign draws of one shape):

* B₀ = polar(A₀) and B* = polar(A*) (orthonormal rows; this covers ε and the split of R₀
  between S and S⊥), the head v₀ and v*; (B*, v*) is replaced by its representative aligned
  with B₀ (:func:`lpft_theory.theory.bounds.align_representative`) before anything is evaluated;
* S is fixed to the first m coordinate axes and X = Z U_Sᵀ with Z fixed per start (by
  rotation invariance this loses no generality for the bound); Σ fixed per start.

The bound is evaluated in JAX exactly as in :mod:`lpft_theory.theory.bounds` (σ_min(B₀ B*ᵀ) gives
ε = √(2 − 2cos θ_max) = 2 sin(θ_max/2)). The observed side is a differentiable surrogate:
the minimum of √L_ood over a coarse log grid of one diffrax Tsit5 solve (5 points per
decade, to 1e6 τ), differentiated through diffrax (the gradient of a minimum is the gradient
at the minimising grid point). The surrogate can only over-estimate the true minimum, so it
never manufactures a violation. Every final candidate is re-evaluated by the full observer
(:func:`lpft_theory.theory.bounds.check_problem`) and, if it looks violating, by the independent
full-dimensional reference (:func:`lpft_theory.theory.reference.confirm`, DOP853 or, where it is stiff, Radau; rtol 1e-11):
only then is it reported as a confirmed violation, otherwise "unconfirmed".

Strengthened (issue 11): the surrogate's step budget is :data:`SURROGATE_MAX_STEPS` = 65536 per solve (was
16384) and a step whose explicit Tsit5 solve fails is retried with the stiff solver Kvaerno5
(:data:`STIFF_SURROGATE_SOLVER`); every step that still fails is counted (``failed_steps``) and every start that never
got a successful evaluation is reported (``failed_starts`` in :func:`summarize`) instead of silently
stopping; and with ``k1_start=True`` (default) the last of each statement's starts lies inside the k = 1,
ε = 0 failure region derived in ``docs/theory.md`` §9.3 (:data:`K1_START`, built by
:func:`lpft_theory.theory.study.k1_problem`), so that the search also finds violations of the final
statement. :func:`summarize` reports the best ratio observed/bound beside the k = 1 infimum 1/2 (t = ∞).
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import flows, geometry, integrate
from ..problem import Problem
from ..reduced import FlowView
from . import bounds as theory
from . import campaign, reference

DEFAULT_STARTS = 8
DEFAULT_STEPS = 30
QUICK_STEPS = 6
LEARNING_RATE = 0.03
SHAPES = ([12, 2, 4, 8], [8, 1, 3, 6])
#: Surrogate grid (units of τ): explicit Tsit5 differentiates robustly (the implicit solver's backward
#: pass can hit singular Newton systems); the horizon is bounded so that stiff problems stay affordable.
SURROGATE_GRID = np.concatenate([[0.0], np.logspace(-2, 6, 41)])
SURROGATE_MAX_STEPS = 65536
#: Solver of the retry when the explicit surrogate fails (stiff problems exhaust Tsit5's budget).
STIFF_SURROGATE_SOLVER = "kvaerno5"
#: Starts: the most nearly violating of POOL_FACTOR x starts campaign draws (screened by the observer).
POOL_FACTOR = 8
#: (v0, v*, s) of the k = 1 start: inside the t = ∞ failure region of docs/theory.md §9.3 (ratio ≈ 0.56 there).
K1_START = (-0.0525, 0.05, 0.99)
#: The k = 1, ε = 0 infimum of observed/bound at t = ∞ (docs/theory.md §9.3), for comparison in summaries.
K1_INFIMUM = 0.5


def _orthonormal_rows(A):
    r"""Löwdin orthonormalisation :math:`(AA^\top)^{-1/2}A` (k×d, differentiable through ``eigh``)."""
    w, V = jnp.linalg.eigh(A @ A.T)
    return (V / jnp.sqrt(w)) @ V.T @ A


def unpack(theta, m):
    """Problem pieces from the parameters: B0, B*, v0, v*, w*, with (B*, v*) in B₀'s frame."""
    B0 = _orthonormal_rows(theta["A0"])
    Bs = _orthonormal_rows(theta["As"])
    U = geometry.polar_factor(B0 @ Bs.T)  # as bounds.align_representative; w* unchanged
    Bs, vs = U @ Bs, U @ theta["vs"]
    return B0, Bs, theta["v0"], vs, Bs.T @ vs


def bound_jax(theta, m, final, sigma_min):
    """The bound (``docs/theory.md`` §4) as a differentiable function of the parameters; ``final`` (a traced
    bool) selects final-thm-3.3 (|·| in φ, √σ_min) over submission-thm-3.1 (printed φ, clipped at 0)."""
    B0, Bs, v0, vs, w = unpack(theta, m)
    k = B0.shape[0]
    cos_perp = jnp.linalg.svd(B0[:, m:], compute_uv=False)[k - 1]
    c = jnp.linalg.svd(B0 @ Bs.T, compute_uv=False)[-1]
    eps = jnp.sqrt(jnp.maximum(2.0 - 2.0 * c, 1e-30))
    phi2 = (v0 @ vs) ** 2 - (vs @ vs) ** 2
    phi2 = jnp.where(final, jnp.abs(phi2), jnp.maximum(phi2, 0.0))
    phi = jnp.sqrt(phi2 + 1e-300)
    W = jnp.sqrt(w @ w)
    head = jnp.minimum(phi, phi2 / W)
    smin = jnp.where(final, sigma_min, 1.0)
    return jnp.sqrt(smin) * (cos_perp / jnp.sqrt(k) * head / (1.0 + W) ** 2 - eps)


def observed_surrogate(theta, m, Z, sigma, final, solver="tsit5"):
    """min over a coarse log grid of √L_ood along FT (one Tsit5 solve of the one driver), differentiable."""
    B0, Bs, v0, vs, w = unpack(theta, m)
    G = Z.T @ Z
    a = w[:m]
    lam = jnp.linalg.eigvalsh(G)[-1]
    tau = jax.lax.stop_gradient(1.0 / (2.0 * lam * (jnp.maximum(v0 @ v0, jnp.sqrt(w @ w)) + B0.shape[0] + 1.0)))
    ts = tau * jnp.asarray(SURROGATE_GRID)
    flow = FlowView(G=G, a_star=a, B_S0=B0[:, :m], v0=v0)
    (v, B_S), _, ok = integrate.solve_at(flows.ft_field, flow, (v0, B0[:, :m]), ts, 1e-8, 1e-10, solver=solver,
                                         max_steps=SURROGATE_MAX_STEPS, forward=False)
    Bp = B0[:, m:]

    def loss(vv, bs):
        e = jnp.concatenate([bs.T @ vv, Bp.T @ vv]) - w
        return jnp.sqrt(jnp.where(final, e @ (sigma @ e), e @ e))

    vals = jax.vmap(loss)(v, B_S)
    vals = jnp.where(jnp.isfinite(vals), vals, jnp.inf)
    return jnp.min(vals), ok


@partial(jax.jit, static_argnames=("m", "solver"))
def objective_and_grad(theta, m, Z, sigma, sigma_min, final, solver="tsit5"):
    """Relative gap (bound − observed)/observed, its aux (bound, observed, solver ok) and gradient."""

    def f(th):
        obs, ok = observed_surrogate(th, m, Z, sigma, final, solver)
        b = bound_jax(th, m, final, sigma_min)
        return (b - obs) / obs, (b, obs, ok)

    (val, aux), g = jax.value_and_grad(f, has_aux=True)(theta)
    return val, aux, g


def _pool(seed, shape, statement, size):
    """``size`` campaign draws of ``shape`` whose bound applies and is non-vacuous, sorted by
    observed/bound (most nearly violating first), screened with :func:`observe.observe`."""
    from . import observe

    grid = campaign.load_grid()
    grid["shapes"] = [shape]
    if statement == "submission-thm-3.1":
        grid["head"] = dict(grid["head"], zero_frac=0.0, given_frac=1.0)  # printed phi^2 >= 0 needs |v0.v*| >= |v*|^2
    probs, bounds = [], []
    s = seed
    while len(probs) < size and s < seed + 200 * size:
        p, _ = campaign.sample_trial(s, grid)
        s += 1
        b = theory.ft_lower_bound(p, statement)
        if b.applies and not b.vacuous:
            probs.append(p)
            bounds.append(b.value)
    obs = observe.observe(probs, rtol=1e-7, atol=1e-10)
    key = "min_sigma" if statement == "final-thm-3.3" else "min_identity"
    order = np.argsort(obs[key] / np.asarray(bounds))
    return [probs[i] for i in order]


def _start(p):
    """Parameters of problem ``p``, rotated so that S = the first m axes."""
    X = np.asarray(p.X)
    U, s, Vt = np.linalg.svd(X, full_matrices=True)
    m = int(np.sum(s > 1e-12 * s[0]))
    Q = Vt.T  # columns: first m span S
    sigma = np.eye(X.shape[1]) if p.sigma_ood is None else Q.T @ np.asarray(p.sigma_ood) @ Q
    theta = dict(A0=jnp.asarray(np.asarray(p.B0) @ Q), As=jnp.asarray(np.asarray(p.B_star) @ Q),
                 v0=jnp.asarray(np.asarray(p.v0)), vs=jnp.asarray(np.asarray(p.v_star)))
    Z = X @ Q[:, :m]
    return theta, m, jnp.asarray(Z), jnp.asarray(sigma)


def to_problem(theta, m, Z, sigma, identity_sigma: bool) -> Problem:
    """The Problem of the parameters (S = first m axes)."""
    B0, Bs, v0, vs, w = (np.asarray(x) for x in unpack(theta, m))
    Z = np.asarray(Z)
    d = B0.shape[1]
    X = np.concatenate([Z, np.zeros((Z.shape[0], d - m))], axis=1)
    return Problem.from_arrays(X, X @ w, B0, v0, w, B_star=Bs, v_star=vs,
                               sigma_ood=None if identity_sigma else np.asarray(sigma))


def run_search(starts: int = DEFAULT_STARTS, seed: int = 0, quick: bool = False, steps=None,
               progress: bool = True, k1_start: bool = True) -> dict:
    """Gradient ascent (Adam) on the relative gap from ``starts`` starts per statement (the most nearly
    violating of ``POOL_FACTOR``·starts screened campaign draws, alternating over :data:`SHAPES`);
    returns all final candidates with their full-observer and reference verdicts."""
    steps = (QUICK_STEPS if quick else DEFAULT_STEPS) if steps is None else steps
    t0 = time.time()
    n_pool = starts - 1 if (k1_start and starts >= 1) else starts  # the last start is the k = 1 one
    jobs = [(st, i) for st in theory.STATEMENTS for i in range(starts)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs) * steps, desc="adversarial search", unit="step")
    pools = {}
    for st in theory.STATEMENTS:
        for j, shape in enumerate(SHAPES):
            n_here = len(range(j, n_pool, len(SHAPES)))
            if n_here:
                s = int(np.random.SeedSequence([seed, j, theory.STATEMENTS.index(st)]).generate_state(1)[0])
                pools[(st, j)] = _pool(s, shape, st, POOL_FACTOR * n_here)
    cands = []
    for st, i in jobs:
        if i >= n_pool:  # the k = 1 start from the derived failure region
            from .study import k1_problem

            p_start = k1_problem(*K1_START)
            shape, s = [int(p_start.d), 1, 3, int(p_start.n)], -1
        else:
            shape = SHAPES[i % len(SHAPES)]
            s = i // len(SHAPES)
            p_start = pools[(st, i % len(SHAPES))][s]
        theta, m, Z, sigma = _start(p_start)
        identity = bool(np.allclose(np.asarray(sigma), np.eye(sigma.shape[0])))
        smin = float(np.linalg.eigvalsh(np.asarray(sigma))[0])
        final = jnp.asarray(st == "final-thm-3.3")
        # per-leaf step: LEARNING_RATE x the leaf's RMS (heads can be 1e-2 or 1e2), Adam direction,
        # halved and reverted to the best point whenever a step does not improve the objective
        lr = {key: LEARNING_RATE * max(float(jnp.sqrt(jnp.mean(x**2))), 1e-3) for key, x in theta.items()}
        mom = jax.tree_util.tree_map(jnp.zeros_like, theta)
        vel = jax.tree_util.tree_map(jnp.zeros_like, theta)
        best = (-np.inf, theta, None)
        history = []
        failed_steps = 0
        for it in range(steps):
            try:
                val, (b, obs, ok), g = jax.block_until_ready(objective_and_grad(theta, m, Z, sigma, smin, final))
                if not bool(ok):  # step budget of the explicit surrogate exhausted: the stiff solver instead
                    val, (b, obs, ok), g = jax.block_until_ready(
                        objective_and_grad(theta, m, Z, sigma, smin, final, solver=STIFF_SURROGATE_SOLVER))
                val = float(val)
            except Exception:  # noqa: BLE001 - e.g. a singular Newton system in the backward pass (lineax)
                val, ok, g = -np.inf, False, None
            history.append(val if np.isfinite(val) else None)
            if bar is not None:
                bar.update(1)
            good = bool(ok) and np.isfinite(val) and g is not None and all(
                bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(g))
            failed_steps += 0 if bool(ok) and g is not None else 1
            if good and val > best[0]:
                best = (val, theta, g)
            else:  # backtrack
                lr = {key: 0.5 * v for key, v in lr.items()}
                if best[2] is None:
                    break
            g = best[2]
            mom = jax.tree_util.tree_map(lambda mm, gg: 0.9 * mm + 0.1 * gg, mom, g)
            vel = jax.tree_util.tree_map(lambda vv, gg: 0.999 * vv + 0.001 * gg * gg, vel, g)
            c1, c2 = 1 - 0.9 ** (it + 1), 1 - 0.999 ** (it + 1)
            theta = {key: best[1][key] + lr[key] * (mom[key] / c1) / (jnp.sqrt(vel[key] / c2) + 1e-30)
                     for key in best[1]}
        cands.append(dict(statement=st, start=i, seed=s, shape=shape, surrogate_gap=best[0], history=history,
                          theta=best[1], m=m, Z=Z, sigma=sigma, identity=identity, failed_steps=failed_steps,
                          failed_start=best[2] is None, k1_start=i >= n_pool))
    if bar is not None:
        bar.close()
    results = []
    for c in cands:
        p = to_problem(c["theta"], c["m"], c["Z"], c["sigma"], c["identity"])
        rows = theory.check_problem(p)
        row = next(r for r in rows if r["statement"] == c["statement"])
        status = "holds"
        if row["applies"] and row["holds"] is False:
            row = next(r for r in reference.confirm(p, rows) if r["statement"] == c["statement"])
            status = row["status"]
        elif row["bound"] is None:
            status = "n/a"
        elif not row["applies"]:
            status = "holds (not applicable: " + "; ".join(row["reasons"]) + ")" if row["holds"] else \
                "below bound but not applicable: " + "; ".join(row["reasons"])
        results.append(dict(statement=c["statement"], start=c["start"], seed=c["seed"], shape=c["shape"],
                            surrogate_relative_gap=c["surrogate_gap"], gap_history=c["history"], bound=row["bound"],
                            observed=row["observed"], margin=row["margin"], applies=row["applies"],
                            relative_gap=(None if row["bound"] is None else (row["bound"] - row["observed"]) /
                                          row["observed"]),
                            status=status, reference_observed=row.get("reference_observed"), problem=p,
                            failed_steps=c["failed_steps"], failed_start=c["failed_start"], k1_start=c["k1_start"]))
    return dict(results=results, elapsed_s=time.time() - t0, starts=starts, steps=steps, seed=seed)


def summarize(result: dict) -> dict:
    """The search's outcome per statement: starts, applicable finals, confirmed violations, unconfirmed,
    and the best applicable candidate (largest relative gap (bound − observed)/observed); plus every
    candidate without its problem (``candidates``). Pure: nothing is written."""
    summary = dict(starts=result["starts"], steps=result["steps"], seed=result["seed"],
                   elapsed_s=round(result["elapsed_s"], 1), statements={})
    for st in theory.STATEMENTS:
        rs = [r for r in result["results"] if r["statement"] == st]
        rs_ok = sorted((r for r in rs if r["relative_gap"] is not None and r["applies"]),
                       key=lambda r: -r["relative_gap"])
        summary["statements"][st] = dict(
            starts=len(rs), applicable_finals=len(rs_ok),
            confirmed_violations=sum(r["status"] == "confirmed violation" for r in rs),
            unconfirmed=sum(r["status"] == "unconfirmed" for r in rs),
            failed_starts=sum(bool(r.get("failed_start")) for r in rs),
            failed_steps=sum(int(r.get("failed_steps", 0)) for r in rs),
            best_ratio_observed_over_bound=(None if not rs_ok or rs_ok[0]["relative_gap"] <= -1 else
                                            1.0 / (1.0 + rs_ok[0]["relative_gap"])),
            k1_infimum_t_inf=K1_INFIMUM,
            best=None if not rs_ok else {k: rs_ok[0][k] for k in ("start", "seed", "shape", "bound", "observed",
                                                                  "margin", "relative_gap", "status",
                                                                  "reference_observed")})
    summary["candidates"] = [{k: v for k, v in r.items() if k != "problem"} for r in result["results"]]
    return summary

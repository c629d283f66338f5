r"""Every statement of Section 3 of Kumar et al. (ICLR 2022), checked by simulation (``docs/theory.md`` §3–4).

Each ``check_*`` function simulates instances, compares simulated quantities with what the
statement asserts, and returns one row: ``statement``, ``reference``, ``simulated`` (what was run),
``n`` (instances), ``verdict``, ``worst_margin`` (signed: ≥ 0 where the statement held in the
worst instance, with its meaning in ``margin_meaning``) and ``details``. No verdict comes from
evaluating a formula against itself: every number on the "observed" side is the output of an
ODE integration (diffrax, the package's Rodas4 loop, or the closed-form LP flow for LP).

:func:`run_claims` runs them all; :func:`format_claims_table` renders the rows in markdown.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import campaign
from .. import flows, metrics
from . import observe
from . import bounds as theory
from ..problem import Problem, regime_warnings_silenced
from ..reduced import reduce

#: One shape for every claim (one compilation of each jitted core). In both theorems' regimes:
#: 0 < k <= m, m + k < d, and 1 <= k < n < d, k < d - n.
SHAPE = dict(d=12, k=2, m=4, n=8)
#: Lemma A.3 / A.4 drift tolerances (relative to the scale of B and vv^T - BB^T).
DRIFT_TOL = 1e-8
#: "Numerically zero" for √L_ood in Prop. 3.7, relative to 1 + ‖w*‖ (integration rtol is 1e-10).
ZERO_TOL = 1e-8


def _random(seed, **kw):
    spec = dict(SHAPE, seed=seed)
    spec.update(kw)
    with regime_warnings_silenced():
        return Problem.random(**spec)


def _row(statement, reference, simulated, n, verdict, worst_margin, meaning, **details):
    return dict(statement=statement, reference=reference, simulated=simulated, n=int(n), verdict=verdict,
                worst_margin=None if worst_margin is None else float(worst_margin), margin_meaning=meaning,
                details=details)


def _seeds(quick, n_quick, n_full, base):
    return [base + i for i in range(n_quick if quick else n_full)]


def _grid(quick: bool) -> dict:
    """The bound campaign's grid (:func:`check_bounds`): the default one, or only :data:`SHAPE` when quick."""
    grid = campaign.load_grid()
    if quick:
        grid["shapes"] = [[SHAPE["d"], SHAPE["k"], SHAPE["m"], SHAPE["n"]]]
    return grid


def _observe(probs, quick: bool) -> dict:
    """min over t ≥ 0 of √L_ood, and the steady state, of the instances ``probs``
    (:func:`lpft_theory.theory.observe.observe`): the same observation as the bound campaign's tight re-check
    (the Rodas4 observer at rtol 1e-10, batches of 32, padded like the campaign's problems with the same
    number of heads), so the claims and their campaign run one set of compiled kernels."""
    return campaign.observe_many(probs, rtol=observe.RTOL, atol=observe.ATOL, batch_size=campaign.SCREEN_BATCH,
                                 m_by_k=campaign._m_by_k(_grid(quick)), solver=campaign.RECHECK_SOLVER)


# ---------------------------------------------------------------------------
# Lemmas A.3 and A.4 from full-dimensional simulations


def full_dimensional_runs(quick: bool):
    """FT integrated on the full (k + kd)-dimensional state (``coords="full"``), from random problems
    with random heads; returns a list of (problem, Trajectory). The reduced flow freezes the S⊥ part
    of B by construction, so only these runs can test Lemma A.3."""
    from ..solve import simulate

    times = [0.0, 0.01, 0.1, 1.0, 10.0, 100.0]
    out = []
    for s in _seeds(quick, 3, 12, 100):
        p = _random(s, eps=0.2, head_scale=1.0, w_star_norm=1.0 + (s % 3))
        out.append((p, simulate(p, "ft", times, coords="full", rtol=1e-10, atol=1e-12)))
    return out


def check_lemma_a3(runs) -> dict:
    r"""Lemma A.3 [final]: :math:`B_{ft}(t)x = B_0x` for x ∈ S⊥: max over t of
    :math:`\|(B(t)-B_0)\Pi_{S^\perp}\|_2` from full-coordinate runs, against the S-part's motion."""
    drifts, moved = [], []
    for p, tr in runs:
        rp = tr.rp
        B = np.asarray(tr.B())
        B0 = np.asarray(p.B0)
        U = np.asarray(rp.U_S)
        D = B - B0
        perp = D - (D @ U) @ U.T
        drifts.append(max(np.linalg.norm(x, 2) for x in perp))
        moved.append(max(np.linalg.norm(x, 2) for x in D @ U))
    worst = max(drifts)
    ok = worst <= DRIFT_TOL
    return _row("S-perp features frozen", "Lemma A.3 [final]",
                "FT on the full (k+kd)-dim state (diffrax Tsit5, rtol 1e-10), 6 times up to t=100",
                len(runs), f"holds (max drift {worst:.1e}, S-part moved >= {min(moved):.2g})" if ok else
                f"VIOLATED (max drift {worst:.1e})", DRIFT_TOL - worst,
                f"tol {DRIFT_TOL:g} - max_t ||(B(t)-B0) P_Sperp||_2",
                max_perp_drift=worst, min_S_part_motion=min(moved))


def check_lemma_a4(runs) -> dict:
    r"""Lemma A.4 [final]: :math:`vv^\top - BB^\top` constant along FT, from full-coordinate runs."""
    rel = []
    for p, tr in runs:
        v = np.asarray(tr.v)
        B = np.asarray(tr.B())
        M = np.einsum("ti,tj->tij", v, v) - np.einsum("tid,tjd->tij", B, B)
        scale = 1.0 + np.linalg.norm(M[0]) + max(np.linalg.norm(x) for x in np.einsum("ti,tj->tij", v, v))
        rel.append(max(np.linalg.norm(M[i] - M[0]) for i in range(len(M))) / scale)
    worst = max(rel)
    ok = worst <= DRIFT_TOL
    return _row("balancedness vv^T - BB^T conserved", "Lemma A.4 [final]",
                "same full-dim FT runs as Lemma A.3", len(runs),
                f"holds (max relative drift {worst:.1e})" if ok else f"VIOLATED (drift {worst:.1e})", DRIFT_TOL - worst,
                f"tol {DRIFT_TOL:g} - max_t ||M(t)-M(0)||_F / (1 + ||M(0)|| + max ||vv^T||)",
                max_relative_drift=worst)


# ---------------------------------------------------------------------------
# ID proposition, LP vs FT theorem, Prop 3.7, early stopping


def _lp_limit_losses(p):
    rp = reduce(p, n_ood=1)
    v = flows.lp_limit(rp)
    return (float(metrics.ood_loss(rp, v, rp.B_S0)), float(metrics.ood_loss_identity(rp, v, rp.B_S0)),
            float(metrics.id_subspace_loss(rp, v, rp.B_S0)))


def check_id_prop(quick: bool) -> dict:
    r"""Prop. 3.1 [printed]: w* ∉ rowspace(B0) and FT converged ⇒ ID-subspace loss of FT(∞) < LP(∞).

    FT(∞) is the steady state of the integrated flow (‖∇L̂‖ ≤ 1e-10·max(1, ‖∇L̂(0)‖)); LP(∞) is the
    exact limit of the LP flow. Margin: min over instances of (LP − FT)/LP."""
    probs = [_random(s, eps=0.05 + 0.3 * (s % 5) / 4, head_scale=0.5 + (s % 3)) for s in _seeds(quick, 4, 24, 200)]
    obs = _observe(probs, quick)
    margins, dist = [], []
    for i, p in enumerate(probs):
        lp_id = _lp_limit_losses(p)[2]
        ft_id = float(obs["limit_id_subspace"][i])
        margins.append((lp_id - ft_id) / lp_id if lp_id > 0 else -math.inf)
        B0, w = np.asarray(p.B0), np.asarray(p.w_star)
        dist.append(float(np.linalg.norm(w - B0.T @ (B0 @ w))))
    conv = bool(np.all(obs["converged"]))
    ok = conv and min(margins) > 0
    return _row("FT beats LP on the ID subspace", "Prop. 3.1 [printed]",
                "FT to its steady state (Rodas4) vs the exact LP limit; eps in [0.05, 0.35]", len(probs),
                ("holds" if ok else "VIOLATED") if conv else "inconclusive (FT not converged)", min(margins),
                "min (L_id(LP) - L_id(FT)) / L_id(LP)", min_dist_w_star_to_R0=min(dist),
                max_ft_id_loss=float(np.max(obs["limit_id_subspace"])))


def lp_vs_ft_runs(quick: bool):
    """Instances for Thm 3.2 and early stopping: Gaussian inputs, Gaussian heads, Σ = I, ε over decades."""
    eps_values = [1e-4, 1e-3, 1e-2, 1e-1]
    seeds = _seeds(quick, 2, 8, 300)
    probs, eps_of = [], []
    for e in eps_values:
        for s in seeds:
            probs.append(_random(s, eps=e, head_scale=1.0))
            eps_of.append(e)
    obs = _observe(probs, quick)
    lp = np.array([_lp_limit_losses(p)[0] for p in probs])
    ft_min = obs["min_sigma"] ** 2
    return dict(eps=np.array(eps_of), eps_values=eps_values, lp=lp, ft_min=ft_min, converged=obs["converged"],
                n=len(probs))


def check_lp_vs_ft(data) -> dict:
    r"""Thm 3.2 [printed]: L_ood(LP∞)/min_t L_ood(FT(t)) → 0 as ε → 0 (Gaussian inputs).

    Fits log10(median ratio) = a·log10(ε) + b over ε decades. "consistent" iff a > 0 and the medians
    decrease monotonically as ε decreases. Margin: the fitted rate a."""
    ratio = data["lp"] / data["ft_min"]
    med = np.array([np.median(ratio[data["eps"] == e]) for e in data["eps_values"]])
    x = np.log10(data["eps_values"])
    a, b = np.polyfit(x, np.log10(med), 1)
    mono = bool(np.all(np.diff(med) > 0))
    ok = a > 0 and mono
    return _row("LP/FT OOD ratio -> 0 as eps -> 0", "Thm 3.2 [printed]",
                "LP limit (exact) vs min_t FT (Rodas4 + refinement), eps = 1e-4..1e-1, Gaussian X and head",
                data["n"], f"consistent: ratio ~ eps^{a:.2f}" if ok else f"NOT consistent (rate {a:.2f})", a,
                "fitted rate a in median ratio ~ eps^a (> 0 means -> 0)",
                median_ratio_by_eps={f"{e:g}": float(m) for e, m in zip(data["eps_values"], med)})


def check_early_stopping(data, eps_max: float = 1e-2) -> dict:
    r"""Early stopping [printed, discussion]: min_t L_ood(FT) > L_ood(LP∞) for small ε.

    Margin: min over instances with ε ≤ eps_max of (min_t L_FT − L_LP)/min_t L_FT."""
    sel = data["eps"] <= eps_max
    m = (data["ft_min"][sel] - data["lp"][sel]) / data["ft_min"][sel]
    ok = bool(np.all(m > 0))
    return _row("no early-stopping time rescues FT", "Sec. 3 discussion [printed]",
                f"same runs as Thm 3.2 with eps <= {eps_max:g}: min over t of FT vs LP limit", int(sel.sum()),
                "holds" if ok else "VIOLATED", float(m.min()), "min (min_t L_FT - L_LP) / min_t L_FT")


def check_prop_37(quick: bool) -> dict:
    r"""Prop. 3.7 [final]: ε = 0 (B0 = UB*): LP-FT has L_ood = 0 at every t; FT from a Gaussian head has
    L_ood > 0 at every t.

    LP-FT: FT integrated from (v_lp∞, B0) (Tsit5, rtol 1e-10, atol 1e-12) at 0, 1e-2 … 1e3; its largest
    √L_ood must be numerically zero: ≤ ZERO_TOL·(1 + ‖w*‖), two orders above the integration tolerance.
    FT: min over t (grid + steady state) of √L_ood must exceed the same threshold. Margin (in units of
    the threshold): min_t √L_FT / thr − max_t √L_LPFT / thr."""
    from ..solve import simulate

    probs = [_random(s, eps=0.0, head_scale=1.0, w_star_norm=0.5 + (s % 4)) for s in _seeds(quick, 3, 16, 400)]
    obs = _observe(probs, quick)
    times = [0.0, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    lpft_max, ft_min = [], []
    for i, p in enumerate(probs):
        thr = ZERO_TOL * (1.0 + float(np.linalg.norm(np.asarray(p.w_star))))
        tr = simulate(p, "lpft", times)
        met = metrics.trajectory_metrics(tr)
        lpft_max.append(math.sqrt(float(np.max(met["ood_loss"]))) / thr)
        ft_min.append(float(obs["min_sigma"][i]) / thr)
    ok = max(lpft_max) <= 1.0 < min(ft_min)
    return _row("eps = 0: LP-FT exact, FT not", "Prop. 3.7 [final]",
                "LP-FT (exact LP limit, then FT) on 7 times to t=1e3; FT min over t (grid + steady state)",
                len(probs), f"holds (LP-FT max {max(lpft_max):.1e} thr, FT min {min(ft_min):.1e} thr)" if ok else
                "VIOLATED", min(ft_min) - max(lpft_max),
                f"(min_t sqrt L_FT - max_t sqrt L_LPFT) / thr, thr = {ZERO_TOL:g}(1+|w*|)",
                max_lpft_sqrt_ood_over_thr=max(lpft_max), min_ft_sqrt_ood_over_thr=min(ft_min))


# ---------------------------------------------------------------------------
# the two bound versions, from a campaign


def check_bounds(quick: bool, trials=None, seed: int = 0, workers=None) -> list:
    """Both FT lower bounds (``docs/theory.md`` §4) over a randomised campaign (:mod:`lpft_theory.theory.campaign`).

    Quick: 24 trials of one shape; full: 1000 trials of the default grid. ``workers``: the campaign's
    worker processes (default: its own; the rows are the same for any number)."""
    grid = _grid(quick)
    n = trials if trials is not None else (24 if quick else 1000)
    res = campaign.run_campaign(n, seed, grid, progress=False, workers=workers)
    summ = campaign.summarize(res)
    rows = []
    for st in theory.STATEMENTS:
        s = summ["statements"][st]
        if s["applicable"] == 0:
            verdict = "not applicable in any trial"
        elif s["violations"]:
            verdict = (f"VIOLATED in {s['violations']} of {s['applicable']} applicable "
                       f"({s['confirmed_violations']} confirmed by reference)")
        else:
            verdict = f"holds in all {s['applicable']} applicable ({s['non_vacuous']} non-vacuous)"
        rows.append(_row(f"FT lower bound ({st})", theory.REFERENCES[st],
                         f"campaign: {n} random problems (seed {seed}), min_t sqrt(L_ood) vs bound, {s['loss']} loss",
                         n, verdict, s["worst_margin"], "min over applicable trials of observed - bound",
                         applicable=s["applicable"], non_vacuous=s["non_vacuous"], violations=s["violations"],
                         confirmed=s["confirmed_violations"], ratio=s["ratio_observed_over_bound"]))
    return rows


# ---------------------------------------------------------------------------


def run_claims(quick: bool = False, workers=None) -> list:
    """Run every check; returns one dict per statement (see the module docstring). ``workers``: the
    bound campaign's worker processes (:func:`check_bounds`; ``reproduce`` runs the claims in a worker
    process of its own and passes 1)."""
    t0 = time.time()
    runs = full_dimensional_runs(quick)
    rows = [check_lemma_a3(runs), check_lemma_a4(runs), check_id_prop(quick)]
    data = lp_vs_ft_runs(quick)
    rows += [check_lp_vs_ft(data), check_prop_37(quick), check_early_stopping(data)]
    rows += check_bounds(quick, workers=workers)
    for r in rows:
        r["details"]["elapsed_total_s"] = round(time.time() - t0, 1)
    return rows


def _cell(x):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x).replace("|", "\\|")


def format_claims_table(rows) -> str:
    """Markdown table: statement | paper reference | what was simulated | N instances | verdict | worst margin."""
    out = ["| statement | paper reference | what was simulated | N instances | verdict | worst margin |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(_cell(r[k]) for k in ("statement", "reference", "simulated", "n", "verdict",
                                                             "worst_margin")) + " |")
    out += ["", "Worst margin, per row: " + "; ".join(f"{r['statement']}: {r['margin_meaning']}" for r in rows) + "."]
    return "\n".join(out)

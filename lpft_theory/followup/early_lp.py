r"""Early-stopped LP, then FT (Ren et al., ICLR 2023, "How to prepare your task head for finetuning").

**Experiment.** LP runs for a time τ (closed form, :func:`lpft_theory.flows.lp_closed_form`), then FT runs from
:math:`(v_{lp}(\tau), B_0)` to its limit t = ∞ (:func:`lpft_theory.solve.simulate` with ``method="lpft"``,
``lp_time=τ``); τ = 0 is plain FT, τ = ∞ is LP-FT. For τ on a log grid plus 0 and ∞ we record

* the "energy" left for feature adaptation: the training loss at the start of FT, :math:`\hat L(v_{lp}(\tau), B_0)`;
* four feature measures between the final features :math:`B_{ft}` and :math:`B_0`: the Euclidean distance
  :math:`\|B_{ft} - B_0\|_F`, the cosine similarity :math:`\langle B_{ft}, B_0\rangle_F/(\|B_{ft}\|_F\|B_0\|_F)`,
  the dot product :math:`\langle B_{ft}, B_0\rangle_F` and the feature norm :math:`\|B_{ft}\|_F`;
* the ID (training) loss and the OOD loss at t = ∞.

All Frobenius products are exact in the Q-coordinates of :mod:`lpft_theory.reduced` (B's S⊥ part lies in span(W)).

**Exact facts used by the tests** [derived]. LP is a gradient flow, so the energy is non-increasing in τ;
balancedness (Lemma A.4, the trace of :math:`vv^\top - BB^\top`) gives the feature norm from the head norms,
:math:`\|B_{ft}\|_F^2 = \|B_0\|_F^2 + \|v_{ft}\|^2 - \|v_{lp}(\tau)\|^2`.

**The claim** (Ren et al.): as the energy grows (earlier stopping, smaller τ) the Euclidean and cosine distances
grow, while the dot product and the feature norm first rise, then fall. Here "rise then fall" means a maximum of
the measure over the τ grid strictly inside it (neither at τ = 0 nor at τ = ∞); :func:`verdict` counts the seeds
where it happens and reports the τ of the peak.
"""

from __future__ import annotations

import math
import sys

import numpy as np

NAME = "early-lp"
TITLE = "Early-stopped LP, then FT"
CLAIM = ("As the energy (training loss at the start of FT) grows, the Euclidean and cosine distances between final "
         "and initial features grow, while their dot product and the feature norm first rise and then fall "
         "(Ren et al., ICLR 2023).")
CAPTION = ("**Early-stopped LP, then FT (Ren et al., ICLR 2023).** LP for a time τ, then FT to t = ∞ (τ = 0: FT, "
           "τ = ∞: LP-FT); energy = training loss at the start of FT, feature measures of B_ft against B₀.\n"
           "The distance grows with the energy (smaller τ); whether the dot product and the norm rise, then fall, "
           "and at which τ, is the verdict in `docs/follow_up/early_lp.md`.")

#: The problem family and grid (``Problem.random``; small heads, as when a head is trained from scratch).
PARAMS = dict(d=20, k=2, m=5, n=10, eps=0.1, head_scale=0.1, tau_min=1e-4, tau_max=1e2, n_tau_full=25,
              n_tau_quick=5, seeds_full=6, seeds_quick=1)
MEASURES = ("energy", "distance", "cosine", "dot", "norm", "id_loss", "ood_loss")


def problem(seed: int, c=PARAMS):
    """The problem of one seed: ``Problem.random(seed, d, k, m, n, eps, head_scale)``."""
    from ..problem import Problem

    return Problem.random(seed=seed, d=c["d"], k=c["k"], m=c["m"], n=c["n"], eps=c["eps"], head_scale=c["head_scale"])


def taus(quick: bool, c=PARAMS) -> np.ndarray:
    """The LP times: 0, a log grid from ``tau_min`` to ``tau_max``, and ∞."""
    n = c["n_tau_quick"] if quick else c["n_tau_full"]
    return np.concatenate([[0.0], np.geomspace(c["tau_min"], c["tau_max"], n), [math.inf]])


def sweep(p, tau_grid) -> dict:
    r"""LP for each τ, then FT to t = ∞, on one problem.

    Arguments:
        p: a :class:`~lpft_theory.problem.Problem`. tau_grid: LP times (``inf`` allowed).

    Returns:
        dict of (len(tau_grid),) numpy arrays: the :data:`MEASURES`, ``head_norm_start`` (‖v_lp(τ)‖),
        ``head_norm_end`` (‖v_ft‖), ``norm0`` (‖B₀‖_F, a scalar) and ``converged``.
    """
    import jax.numpy as jnp

    from .. import flows, metrics
    from ..reduced import reduce
    from ..solve import simulate

    rp = reduce(p)
    lp = flows.lp_closed_form(rp.flow)
    B0 = rp.B0_red
    n0 = float(jnp.linalg.norm(B0))
    out = {k: [] for k in MEASURES + ("head_norm_start", "head_norm_end", "converged")}
    for tau in tau_grid:
        v_start = lp(float(tau))
        traj = simulate(rp, "lpft", [math.inf], lp_time=float(tau))
        v, B_S = traj.v[-1], traj.B_S[-1]
        B = rp.B_red(B_S)
        dot = float(jnp.sum(B * B0))
        norm = float(jnp.linalg.norm(B))
        out["energy"].append(float(metrics.train_loss(rp, v_start, rp.B_S0)))
        out["distance"].append(float(jnp.linalg.norm(B - B0)))
        out["dot"].append(dot)
        out["norm"].append(norm)
        out["cosine"].append(dot / (norm * n0))
        out["id_loss"].append(float(metrics.train_loss(rp, v, B_S)))
        out["ood_loss"].append(float(metrics.ood_loss(rp, v, B_S)))
        out["head_norm_start"].append(float(jnp.linalg.norm(v_start)))
        out["head_norm_end"].append(float(jnp.linalg.norm(v)))
        out["converged"].append(bool(traj.converged))
    res = {k: np.asarray(v) for k, v in out.items()}
    res["norm0"] = n0
    return res


def interior_peak(values) -> int:
    """Index of the maximum of ``values`` when it lies strictly inside (not first or last, and above both ends by
    more than rounding, 1e-9 relative); else -1."""
    a = np.asarray(values, dtype=float)
    i = int(np.argmax(a))
    tol = 1e-9 * max(1.0, float(np.max(np.abs(a))))
    if 0 < i < a.size - 1 and a[i] > a[0] + tol and a[i] > a[-1] + tol:
        return i
    return -1


def run(quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """The τ sweep on several seeds (``seed``, ``seed + 1``, ...); JSON-able (see the module docstring)."""
    c = PARAMS
    grid = taus(quick, c)
    seeds = list(range(seed, seed + (c["seeds_quick"] if quick else c["seeds_full"])))
    per = []
    for s in seeds:
        if progress:
            print(f"early-lp: seed {s}", file=sys.stderr, flush=True)
        r = sweep(problem(s, c), grid)
        r = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
        r["seed"] = s
        r["peak_dot"] = interior_peak(r["dot"])
        r["peak_norm"] = interior_peak(r["norm"])
        per.append(r)
    data = dict(params=dict(c, seeds=seeds, taus=[float(t) for t in grid],
                            problem="Problem.random(seed, d, k, m, n, eps, head_scale)",
                            method="LP closed form for tau, then simulate(p, 'lpft', [inf], lp_time=tau)"),
                taus=[float(t) for t in grid], seeds=per)
    data["case"] = _case(data)
    return data


def _case(data):
    bad = [r for r in data["seeds"] if r["peak_dot"] < 0 or r["peak_norm"] < 0]
    if not bad:
        return None
    r = bad[0]
    return dict(npz_name=f"followup_early_lp_seed{r['seed']}", seed=r["seed"],
                why="the dot product or the feature norm has no interior maximum over tau")


def case_problem(data):
    """The problem of the first seed without an interior peak of the dot product or the norm (None if every seed
    has both)."""
    case = data.get("case")
    return None if not case else problem(int(case["seed"]), data["params"])


def _tau_label(t):
    return "∞" if t is None or t == math.inf else f"{t:.3g}"


def verdict(data: dict) -> dict:
    """``agrees``: "yes" when every seed has an interior peak of both the dot product and the norm and the distance
    falls with τ, "partly" when some do, "no" when none; ``line`` with the τ of the peaks."""
    rows = data["seeds"]
    taus_ = data["taus"]
    both = [r for r in rows if r["peak_dot"] >= 0 and r["peak_norm"] >= 0]
    dist_falls = sum(1 for r in rows if r["distance"][0] > r["distance"][-1])
    peaks_dot = [_tau_label(taus_[r["peak_dot"]]) for r in rows if r["peak_dot"] >= 0]
    peaks_norm = [_tau_label(taus_[r["peak_norm"]]) for r in rows if r["peak_norm"] >= 0]
    agrees = "yes" if len(both) == len(rows) and dist_falls == len(rows) else "no" if not both else "partly"
    r0 = rows[0]
    line = (f"interior peak (rise then fall in energy) of the dot product in {len(peaks_dot)}/{len(rows)} seeds "
            f"(tau = {', '.join(peaks_dot) or '-'}), of the norm in {len(peaks_norm)}/{len(rows)} "
            f"(tau = {', '.join(peaks_norm) or '-'}); distance at tau=0 > at tau=inf in {dist_falls}/{len(rows)} "
            f"(seed {r0['seed']}: {r0['distance'][0]:.3g} -> {r0['distance'][-1]:.3g}); "
            f"energy {r0['energy'][0]:.3g} -> {r0['energy'][-1]:.3g}")
    return dict(agrees=agrees, line=line)


def plot(data: dict):
    """Each measure against τ (log axis; τ = 0 and ∞ drawn at the ends of the grid), one line per seed."""
    from matplotlib.figure import Figure

    taus_ = data["taus"]
    finite = [t for t in taus_ if t not in (None, 0.0) and t != math.inf]
    lo, hi = min(finite) / 10.0, max(finite) * 10.0
    x = [lo if t == 0.0 else hi if (t is None or t == math.inf) else t for t in taus_]
    names = [("energy", "energy  L̂(v_lp(τ), B₀)"), ("distance", "‖B_ft − B₀‖_F"), ("cosine", "cos(B_ft, B₀)"),
             ("dot", "⟨B_ft, B₀⟩_F"), ("norm", "‖B_ft‖_F"), ("ood_loss", "OOD loss (t = ∞)")]
    fig = Figure(figsize=(11, 6.2), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, (key, label) in zip(axes, names):
        for r in data["seeds"]:
            y = [np.nan if v is None else v for v in r[key]]
            ax.plot(x, y, "o-", ms=3, lw=1, label=f"seed {r['seed']}")
            peak = r.get(f"peak_{key}", -1)
            if peak is not None and peak >= 0:
                ax.plot([x[peak]], [y[peak]], "k*", ms=9)
        ax.set_xscale("log")
        if key in ("energy", "ood_loss"):
            ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xticks([lo, 1e-2, 1.0, hi], ["0", "1e-2", "1", "∞"])
        ax.set_xlabel("LP time τ")
    axes[0].legend(fontsize=7)
    fig.suptitle("LP for τ, then FT to t = ∞ (★: interior maximum)", fontsize=11)
    return fig

r"""The FT OOD lower bound of Kumar et al. (ICLR 2022) in both versions, ingredient by ingredient.

Both statements bound the OOD error of fine-tuning from below *for every t*
(``docs/theory.md`` §4):

**submission-thm-3.1** [printed, submission Theorem 3.1]. If :math:`\cos\theta_k(R_0,S^\perp) > 0`,

.. math:: \sqrt{L_{ood}(v_{ft}(t),B_{ft}(t))} \;\ge\;
          \frac{\cos\theta_k(R_0,S^\perp)}{\sqrt k}\,
          \frac{\min(\varphi,\ \varphi^2/\|w_\star\|_2)}{(1+\|w_\star\|_2)^2} - \varepsilon

with the worst-case loss :math:`L_{ood} = \|B^\top v - w_\star\|^2` (Σ = I),
:math:`\varphi^2 = (v_0^\top v_\star)^2 - \|v_\star\|^4` *as printed* (no absolute value; the
statement is undefined when this is negative) and :math:`\varepsilon = d(B_0, B_\star)`.
The printed text defines ε once as a squared norm and elsewhere as the unsquared
distance; we use the unsquared distance (``docs/theory.md`` §4). Its regime: 1 ≤ k < n < d, k < d − n.

**final-thm-3.3** [final, reconstructed]. The same inequality with
:math:`\cos\theta_{\max}(R_0,S^\perp)`, :math:`\varphi^2 = |(v_0^\top v_\star)^2 - \|v_\star\|^4|`,
the Σ-weighted loss :math:`L_{ood} = e^\top\Sigma e`, and the whole right-hand side multiplied
by :math:`\sqrt{\sigma_{\min}(\Sigma)}`. Its regime: 0 < k ≤ m, m + k < d, and
:math:`\cos\theta_{\max}(R_0,S) > 0`, :math:`\cos\theta_{\max}(R_0,S^\perp) > 0`.

Numerically :math:`\cos\theta_k` (k-th largest singular value of :math:`E^\top F`) and
:math:`\cos\theta_{\max}` (cosine of the largest of the k principal angles) are the same
number; the versions differ in φ, the loss, σ_min and the regime.

No constant is ever changed here. The observed side (min over t of √L_ood) lives in
:mod:`lpft_theory.theory.observe`; :func:`check_problem` combines the two into verdicts.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

from .. import geometry, metrics

#: The two versions of the FT lower bound, by name: the ICLR submission's Theorem 3.1 [printed] and the
#: final Theorem 3.3 [reconstructed] (``docs/theory.md`` §4.1). Every bound function takes one of them.
STATEMENTS = ("submission-thm-3.1", "final-thm-3.3")

REFERENCES = {
    "submission-thm-3.1": "Kumar et al. 2022, submission Thm 3.1 [printed]",
    "final-thm-3.3": "Kumar et al. 2022, final Thm 3.3 [reconstructed]",
}
LOSSES = {"submission-thm-3.1": "worst-case (Sigma = I)", "final-thm-3.3": "Sigma-weighted"}

#: A bound is called *violated* only when observed < bound - tol with
#: tol = VIOLATION_RTOL * max(|bound|, observed, ||w*||) + VIOLATION_ATOL. The observed value comes
#: from integrations at rtol 1e-10 / atol 1e-12 (reduced coordinates); against the independent rtol 1e-11
#: reference it agreed to <= 1e-8 relative and <= 3e-10 absolute in every case we cross-checked, so the
#: tolerance leaves two orders of magnitude on top. (An earlier version floored the scale at 1, i.e. an
#: absolute 1e-6, which hid a 3.7% relative shortfall at scale 2.6e-5.) A finite-time minimum is an
#: *achieved* value of the trajectory, so it can only over-estimate the true minimum; the t = inf value
#: is the polished limit (:mod:`lpft_theory.theory.observe`).
VIOLATION_RTOL = 1e-6
VIOLATION_ATOL = 1e-10
#: A cosine counts as "> 0" (precondition) only above this: singular values of an exactly rank-deficient
#: matrix come out of the SVD at rounding level (~1e-17), not 0.
COS_TOL = 1e-12


def violation_tolerance(bound: float, observed: float, w_star_norm: float) -> float:
    """The absolute slack used when deciding "violated" (see :data:`VIOLATION_RTOL`)."""
    vals = [w_star_norm] + [abs(x) for x in (bound, observed) if np.isfinite(x)]
    return VIOLATION_RTOL * max(vals) + VIOLATION_ATOL


@dataclasses.dataclass(frozen=True)
class BoundValue:
    """The right-hand side of one statement's bound on :math:`\\sqrt{L_{ood}}` for one problem.

    ``value`` is NaN when the statement is undefined (printed φ² < 0, or B*/v* unknown).
    ``applies`` is True only when every precondition holds (``reasons`` lists the failures).
    ``vacuous`` is True when the value is ≤ 0 (it then cannot be violated, since √L ≥ 0).
    """

    statement: str
    reference: str
    value: float
    applies: bool
    vacuous: bool
    ingredients: dict
    loss: str
    reasons: tuple = ()


def _np(a):
    return np.asarray(a, dtype=np.float64)


def kth_cosine(cos_values, k: int) -> float:
    r""":math:`\sigma_k(E^\top F)`, the k-th largest singular value; 0 when the target subspace
    has dimension < k (then :math:`E^\top F` has fewer than k nonzero singular values)."""
    cos_values = _np(cos_values)
    return float(cos_values[k - 1]) if cos_values.size >= k else 0.0


def bound_ingredients(problem) -> dict:
    r"""Every ingredient of both bounds, as Python floats/ints.

    Keys: ``cos_theta_k`` (submission: k-th largest cosine of the angles R0 vs S⊥),
    ``cos_theta_max`` (final: cosine of the largest angle R0 vs S⊥; the same number),
    ``cos_theta_max_S`` (R0 vs S, a precondition of the final version),
    ``phi_printed`` (no |·|; NaN when the printed φ² < 0), ``phi2_printed`` (signed),
    ``phi_final`` (with |·|), ``eps`` = d(B0, B*) (unsquared, closed form 2 sin(θ_max/2)),
    ``w_star_norm``, ``sigma_min``/``sigma_max`` of Σ (1 for identity), ``k``, ``m``, ``n``, ``d``,
    ``has_truth`` (B* and v* given).
    """
    B0 = _np(problem.B0)
    X = _np(problem.X)
    k, d = B0.shape
    n = X.shape[0]
    U_S = geometry.column_basis(X.T)  # S = rowspace(X), orthonormal columns
    m = U_S.shape[1]
    cos_S = _np(geometry.cos_angles_to_subspace(B0, U_S))
    cos_perp = _np(geometry.cos_angles_to_subspace(B0, U_S, complement=True))
    w = _np(problem.w_star)
    has_truth = problem.B_star is not None and problem.v_star is not None
    if has_truth:
        v_star = _np(problem.v_star)
        v0 = _np(problem.v0)
        phi2 = float(v0 @ v_star) ** 2 - float(v_star @ v_star) ** 2
        phi_printed = float(metrics.head_alignment_error(v0, v_star, absolute=False))
        phi_final = float(metrics.head_alignment_error(v0, v_star, absolute=True))
        # B0 and B* have orthonormal rows (Problem validates both), so the closed form holds
        eps = float(geometry.feature_distance(B0, _np(problem.B_star), check=False))
    else:
        phi2 = phi_printed = phi_final = eps = math.nan
    if problem.sigma_ood is None:
        smin = smax = 1.0
    else:
        lam = np.linalg.eigvalsh(_np(problem.sigma_ood))
        smin, smax = float(lam[0]), float(lam[-1])
    ctk = kth_cosine(cos_perp, k)
    return dict(
        cos_theta_k=ctk,
        cos_theta_max=float(np.min(cos_perp)) if cos_perp.size >= k else 0.0,
        cos_theta_max_S=float(np.min(cos_S)) if cos_S.size >= k else 0.0,
        phi_printed=phi_printed,
        phi2_printed=phi2,
        phi_final=phi_final,
        eps=eps,
        w_star_norm=float(np.linalg.norm(w)),
        sigma_min=smin,
        sigma_max=smax,
        k=int(k),
        m=int(m),
        n=int(n),
        d=int(d),
        has_truth=bool(has_truth),
    )


def align_representative(problem):
    r"""The same problem with :math:`(B_\star, v_\star)` replaced by :math:`(UB_\star, Uv_\star)`, U the
    polar factor of :math:`B_0B_\star^\top` (:func:`lpft_theory.geometry.polar_factor`; the minimiser in
    :math:`d(B_0,B_\star)`, ``docs/theory.md`` §1 and §4).

    :math:`w_\star = B_\star^\top v_\star` and ε are unchanged, but φ is not: it compares v₀ with
    :math:`v_\star`, and only the representative aligned with B₀ makes that comparison meaningful for
    k ≥ 2 (for k = 1, U = ±1 and φ is unchanged). The statements do not say which representative is
    meant; the campaign and the adversarial search use this aligned one.
    """
    import equinox as eqx
    import jax.numpy as jnp

    if problem.B_star is None or problem.v_star is None:
        raise ValueError("align_representative: the problem needs B_star and v_star")
    Bs, vs = aligned_pair(problem.B0, problem.B_star, problem.v_star)
    return eqx.tree_at(lambda q: (q.B_star, q.v_star), problem, (jnp.asarray(Bs), jnp.asarray(vs)))


def aligned_pair(B0, B_star, v_star):
    r""":math:`(UB_\star, Uv_\star)` of :func:`align_representative` on arrays (numpy float64 on the host,
    no JAX dispatch: the campaign samples with it), U the polar factor of :math:`B_0B_\star^\top`."""
    B0, Bs, vs = (np.asarray(a, dtype=np.float64) for a in (B0, B_star, v_star))
    U = geometry.polar_factor(B0 @ Bs.T)
    return U @ Bs, U @ vs


def bound_frame_range(problem, ingredients: Optional[dict] = None) -> dict:
    r"""Range of each statement's bound over every representative :math:`(UB_\star, Uv_\star)`, U ∈ O(k),
    of the same :math:`w_\star`, beside its value in :math:`B_0`'s frame (``docs/theory.md`` §4.3).

    [derived] ε, ‖v*‖ and ‖w*‖ do not depend on U (ε minimises over U already), nor do the angles, Σ
    or the regime; only :math:`x = v_0^\top Uv_\star` does. For k = 1, U = ±1 and :math:`x^2 = (v_0v_\star)^2`
    is fixed. For k ≥ 2, :math:`Uv_\star` sweeps the whole sphere of radius ‖v*‖ (O(k) is transitive on
    it), so :math:`x^2` sweeps :math:`[0, P]` with :math:`P = \|v_0\|^2\|v_\star\|^2`. With
    :math:`V = \|v_\star\|^4` the signed :math:`q = x^2 - V` sweeps :math:`[-V, P - V]`, and since the bound
    is increasing in φ ≥ 0:

    * final (φ = √|q|): φ² ranges over [0, max(V, P − V)] when P ≥ V, else over [V − P, V];
    * submission (printed φ = √q, defined only where q ≥ 0): φ² ∈ [0, P − V] when P ≥ V; undefined
      for every U when P < V.

    Arguments:
        problem: a :class:`~lpft_theory.problem.Problem` with ``B_star`` and ``v_star``.
        ingredients: :func:`bound_ingredients` of the problem (computed if None).

    Returns:
        ``{statement: dict(given=..., frame_B0=..., min=..., max=..., phi_min=..., phi_max=...)}`` with
        ``given`` the bound with the stored pair, ``frame_B0`` with the representative aligned with B₀
        (:func:`align_representative`, the reading the package's campaign and searches use), ``min`` and
        ``max`` over U ∈ O(k) (NaN where the statement is undefined for every U). Floats.

    Raises:
        ValueError: the problem has no ``B_star``/``v_star``.
    """
    if problem.B_star is None or problem.v_star is None:
        raise ValueError("bound_frame_range: the problem needs B_star and v_star")
    ing = bound_ingredients(problem) if ingredients is None else ingredients
    k = ing["k"]
    v0 = _np(problem.v0)
    vs = _np(problem.v_star)
    V = float(vs @ vs) ** 2
    if k == 1:
        P = float(v0 @ vs) ** 2
        x2_lo = x2_hi = P
    else:
        x2_lo, x2_hi = 0.0, float(v0 @ v0) * float(vs @ vs)
    q_lo, q_hi = x2_lo - V, x2_hi - V
    aligned = align_representative(problem)
    ing_al = bound_ingredients(aligned)
    out = {}
    for st in STATEMENTS:
        if st == "submission-thm-3.1":
            cos_t, smin = ing["cos_theta_k"], 1.0
            if q_hi >= 0:
                phi2 = (max(q_lo, 0.0), q_hi)
            else:
                phi2 = (math.nan, math.nan)
            given, frame = ing["phi_printed"], ing_al["phi_printed"]
        else:
            cos_t, smin = ing["cos_theta_max"], ing["sigma_min"]
            if q_lo <= 0 <= q_hi:
                phi2 = (0.0, max(-q_lo, q_hi))
            else:
                a2, b2 = abs(q_lo), abs(q_hi)
                phi2 = (min(a2, b2), max(a2, b2))
            given, frame = ing["phi_final"], ing_al["phi_final"]
        f = lambda phi: bound_formula(cos_t, k, phi, ing["w_star_norm"], ing["eps"], smin)  # noqa: E731
        lo, hi = (math.sqrt(x) if np.isfinite(x) else math.nan for x in phi2)
        out[st] = dict(given=float(f(given)), frame_B0=float(f(frame)), min=float(f(lo)), max=float(f(hi)),
                       phi_min=float(lo), phi_max=float(hi))
    return out


def bound_formula(cos_theta: float, k: int, phi: float, w_star_norm: float, eps: float,
                  sigma_min: float = 1.0) -> float:
    r"""The common right-hand side
    :math:`\sqrt{\sigma_{\min}}\,\big(\frac{\cos\theta}{\sqrt k}\frac{\min(\varphi,\varphi^2/\|w_\star\|)}{(1+\|w_\star\|)^2} - \varepsilon\big)`
    (σ_min = 1 gives the submission's form). NaN in, NaN out."""
    if not np.isfinite(phi):
        return math.nan
    W = float(w_star_norm)
    head = min(phi, phi * phi / W) if W > 0 else phi
    return math.sqrt(sigma_min) * (cos_theta / math.sqrt(k) * head / (1.0 + W) ** 2 - eps)


def ft_lower_bound(problem, statement: str, ingredients: Optional[dict] = None) -> BoundValue:
    """The bound of ``statement`` (one of :data:`STATEMENTS`) for ``problem``, with its preconditions."""
    if statement not in STATEMENTS:
        raise ValueError(f"statement must be one of {STATEMENTS}, got {statement!r}")
    ing = bound_ingredients(problem) if ingredients is None else ingredients
    k, m, n, d = ing["k"], ing["m"], ing["n"], ing["d"]
    reasons = []
    if not ing["has_truth"]:
        reasons.append("B_star and v_star are needed (phi and eps depend on them)")
    if statement == "submission-thm-3.1":
        cos_t = ing["cos_theta_k"]
        phi = ing["phi_printed"]
        value = bound_formula(cos_t, k, phi, ing["w_star_norm"], ing["eps"], 1.0)
        if not (1 <= k < n < d and k < d - n):
            reasons.append(f"outside the printed regime 1 <= k < n < d, k < d - n (k={k}, n={n}, d={d})")
        if not cos_t > COS_TOL:
            reasons.append("cos theta_k(R0, S_perp) = 0")
        if ing["has_truth"] and not ing["phi2_printed"] >= 0:
            reasons.append("printed phi^2 = (v0.v*)^2 - |v*|^4 < 0: phi undefined")
    else:
        cos_t = ing["cos_theta_max"]
        phi = ing["phi_final"]
        value = bound_formula(cos_t, k, phi, ing["w_star_norm"], ing["eps"], ing["sigma_min"])
        if not (0 < k <= m and m + k < d):
            reasons.append(f"outside the regime 0 < k <= m, m + k < d (k={k}, m={m}, d={d})")
        if not cos_t > COS_TOL:
            reasons.append("cos theta_max(R0, S_perp) = 0")
        if not ing["cos_theta_max_S"] > COS_TOL:
            reasons.append("cos theta_max(R0, S) = 0")
    value = float(value)
    return BoundValue(
        statement=statement,
        reference=REFERENCES[statement],
        value=value,
        applies=not reasons,
        vacuous=bool(np.isfinite(value) and value <= 0),
        ingredients=dict(ing),
        loss=LOSSES[statement],
        reasons=tuple(reasons),
    )


def verdict(bound: BoundValue, observed: float, t_min: float, where: Optional[str] = None) -> dict:
    """One result row: ``statement, bound, observed, t_min, margin, holds, applies`` (+ context).

    ``where`` (``"t=0"``, ``"interior"`` or ``"infinity"``, :data:`lpft_theory.theory.observe.WHERE`) is
    where the observed minimum lies; at ``"infinity"`` ``t_min`` is the time the steady state was reached.

    ``holds`` is ``observed >= bound - tol`` (:func:`violation_tolerance`), None when the bound is
    undefined (NaN). A violation of an applicable bound is ``applies and holds is False``.
    """
    b = bound.value
    tol = violation_tolerance(b, observed, bound.ingredients["w_star_norm"])
    holds = None if not np.isfinite(b) else bool(observed >= b - tol)
    return dict(
        statement=bound.statement,
        bound=b if np.isfinite(b) else None,
        observed=float(observed),
        t_min=float(t_min),
        where=where,
        margin=float(observed - b) if np.isfinite(b) else None,
        holds=holds,
        applies=bool(bound.applies),
        vacuous=bool(bound.vacuous),
        tolerance=tol,
        loss=bound.loss,
        reference=bound.reference,
        reasons=list(bound.reasons),
    )


def loss_key(statement: str) -> str:
    """The observed loss a statement bounds, as the suffix of the observer's keys: ``"identity"`` (Σ = I,
    the submission) or ``"sigma"`` (Σ-weighted, the final)."""
    return "identity" if statement == "submission-thm-3.1" else "sigma"


def observed_verdicts(problem, obs: dict, j: int = 0, ing=None) -> dict:
    """Per statement the :func:`verdict` of ``problem`` from row ``j`` of an observation ``obs``
    (:func:`lpft_theory.theory.observe.observe`); ``ing`` its :func:`bound_ingredients` if already known."""
    from .observe import WHERE

    ing = bound_ingredients(problem) if ing is None else ing
    out = {}
    for st in STATEMENTS:
        key = loss_key(st)
        out[st] = verdict(ft_lower_bound(problem, st, ing), float(obs[f"min_{key}"][j]), float(obs[f"tmin_{key}"][j]),
                          WHERE[int(obs[f"where_{key}"][j])])
    return out


def observed_min_ood(problem, statement: str = "final-thm-3.3", **kwargs):
    """``(observed, t_min)``: min over t ≥ 0 of √L_ood(FT(t)) for the loss of ``statement``
    (Σ = I for the submission, Σ for the final); see :func:`lpft_theory.theory.observe.observe`."""
    obs, t_min = observed_min_ood_batch([problem], statement, **kwargs)
    return float(obs[0]), float(t_min[0])


def observed_min_ood_batch(problems, statement: str = "final-thm-3.3", **kwargs):
    """:func:`observed_min_ood` of every problem of a list in one batched observation (one padded shape,
    the problems share vmapped batches instead of each filling a batch alone); numpy arrays
    ``(observed, t_min)``."""
    from .observe import observe

    if statement not in STATEMENTS:
        raise ValueError(f"statement must be one of {STATEMENTS}, got {statement!r}")
    obs = observe(list(problems), **kwargs)
    key = loss_key(statement)
    return np.asarray(obs[f"min_{key}"], dtype=float), np.asarray(obs[f"tmin_{key}"], dtype=float)


#: How the observed minimum of :func:`check_problem` is certified (:mod:`lpft_theory.theory.observe`).
CERTIFIED_BY = ("sign of dL/dt (closed form) checked at every accepted step of one Kvaerno5 solve at rtol 1e-10 "
                "to the steady state; every bracket with an interior minimum of its Hermite cubic refined by "
                "Newton on the trajectory; t = inf limit polished by minimum-norm Newton on grad L = 0")


def check_problem(problem, **kwargs) -> list:
    """Both statements' verdicts (:func:`verdict`) for one problem, observed by :mod:`lpft_theory.theory.observe`."""
    from .observe import observe

    obs = observe([problem], **kwargs)
    rows = []
    for row in observed_verdicts(problem, obs).values():
        row["converged"] = bool(obs["converged"][0])
        row["certified_by"] = CERTIFIED_BY
        rows.append(row)
    return rows

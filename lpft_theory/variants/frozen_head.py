r"""Frozen-head fine-tuning: tune B only, v fixed (beyond the paper; "surgical" FT, ``docs/theory.md`` §7).

The flow is :math:`\dot v = 0`, :math:`\dot B = -\nabla_B\hat L(v_h, B) = -2v_hr^\top X`, with the
head :math:`v_h` = the problem's :math:`v_0` (``init="random"``) or :math:`v_{lp}^\infty`
(``init="lp"``: "LP, then tune the features under the LP head").

**What replaces balancedness** [derived]. Lemma A.4 (:math:`vv^\top - BB^\top` constant) needs
the head to move; here :math:`vv^\top` is constant but :math:`BB^\top` is not, so
:math:`vv^\top - BB^\top` drifts. What holds instead:

1. *Rank-one, head-aligned updates.* Every update :math:`\dot B = v_h(-2X^\top r)^\top` has
   column space :math:`\operatorname{span}(v_h)`, so :math:`B(t) = B_0 + v_hg(t)^\top` with
   :math:`g(t)\in S`. Equivalently the k−1 row combinations orthogonal to the head are
   conserved: :math:`(I - \hat v_h\hat v_h^\top)B(t) = (I - \hat v_h\hat v_h^\top)B_0`
   (:func:`head_orthogonal_drift` measures it).
2. *S⊥ frozen* (Lemma A.3 still holds): :math:`g(t)\in S`, so :math:`B(t)\Pi_{S^\perp} = B_0\Pi_{S^\perp}`.
3. *The effective predictor follows linear-regression gradient flow.* :math:`w = B^\top v_h`
   obeys :math:`\dot w = -2\|v_h\|^2X^\top(Xw - y)`, so in S-coordinates
   :math:`w_S(t) = a_\star + e^{-2\|v_h\|^2Gt}(w_S(0) - a_\star)` and :math:`w_\perp` never changes
   (:func:`closed_form`). Hence the training loss is non-increasing, FT-frozen-head
   reaches zero training loss (if :math:`v_h\ne0`) and its limit has OOD error
   :math:`e = \Pi_{S^\perp}(B_0^\top v_h - w_\star)` exactly; it is the minimum-norm change of w.
   With :math:`v_h = 0` nothing moves.
4. :math:`\|B(t) - B_0\|_F = \|v_h\|\,\|g(t)\|` is the feature change; with the LP head
   (which already fits as well as B₀ allows) it is typically small.

Reduced coordinates: :math:`\dot B_S = -2v_hr^\top`, :math:`r = G(B_S^\top v_h - a_\star)`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import flows
from .._precision import check_x64
from ..integrate import (DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_STEADY_SOLVER, check_solver,
                         integrate)
from ..solve import check_times, initial_head, resolve_problem
from ..trajectory import Trajectory


def frozen_head_field(t, B_S, args):
    r"""Reduced field :math:`\dot B_S = -2v_hr^\top`, ``args = (flow, v_h)`` (``flow`` = ``rp.flow``)."""
    flow, v = args
    return -2.0 * jnp.outer(v, flows.residual(flow, v, B_S))


def frozen_head_field_full(t, B, args):
    r"""Full field :math:`\dot B = -2v_h(X^\top r)^\top`, ``args = (problem, v_h)``."""
    problem, v = args
    r = problem.X @ (B.T @ v) - problem.y
    return -2.0 * jnp.outer(v, problem.X.T @ r)


def closed_form(rp, v_head, times):
    r"""Exact :math:`B_S(t) = B_{S,0} + v_hg(t)^\top`, :math:`g = (w_S(t) - w_S(0))/\|v_h\|^2`, for ``times`` (inf allowed).

    :math:`w_S(t) = a_\star + V e^{-2\|v_h\|^2\Lambda t}V^\top(w_S(0) - a_\star)` with :math:`G = V\Lambda V^\top`
    (expm1 for accuracy at small t). Returns (T, k, m).
    """
    t = jnp.asarray(times, dtype=rp.G.dtype).reshape(-1)
    nv2 = v_head @ v_head
    lam, V = jnp.linalg.eigh(rp.G)
    w0 = rp.B_S0.T @ v_head
    c0 = V.T @ (w0 - rp.a_star)
    rate = 2.0 * nv2 * lam
    frac = -jnp.expm1(-jnp.outer(t, rate))  # 1 - e^{-rate t}
    frac = jnp.where(jnp.isinf(t)[:, None], jnp.where(rate > 0, 1.0, 0.0), frac)
    dw = -(frac * c0) @ V.T  # w_S(t) - w_S(0), (T, m)
    g = jnp.where(nv2 > 0, dw / jnp.where(nv2 > 0, nv2, 1.0), 0.0)
    return rp.B_S0[None] + v_head[None, :, None] * g[:, None, :]


def head_orthogonal_drift(v_head, B, B_init):
    r"""Conserved quantity of frozen-head FT: :math:`\|(I - \hat v\hat v^\top)(B - B_{init})\|_F` (0 exactly along the flow)."""
    nv2 = v_head @ v_head
    P = jnp.eye(v_head.shape[0], dtype=B.dtype) - jnp.outer(v_head, v_head) / jnp.where(nv2 > 0, nv2, 1.0)
    return jnp.linalg.norm(P @ (B - B_init))


def simulate_frozen_head(problem, times, *, init: str = "random", solver: str = "closed", rtol=DEFAULT_RTOL,
                         atol=DEFAULT_ATOL, gtol=DEFAULT_GTOL, steady_solver: str = DEFAULT_STEADY_SOLVER,
                         max_steps: int = DEFAULT_MAX_STEPS, coords: str = "reduced") -> Trajectory:
    r"""Frozen-head FT saved at ``times`` (``inf`` allowed last, the limit).

    ``solver="closed"`` (default) uses :func:`closed_form`; any diffrax solver name
    integrates :func:`frozen_head_field` instead (with ``coords="full"``,
    :func:`frozen_head_field_full` on full matrices, finite times only). Returns a
    :class:`~lpft_theory.solve.Trajectory` with ``method="ft-frozen-head"`` and a constant v.
    """
    check_x64()
    t = check_times(times)
    if solver != "closed":
        check_solver(solver, "solver ('closed' or a diffrax solver)")
    if coords == "full" and solver == "closed":
        raise ValueError("coords='full' integrates the ODE: pass a diffrax solver, e.g. solver='tsit5'")
    rp = resolve_problem(problem, coords, "simulate_frozen_head")
    v_h = initial_head(rp, init)
    vs = jnp.broadcast_to(v_h, (t.size,) + v_h.shape)
    y0 = (v_h, rp.B_S0)
    if solver == "closed":
        B_S = closed_form(rp, v_h, t)
        return Trajectory(t, vs, B_S, "ft-frozen-head", "closed-form", 0, True if np.isinf(t[-1]) else None, rp, y0,
                          info=dict(init=init))
    cfg = dict(rtol=float(rtol), atol=float(atol), gtol=float(gtol), solver=solver, steady_solver=steady_solver,
               max_steps=int(max_steps))
    if coords == "full":
        if np.isinf(t[-1]):
            raise ValueError("times: t = inf is only supported with coords='reduced'")
        B, steps, _ = integrate(frozen_head_field_full, (problem, v_h), problem.B0, t,
                                what="frozen-head FT (full coordinates)", **cfg)
        return Trajectory(t, vs, B @ rp.U_S, "ft-frozen-head", solver, steps, None, rp, y0, B_full=B, coords="full",
                          info=dict(init=init))
    B_S, steps, converged = integrate(frozen_head_field, (rp.flow, v_h), rp.B_S0, t, what="frozen-head FT", **cfg)
    return Trajectory(t, vs, B_S, "ft-frozen-head", solver, steps, converged, rp, y0, info=dict(init=init))

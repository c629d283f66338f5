r"""L2-SP fine-tuning (beyond the paper; ``docs/theory.md`` §7): FT with the penalty :math:`\lambda\|B-B_0\|_F^2`.

Li, Grandvalet & Davoine (2018, "Explicit inductive bias for transfer learning with
convolutional networks") pull the fine-tuned weights towards the pretrained ones. Here
the penalised objective and its gradient flow (from :math:`(v_0, B_0)`, or from
:math:`(v_{lp}^\infty, B_0)` for an LP-then-L2-SP variant) are

.. math:: J_\lambda(v,B) = \hat L(v,B) + \lambda\|B - B_0\|_F^2,\qquad
          \dot v = -2BX^\top r,\quad \dot B = -2vr^\top X - 2\lambda(B - B_0),

with :math:`r = XB^\top v - y` (``docs/theory.md`` §1). Only B is penalised; the head is free.

**The S⊥ part stays frozen for every λ** [derived]. Let :math:`D = B - B_0` and
:math:`\Pi_\perp = I - U_SU_S^\top`. Since :math:`X\Pi_\perp = 0`,

.. math:: \tfrac{d}{dt}(D\Pi_\perp) = -2v r^\top X\Pi_\perp - 2\lambda D\Pi_\perp = -2\lambda D\Pi_\perp,
          \qquad D(0)\Pi_\perp = 0,

so :math:`D\Pi_\perp \equiv 0` (the unique solution of a linear ODE): Lemma A.3 survives the
penalty. Therefore :math:`\|B-B_0\|_F^2 = \|(B_S - B_{S,0})\|_F^2` and in the reduced
coordinates of :mod:`lpft_theory.reduced` the penalty only acts on :math:`B_S`:

.. math:: \dot v = -2B_Sr,\quad \dot B_S = -2vr^\top - 2\lambda(B_S - B_{S,0}),\quad r = G(B_S^\top v - a_\star).

(:func:`l2sp_field`; :func:`l2sp_field_full` is the same flow on full matrices, used to
*measure* the S⊥ part rather than assume it.)

**Limits.** λ = 0 is FT exactly. As λ → ∞, :math:`B_S - B_{S,0} = O(1/\lambda)` (the fast
variable relaxes to :math:`-vr^\top/\lambda`), so on every finite time interval the flow
approaches the LP flow :math:`(v_{lp}(t), B_0)` with an O(1/λ) error (a singular
perturbation / Tikhonov limit); ``tests/test_l2sp.py`` measures the rate.

**Invariants.** Balancedness (Lemma A.4) no longer holds for λ > 0:
:math:`\tfrac{d}{dt}(vv^\top - BB^\top) = 2\lambda(DB^\top + BD^\top)`. The penalised objective
:math:`J_\lambda` is non-increasing (it is a gradient flow of :math:`J_\lambda`); the training
loss alone need not be.

**Stiffness.** The B-relaxation rate is 2λ, so for large λ·T an explicit solver needs
O(λT) steps; ``solver="auto"`` picks the implicit ``kvaerno5`` when λ > :data:`STIFF_LAMBDA`.
"""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np

from .. import flows
from .._checks import nonnegative_number
from .._precision import check_x64
from ..integrate import (DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, DEFAULT_STEADY_SOLVER, check_solver,
                         integrate)
from ..solve import check_times, initial_head, resolve_problem
from ..trajectory import Trajectory

#: ``solver="auto"`` switches to the implicit solver above this λ.
STIFF_LAMBDA = 100.0


def check_lambda(lam) -> float:
    """λ must be a finite number >= 0."""
    return nonnegative_number(lam, "l2sp lambda")


def l2sp_field(t, state, args):
    r"""Reduced L2-SP field, ``args = (flow, lam)``: :math:`(-2B_Sr,\ -2vr^\top - 2\lambda(B_S - B_{S,0}))`.

    ``flow`` is the :class:`~lpft_theory.reduced.FlowView`; its norm is :math:`\|\nabla J_\lambda\|`
    (exact: the S⊥ part of the gradient vanishes), which the driver's t = ∞ test uses.
    """
    flow, lam = args
    v, B_S = state
    r = flows.residual(flow, v, B_S)
    return (-2.0 * B_S @ r, -2.0 * jnp.outer(v, r) - 2.0 * lam * (B_S - flow.B_S0))


def l2sp_field_full(t, state, args):
    r"""L2-SP field on full matrices, ``args = (problem, lam)``: :math:`(-2BX^\top r,\ -2vr^\top X - 2\lambda(B-B_0))`."""
    problem, lam = args
    v, B = state
    r = problem.X @ (B.T @ v) - problem.y
    g = problem.X.T @ r
    return (-2.0 * B @ g, -2.0 * jnp.outer(v, g) - 2.0 * lam * (B - problem.B0))


def penalised_objective(rp, lam, v, B_S):
    r""":math:`J_\lambda = \hat L + \lambda\|B_S - B_{S,0}\|_F^2` at a reduced state."""
    from ..metrics import train_loss

    return train_loss(rp, v, B_S) + lam * jnp.sum((B_S - rp.B_S0) ** 2)


def simulate_l2sp(problem, lam, times, *, init: str = "random", rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL,
                  gtol=DEFAULT_GTOL, solver: str = "auto", steady_solver: str = DEFAULT_STEADY_SOLVER,
                  max_steps: int = DEFAULT_MAX_STEPS, coords: str = "reduced") -> Trajectory:
    r"""Integrate the L2-SP flow with penalty ``lam`` and save at ``times`` (``inf`` last = its limit).

    ``init="random"`` starts from the problem's head :math:`v_0`, ``"lp"`` from
    :math:`v_{lp}^\infty` (closed form). ``coords="full"`` integrates
    :func:`l2sp_field_full` on (k + k·d) numbers (finite times only), so the S⊥ part of
    B can be measured. ``t = inf`` stops where
    :math:`\|\nabla J_\lambda\| \le` ``gtol`` · max(1, its initial value); ``converged``
    records whether that happened. Returns a :class:`~lpft_theory.solve.Trajectory`
    with ``method = "l2sp"``.
    """
    check_x64()
    lam = check_lambda(lam)
    t = check_times(times)
    if solver == "auto":
        solver = "kvaerno5" if lam > STIFF_LAMBDA else "tsit5"
    check_solver(solver, "solver ('auto' or a diffrax solver)")
    check_solver(steady_solver, "steady_solver", fused=False, rosenbrock=True)
    rp = resolve_problem(problem, coords, "simulate_l2sp")
    v_start = initial_head(rp, init)
    y0 = (v_start, rp.B_S0)
    lam_a = jnp.asarray(lam, dtype=rp.G.dtype)
    cfg = dict(rtol=float(rtol), atol=float(atol), gtol=float(gtol), solver=solver, steady_solver=steady_solver,
               max_steps=int(max_steps))
    if coords == "full":
        if np.isinf(t[-1]):
            raise ValueError("times: t = inf is only supported with coords='reduced'")
        (v, B), steps, _ = integrate(l2sp_field_full, (problem, lam_a), (v_start, problem.B0), t,
                                     what="L2-SP (full coordinates)", **cfg)
        return Trajectory(t, v, B @ rp.U_S, "l2sp", solver, steps, None, rp, y0, B_full=B, coords="full",
                          info=dict(lam=lam, init=init))
    (v, B_S), steps, converged = integrate(l2sp_field, (rp.flow, lam_a), y0, t, what="L2-SP", **cfg)
    return Trajectory(t, v, B_S, "l2sp", solver, steps, converged, rp, y0, info=dict(lam=lam, init=init))

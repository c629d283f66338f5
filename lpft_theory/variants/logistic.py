r"""LP, FT and LP-FT with the logistic loss (follow-up, issue 15; ``docs/follow_up/logistic.md``).

The squared loss of the paper stays the default everywhere; this module adds the classification loss

.. math:: \hat L_{log}(v, B) = \sum_{i=1}^n \log\big(1 + e^{-s_iz_i}\big),\qquad z = XB^\top v,\quad
          s = \operatorname{sign}(Xw_\star),

summed over the training set (no 1/n, like the squared loss). With :math:`g = \partial\hat L/\partial z`,
:math:`g_i = -s_i\sigma(-s_iz_i)`:

.. math:: \nabla_v\hat L = BX^\top g,\qquad \nabla_B\hat L = vg^\top X.

**What carries over from the squared loss** [derived]: both facts only use that the loss is a function
of :math:`XB^\top v`.

* *Lemma A.3:* :math:`\nabla_B` has rows in S = rowspace(X), so :math:`B(t)\Pi_{S^\perp} = B_0\Pi_{S^\perp}`:
  FT changes the features only inside S, and the flow runs in the reduced coordinates
  (:math:`z = ZB_S^\top v`, :math:`Z = XU_S`; :func:`lpft_theory.flows.logistic_field`).
* *Balancedness (Lemma A.4):* :math:`\tfrac{d}{dt}vv^\top = -BX^\top gv^\top - vg^\top XB^\top =
  \tfrac{d}{dt}BB^\top`, so :math:`vv^\top - BB^\top` is constant along FT.

**What does not:** on linearly separable data (here always separable in input space, by :math:`w_\star`)
the loss has no finite minimiser; the flows run forever with :math:`\|v\|\to\infty`. So only finite
``times`` are accepted. For LP with fixed features :math:`\phi_i = B_0x_i` separable by some head, the
head grows like :math:`\hat u\log t` with :math:`\hat u` the hard-margin SVM solution in feature space
(:math:`\min\|u\|` s.t. :math:`s_iu^\top\phi_i\ge1`; Soudry et al., JMLR 2018, for gradient descent; the
same ansatz :math:`v = \hat u\log t + \rho` solves the flow), i.e. :math:`\|v(t)\|\approx\log t/\gamma_\phi`
with :math:`\gamma_\phi = 1/\|\hat u\|` the max margin.

Because :math:`\|w\|` grows without bound, a squared OOD loss against :math:`w_\star` is not the right
measure: :func:`ood_error_rate` gives the OOD classification error for :math:`x\sim N(0,\Sigma)`, the
angle :math:`\arccos(\cos_\Sigma(w, w_\star))/\pi` in closed form.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import flows
from .._precision import check_x64
from ..integrate import DEFAULT_ATOL, DEFAULT_MAX_STEPS, DEFAULT_RTOL, check_solver, integrate
from ..solve import check_times, resolve_problem
from ..trajectory import Trajectory

#: The logistic methods and the squared-loss method each one mirrors.
METHODS = {"lp-logistic": "lp", "ft-logistic": "ft", "lpft-logistic": "lpft"}


def check_finite_times(times) -> np.ndarray:
    """Validated save times with no ``inf``: the logistic loss has no finite minimiser on separable data.

    Raises:
        ValueError: ``inf`` among the times (or any check of :func:`lpft_theory.solve.check_times`).
    """
    t = check_times(times)
    if np.isinf(t[-1]):
        raise ValueError("times: t = inf is refused for the logistic loss (no finite minimiser on separable data, "
                         "the head grows like log t); give finite times, e.g. 0,1,10,100")
    return t


def check_lp_time(lp_time) -> float:
    """The LP duration of ``lpft-logistic``: a finite number >= 0."""
    lp_time = float(lp_time)
    if not (math.isfinite(lp_time) and lp_time >= 0):
        raise ValueError(f"lp_time must be a finite number >= 0 for the logistic loss (no LP limit), got {lp_time}")
    return lp_time


def logistic_args(rp):
    """``(Z, s)``: the reduced inputs and the labels sign(X w*) the logistic fields read."""
    return rp.Z, flows.logistic_labels(rp)


def ood_error_rate(rp, v, B_S):
    r"""OOD classification error :math:`P_{x\sim N(0,\Sigma)}[\operatorname{sign}(w^\top x)\ne\operatorname{sign}(w_\star^\top x)]
    = \arccos\big(w^\top\Sigma w_\star/\sqrt{w^\top\Sigma w\;w_\star^\top\Sigma w_\star}\big)/\pi` (exact for Gaussian x;
    both w and w* lie in span(Q), so it is evaluated in Q-coordinates). 1/2 for w = 0."""
    w = rp.B_red(B_S).T @ v
    ws = rp.w_red
    S = rp.sigma_red
    num = w @ (S @ ws)
    den = jnp.sqrt((w @ (S @ w)) * (ws @ (S @ ws)))
    cos = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)
    return jnp.arccos(jnp.clip(cos, -1.0, 1.0)) / jnp.pi


_loss_t = jax.jit(jax.vmap(flows.logistic_loss, in_axes=(None, None, 0, 0)))
_ood_rate_t = jax.jit(jax.vmap(ood_error_rate, in_axes=(None, 0, 0)))


def simulate_logistic(problem, method: str, times, *, lp_time=None, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL,
                      solver: str = "tsit5", max_steps: int = DEFAULT_MAX_STEPS,
                      coords: str = "reduced") -> Trajectory:
    r"""LP, FT or LP-FT with the logistic loss, saved at the finite ``times``.

    Arguments:
        problem: a :class:`~lpft_theory.problem.Problem` (or a reduced one with ``coords="reduced"``).
        method: ``"lp-logistic"``, ``"ft-logistic"`` or ``"lpft-logistic"``.
        times: increasing finite times >= 0 (``inf`` refused: no finite minimiser).
        lp_time: ``lpft-logistic`` only (required there): the LP duration before FT; FT times count from 0.
        rtol, atol, solver, max_steps: the diffrax solve (:mod:`lpft_theory.integrate`).
        coords: ``"reduced"`` (default; :func:`~lpft_theory.flows.logistic_field`) or ``"full"``
            (:func:`~lpft_theory.flows.logistic_field_full` on full matrices, to measure the S⊥ part).

    Returns:
        A :class:`~lpft_theory.trajectory.Trajectory` (``method`` as given); ``info`` has ``loss="logistic"``,
        ``logistic_loss`` and ``ood_error_rate`` (T,) and ``lp_time``. Its ``train_loss`` metric
        (:func:`~lpft_theory.metrics.trajectory_metrics`) is still the squared loss.

    Raises:
        ValueError: an unknown method, ``inf`` in ``times``, a missing or bad ``lp_time``, a label
            sign(x·w*) that is undefined.
    """
    check_x64()
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    t = check_finite_times(times)
    check_solver(solver, "solver")
    base = METHODS[method]
    if base == "lpft":
        if lp_time is None:
            raise ValueError("lpft-logistic needs lp_time (a finite LP duration: the logistic LP has no limit)")
        lp_time = check_lp_time(lp_time)
    elif lp_time is not None:
        raise ValueError(f"lp_time only applies to lpft-logistic, not {method}")
    rp = resolve_problem(problem, coords, "simulate_logistic")
    Z, s = logistic_args(rp)
    cfg = dict(rtol=float(rtol), atol=float(atol), solver=solver, max_steps=int(max_steps))
    one, zero = jnp.ones((), rp.G.dtype), jnp.zeros((), rp.G.dtype)
    if coords == "full":
        field, inputs, B_init = flows.logistic_field_full, jnp.asarray(problem.X, rp.G.dtype), problem.B0
    else:
        field, inputs, B_init = flows.logistic_field, Z, rp.B_S0
    v_start, steps = rp.v0, 0
    if base == "lpft" and lp_time > 0:
        # LP phase saved on a grid as long as ``times`` (its last point is lp_time): the same compiled solve
        # as the FT phase (the feature rate is a traced argument).
        lp_grid = t * (lp_time / t[-1]) if t[-1] > 0 else np.asarray([lp_time])
        (v_lp, _), steps, _ = integrate(field, (inputs, s, zero), (rp.v0, B_init), lp_grid, what="logistic LP", **cfg)
        v_start = v_lp[-1]
    rate = zero if base == "lp" else one
    (v, B), more, _ = integrate(field, (inputs, s, rate), (v_start, B_init), t, what=f"logistic {base.upper()}",
                                **cfg)
    steps += int(more)
    if coords == "full":
        B_S, B_full = B @ rp.U_S, B
    else:
        B_S, B_full = B, None
    y0 = (v_start, rp.B_S0)
    info = dict(loss="logistic", lp_time=lp_time, logistic_loss=np.asarray(_loss_t(Z, s, v, B_S)),
                ood_error_rate=np.asarray(_ood_rate_t(rp, v, B_S)))
    return Trajectory(t, v, B_S, method, solver, int(steps), None, rp, y0, B_full=B_full, coords=coords, info=info)

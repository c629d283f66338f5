r"""A fixed-structure Rosenbrock loop (Rodas4): the stiff solver ``"rodas4_fused"`` of :mod:`lpft_theory.integrate`.

Why it exists. Near its minimum and its steady state the FT flow is stiff, so the observer of the
bound (:mod:`lpft_theory.theory.observe`) needs an L-stable method. diffrax's Kvaerno5 (an ESDIRK)
solves a nonlinear system per stage by Newton iterations. A Rosenbrock method is *linearly* implicit:
one Jacobian and one factorisation per step (here the explicit inverse of the stage matrix), then one
matrix-vector product per stage, with no iteration. On the observer's small reduced states (k + k·m ≤ 15 numbers) this is several times less
work per step than an ESDIRK step (``BENCHMARKS.md``, fifth pass, measures both on the same problems).
The same holds for the t = ∞ search of every flow (:func:`to_steady`, the default steady-state solver of
:func:`lpft_theory.integrate.solve_to_steady`; seventh pass there).

Method. Rodas4 of Hairer & Wanner (*Solving Ordinary Differential Equations II*, 2nd ed., §IV.7, the
code RODAS): 6 stages, order 4 with an embedded order-3 solution, L-stable and stiffly accurate. For an
autonomous field f with Jacobian J at the step's start y, in the form without matrix-vector products
with J,

.. math:: \Big(\tfrac{1}{h\gamma}I - J\Big)K_i = f\Big(y + \sum_{j<i} a_{ij}K_j\Big) + \sum_{j<i}\tfrac{c_{ij}}{h}K_j,
          \qquad y_1 = y + \sum_i m_iK_i,\qquad \hat e = K_6,

with :math:`\gamma = 1/4`; the coefficients :data:`RODAS4` are the published ones (to the 16 digits
the code RODAS gives). Stiff accuracy makes :math:`m_i = a_{6i}` (i < 6) and :math:`m_6 = 1`, so the
error estimate is the last stage itself. Only autonomous fields are supported (the package's flows
do not depend on t); the Jacobian is :func:`jax.jacfwd` of the raveled field (exact, no difference
quotients).

Step control as in :mod:`lpft_theory._fused_rk`: diffrax's RMS error ratio
:math:`\rho = \mathrm{RMS}(\hat e / (a_{tol} + r_{tol}\max(|y|,|y_1|)))`, accept iff :math:`\rho \le 1`,
Gustafsson's PI controller with :math:`\alpha = 0.7/4, \beta = 0.4/4` after an accepted step, factor
:math:`\min(1, \max(0.2, 0.9\rho^{-1/4}))` after a rejected one; a step whose LU or stages are not
finite counts as rejected with the smallest factor. The first step is Hairer–Nørsett–Wanner's
(:func:`lpft_theory._fused_rk.initial_step`).

Two loops share that step:

* :func:`run` — attempted steps up to a budget, from a carry (:func:`start`), calling ``on_accept`` on
  every accepted step; it stops when ``on_accept`` says so (the observer's steady state), at ``t1``,
  or on failure. The carry can be handed back to continue (chunks that re-batch unfinished members).
* :func:`advance` — from ``(t0, y)`` to ``t1`` exactly (the last step shortened onto it).
* :func:`to_steady` — from ``(t0, y)`` until the field's Euclidean norm is at most a threshold (checked
  after every accepted step, as diffrax's event without a root finder checks it): the t = ∞ limit.

Failure (``failed``): the step collapsed below :math:`10^{-14}\max(1, |t|)` or the state stopped
being finite. Not supported: reverse-mode differentiation, non-autonomous fields.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._fused_rk import _combine, _rms, initial_step

#: Rodas4 (Hairer & Wanner II, §IV.7; the code RODAS), in the form (1/(hγ) I − J) K_i = f(y + Σ a_ij K_j)
#: + Σ (c_ij/h) K_j: rows of the strictly lower-triangular a and c, the solution weights m and γ.
RODAS4 = dict(
    gamma=0.25,
    a=((1.544,),
       (0.9466785280815826, 0.2557011698983284),
       (3.314825187068521, 2.896124015972201, 0.9986419139977817),
       (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
       (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0)),
    c=((-5.6688,),
       (-2.430093356833875, -0.2063599157091915),
       (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
       (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
       (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054)),
    m=(1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 1.0),
    order=4,
)

#: Rosenbrock solvers by name (the tableau each one runs).
ROSENBROCK_SOLVERS = {"rodas4_fused": RODAS4}

_SAFETY, _FACMIN, _FACMAX = 0.9, 0.2, 6.0


def _flat(field: Callable, args, template):
    """The autonomous field on the raveled state, its Jacobian, and the unravel map."""
    flat0, unravel = ravel_pytree(template)

    def f(y):
        return ravel_pytree(field(0.0, unravel(y), args))[0]

    return f, jax.jacfwd(f), flat0, unravel


def _step(f, jac, y, fy, h, tab):
    """One Rodas step of size ``h`` from ``y`` (``fy = f(y)``): ``(y1, error estimate)``."""
    n = y.shape[0]
    # the explicit inverse (LAPACK getrf + getri, partial pivoting), then one matrix-vector product per
    # stage: on the small states this loop serves, a batched lu_solve costs ~4x more (BENCHMARKS.md)
    inv = jnp.linalg.inv(jnp.eye(n, dtype=y.dtype) / (h * tab["gamma"]) - jac(y))
    ks = []
    for i in range(len(tab["m"])):
        if i == 0:
            rhs = fy
        else:
            rhs = f(y + _combine(tab["a"][i - 1], ks)) + _combine(tab["c"][i - 1], ks) / h
        ks.append(inv @ rhs)
    return y + _combine(tab["m"], ks), ks[-1]


def _control(y, y1, err, h, prev, rtol, atol, order):
    """(accept, next step size, error ratio kept for the PI controller)."""
    ratio = _rms(err / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y1))))
    finite = jnp.all(jnp.isfinite(y1)) & jnp.isfinite(ratio)
    accept = finite & (ratio <= 1.0)
    rho = jnp.maximum(jnp.where(finite, ratio, 1e10), 1e-10)
    grow = jnp.clip(_SAFETY * rho ** (-0.7 / order) * prev ** (0.4 / order), _FACMIN, _FACMAX)
    shrink = jnp.clip(_SAFETY * rho ** (-1.0 / order), _FACMIN, 1.0)
    return accept, h * jnp.where(accept, grow, shrink), rho


def start(field: Callable, args, y0, t0, t1, rtol, atol, obs, *, solver: str = "rodas4_fused", h0=None) -> dict:
    r"""The carry of :func:`run` at ``(t0, y0)``: a dict of arrays (vmappable, can be returned to the host).

    Arguments:
        field, args: the autonomous vector field ``field(t, y, args)`` on the pytree state ``y``.
        y0, t0: the start. t1: the end of the horizon.
        rtol, atol: tolerances (traced).
        obs: the caller's observation state (a pytree of arrays), threaded through ``on_accept``.
        solver: a key of :data:`ROSENBROCK_SOLVERS`.
        h0: the first step; where not positive (or ``None``) it is chosen as in Hairer–Nørsett–Wanner.

    Returns:
        ``dict(t, t1, y, fy, h, prev, steps, accepted, stopped, failed, obs)`` with ``y`` raveled.
    """
    tab = ROSENBROCK_SOLVERS[solver]
    f, _, y, _ = _flat(field, args, y0)
    dtype = y.dtype
    t0 = jnp.asarray(t0, dtype)
    fy = f(y)
    auto = initial_step(lambda t, z: f(z), t0, y, fy, jnp.asarray(t1, dtype) - t0, rtol, atol, tab["order"])
    auto = jnp.minimum(auto, jnp.asarray(t1, dtype) - t0)
    h = auto if h0 is None else jnp.where(h0 > 0, h0, auto)
    return dict(t=t0, t1=jnp.asarray(t1, dtype), y=y, fy=fy, h=h, prev=jnp.ones((), dtype), steps=jnp.zeros((), jnp.int32),
                accepted=jnp.zeros((), jnp.int32), stopped=jnp.zeros((), bool), failed=jnp.zeros((), bool), obs=obs)


def unfinished(carry: dict):
    """Whether the solve of a carry goes on: not stopped, not failed and short of its ``t1`` (jax or numpy arrays)."""
    return ~carry["stopped"] & ~carry["failed"] & (carry["t"] < carry["t1"])


def run(field: Callable, args, template, carry: dict, rtol, atol, on_accept: Callable, *, max_steps: int,
        solver: str = "rodas4_fused") -> dict:
    r"""Continue :func:`start`'s carry for at most ``max_steps`` attempted steps.

    ``on_accept(obs, t, y, fy, t_new, y_new, fy_new) -> (obs, stop)`` is called on every accepted step
    with the raveled states and their field values (``unravel`` them with the ``template``'s structure);
    ``stop`` ends the solve (``carry["stopped"]``). Steps never pass the carry's ``t1``; reaching it ends the solve
    without ``stopped``. Pure, jittable and vmappable (under ``vmap`` a finished member idles).

    Returns:
        the carry after the loop; it continues where it stopped when passed back with a larger budget.
    """
    tab = ROSENBROCK_SOLVERS[solver]
    f, jac, _, _ = _flat(field, args, template)
    t1 = carry["t1"]
    budget = carry["steps"] + max_steps

    def going(c):
        return (c["steps"] < budget) & unfinished(c)

    def body(c):
        t, y, fy = c["t"], c["y"], c["fy"]
        h = jnp.minimum(c["h"], t1 - t)
        y1, err = _step(f, jac, y, fy, h, tab)
        accept, h_next, rho = _control(y, y1, err, h, c["prev"], rtol, atol, tab["order"])
        t_new = jnp.where(h >= t1 - t, t1, t + h)
        fy1 = f(jnp.where(accept, y1, y))
        obs_new, stop = on_accept(c["obs"], t, y, fy, t_new, y1, fy1)
        obs = jax.tree_util.tree_map(lambda u, w: jnp.where(accept, u, w), obs_new, c["obs"])
        return dict(t=jnp.where(accept, t_new, t), t1=t1, y=jnp.where(accept, y1, y), fy=jnp.where(accept, fy1, fy),
                    h=h_next, prev=jnp.where(accept, rho, c["prev"]), steps=c["steps"] + 1,
                    accepted=c["accepted"] + accept.astype(jnp.int32), stopped=accept & stop,
                    failed=~(h_next >= 1e-14 * jnp.maximum(1.0, jnp.abs(t))), obs=obs)  # NaN-safe

    return jax.lax.while_loop(going, body, carry)


def advance(field: Callable, args, y, t0, t1, rtol, atol, *, max_steps: int, solver: str = "rodas4_fused"):
    r"""Integrate the autonomous ``field`` from ``(t0, y)`` to exactly ``t1`` (``t1 == t0`` returns ``y``).

    Returns:
        ``(y(t1), num_steps, ok)`` as :func:`lpft_theory.integrate.advance`.
    """
    unravel = ravel_pytree(y)[1]
    carry = start(field, args, y, t0, t1, rtol, atol, jnp.zeros(()), solver=solver)
    carry = run(field, args, y, carry, rtol, atol, lambda o, *a: (o, jnp.zeros((), bool)),
                max_steps=max_steps, solver=solver)
    ok = (carry["t"] >= t1) & ~carry["failed"]
    return unravel(carry["y"]), carry["steps"], ok


def to_steady(field: Callable, args, y, t0, threshold, rtol, atol, *, horizon, max_steps: int,
              solver: str = "rodas4_fused"):
    r"""Integrate the autonomous ``field`` from ``(t0, y)`` until :math:`\|f(y)\|_2 \le` ``threshold``
    (every leaf together, as :func:`lpft_theory.integrate.field_norm`), checked at the end of every accepted
    step; at most ``max_steps`` attempted steps and the time ``t0 + horizon``.

    Returns:
        ``(y_end, num_steps, stopped)``: the state at the first accepted step that met the threshold (or where
        the solve ended), attempted steps, and whether the threshold was met.
    """
    unravel = ravel_pytree(y)[1]
    carry = start(field, args, y, t0, jnp.asarray(t0) + horizon, rtol, atol, jnp.zeros(()), solver=solver)

    def on_accept(obs, t, y0, fy0, t_new, y_new, fy_new):
        return obs, jnp.sqrt(jnp.sum(fy_new**2)) <= threshold

    carry = run(field, args, y, carry, rtol, atol, on_accept, max_steps=max_steps, solver=solver)
    return unravel(carry["y"]), carry["steps"], carry["stopped"]

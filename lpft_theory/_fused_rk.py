r"""A fixed-structure explicit Runge–Kutta loop: the solver ``"tsit5_fused"`` of :mod:`lpft_theory.integrate`.

Why it exists. On the reduced FT flow (state of k + k·m numbers, a field of three small
products) an explicit step of ``diffrax.diffeqsolve`` costs about 11 µs on one CPU core, almost
all of it per-step bookkeeping of the general solver (pytree arithmetic, the step-size controller's
state, save-at and event handling), and diffrax's default integral controller rejects about a fifth
of the steps where the step is limited by stability rather than accuracy (the regime of FT on long
horizons). This loop does the same Runge–Kutta arithmetic on one flat vector with a PI controller:
about 5 µs per step and almost no rejected steps on the same problems (2.9× less time per problem) (``BENCHMARKS.md``, fourth
pass; ``lpft-theory bench --sections scipy`` measures it beside the diffrax solvers). It is an
opt-in solver (``solver="tsit5_fused"``) for finite save times; the default stays diffrax's Tsit5.

Method. The state pytree is raveled into one vector :math:`y` (``jax.flatten_util``). One step of
size :math:`h` from :math:`(t, y)` evaluates the stages of diffrax's ``Tsit5`` tableau (Tsitouras
2011, read from ``diffrax.Tsit5.tableau``, so the coefficients are diffrax's own):

.. math:: k_i = f\Big(t + c_ih,\; y + h\sum_{j<i} a_{ij}k_j\Big),\qquad
          y_1 = y + h\sum_i b_ik_i,\qquad \hat e = h\sum_i \tilde b_i k_i,

with :math:`k_1` reused from the previous accepted step (first same as last) and
:math:`\tilde b` the tableau's error weights. The error ratio is diffrax's,
:math:`\rho = \mathrm{RMS}\big(\hat e / (a_{tol} + r_{tol}\max(|y|, |y_1|))\big)`; the step is accepted
iff :math:`\rho \le 1`. The next step is :math:`h\,\min(10, \max(0.2, 0.9\,\rho^{-0.7/5}\rho_{prev}^{0.4/5}))`
after an accepted step (Gustafsson's PI controller with the coefficients Hairer & Wanner recommend,
*Solving Ordinary Differential Equations II*, §IV.2) and :math:`h\,\min(1, \max(0.2, 0.9\rho^{-1/5}))`
after a rejected one. The first step is chosen as in Hairer, Nørsett & Wanner, *Solving ODEs I*,
§II.4 (one extra evaluation), as diffrax does. Steps are shortened to land exactly on each save
time (no interpolation); the proposed step size survives the shortening.

Failure (``ok`` false): the step budget ran out before the last save time, the step collapsed
below :math:`10^{-14}\max(1, t_{end})`, or the state stopped being finite.

Not supported: reverse-mode differentiation through the loop, events, the t = ∞ search (that is
the stiff solver's job); :func:`lpft_theory.integrate.check_solver` rejects it there.
"""

from __future__ import annotations

from typing import Callable

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

#: Fused solvers by name: the diffrax solver whose tableau each one runs.
FUSED_SOLVERS = {"tsit5_fused": diffrax.Tsit5}

_SAFETY, _FACMIN, _FACMAX = 0.9, 0.2, 10.0
#: PI exponents (Hairer & Wanner II §IV.2: α = 0.7/p, β = 0.4/p with p = 5, one more than the error order).
_ALPHA, _BETA, _REJECT = 0.7 / 5.0, 0.4 / 5.0, 1.0 / 5.0


def _tableau(name: str):
    """``(a_rows, b_sol, b_err, c)`` of the solver's tableau as floats (``c`` with the first stage's 0 prepended).

    The loop needs a first-same-as-last tableau: its last stage is :math:`f(t + h, y_1)`, which is both the
    derivative the next step starts from and an ingredient of the error estimate, so no extra evaluation
    is made per step.
    """
    tab = FUSED_SOLVERS[name].tableau
    a = [tuple(float(x) for x in np.asarray(row)) for row in tab.a_lower]
    b_sol = tuple(float(x) for x in np.asarray(tab.b_sol))
    c = (0.0,) + tuple(float(x) for x in np.asarray(tab.c))
    if not (c[-1] == 1.0 and b_sol[-1] == 0.0 and a[-1] == b_sol[:-1]):
        raise ValueError(f"{name}: the fused loop needs a first-same-as-last tableau")
    return a, b_sol, tuple(float(x) for x in np.asarray(tab.b_error)), c


def _combine(weights, ks):
    """Σ w_i k_i over the non-zero weights (a Python loop: unrolled at trace time)."""
    terms = [w * k for w, k in zip(weights, ks) if w != 0.0]
    out = terms[0]
    for term in terms[1:]:
        out = out + term
    return out


def _rms(x):
    return jnp.sqrt(jnp.mean(x * x))


def initial_step(f: Callable, t0, y0, f0, span, rtol, atol, order: int):
    r"""The first step size of Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4 (one extra evaluation of ``f``).

    With :math:`s = a_{tol} + r_{tol}|y_0|`, :math:`d_0 = \mathrm{RMS}(y_0/s)`, :math:`d_1 = \mathrm{RMS}(f_0/s)`:
    a trial :math:`h_0 = 0.01\,d_0/d_1` (or :math:`10^{-6}` where either is tiny), :math:`d_2` the RMS of
    the change of f over it divided by :math:`h_0`, and
    :math:`h = \min(100h_0, (0.01/\max(d_1, d_2))^{1/(p+1)})` for a method of order p (the trial step
    stays within ``span``; the result may not: the caller clips it).
    """
    scale0 = atol + rtol * jnp.abs(y0)
    d0, d1 = _rms(y0 / scale0), _rms(f0 / scale0)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), jnp.asarray(1e-6, y0.dtype), 0.01 * d0 / d1)
    h0 = jnp.minimum(h0, span)
    f1 = f(t0 + h0, y0 + h0 * f0)
    d2 = _rms((f1 - f0) / scale0) / h0
    dmax = jnp.maximum(d1, d2)
    h1 = jnp.where(dmax <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.maximum(dmax, 1e-300)) ** (1.0 / (order + 1.0)))
    return jnp.minimum(100.0 * h0, h1)


def solve_at(field: Callable, args, y0, ts, rtol, atol, *, solver: str = "tsit5_fused", max_steps: int):
    r"""Integrate ``field(t, y, args)`` from t = 0 and save at the increasing finite times ``ts``.

    The same contract as :func:`lpft_theory.integrate.solve_at` (pure, jittable, vmappable).

    Arguments:
        field: ``field(t, y, args)`` on the pytree state ``y``.
        args: the field's arguments.
        y0: the state at t = 0.
        ts: save times, increasing, ``ts[-1] > 0`` (``ts[0]`` may be 0).
        rtol, atol: tolerances (traced).
        solver: a key of :data:`FUSED_SOLVERS`.
        max_steps: the step budget (accepted + rejected steps).

    Returns:
        ``(ys, num_steps, ok)``: the states at ``ts`` (leading axis T), the accepted + rejected
        steps, and whether every save time was reached.
    """
    a_rows, b_sol, b_err, c = _tableau(solver)
    flat0, unravel = ravel_pytree(y0)
    dtype = flat0.dtype
    ts = jnp.asarray(ts, dtype)
    rtol = jnp.asarray(rtol, dtype)
    atol = jnp.asarray(atol, dtype)

    def f(t, y):
        return ravel_pytree(field(t, unravel(y), args))[0]

    t_end = ts[-1]
    f0 = f(jnp.zeros((), dtype), flat0)
    h_first = initial_step(f, jnp.zeros((), dtype), flat0, f0, t_end, rtol, atol, 5)

    h_min = 1e-14 * jnp.maximum(1.0, t_end)

    def step(carry, target):
        """One attempted step towards ``target`` (shortened to land on it)."""
        t, y, h_prop, k1, prev, steps, bad = carry
        gap = target - t
        hit = h_prop >= gap
        h = jnp.where(hit, gap, h_prop)
        ks = [k1]
        for i, row in enumerate(a_rows):
            ks.append(f(t + c[i + 1] * h, y + h * _combine(row, ks)))
        # first same as last: the last stage was evaluated at (t + h, y1), y1 = y + h Σ b_i k_i
        y1 = y + h * _combine(b_sol, ks)
        k_last = ks[-1]
        err = h * _combine(b_err, ks)
        ratio = _rms(err / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y1))))
        finite = jnp.all(jnp.isfinite(y1)) & jnp.isfinite(ratio)
        accept = (ratio <= 1.0) & finite
        rho = jnp.maximum(jnp.where(finite, ratio, 1e10), 1e-10)
        grow = jnp.clip(_SAFETY * rho ** (-_ALPHA) * prev ** _BETA, _FACMIN, _FACMAX)
        shrink = jnp.clip(_SAFETY * rho ** (-_REJECT), _FACMIN, 1.0)
        h_next = jnp.where(accept, h * grow, h * shrink)
        # a step shortened to land on a save time must not shrink the next one
        h_next = jnp.where(accept & hit, jnp.maximum(h_next, h_prop), h_next)
        t_new = jnp.where(accept, jnp.where(hit, target, t + h), t)
        return (t_new, jnp.where(accept, y1, y), h_next, jnp.where(accept, k_last, k1),
                jnp.where(accept, rho, prev), steps + 1, ~(h_next >= h_min))  # NaN-safe

    def to_target(carry, target):
        """Integrate up to the save time ``target`` (a while loop); emit the state there."""
        carry = jax.lax.while_loop(lambda c: (c[0] < target) & (c[5] < max_steps) & ~c[6],
                                   lambda c: step(c, target), carry)
        return carry, (carry[1], carry[0] >= target)

    carry = (jnp.zeros((), dtype), flat0, h_first, f0, jnp.ones((), dtype), jnp.zeros((), jnp.int32),
             jnp.zeros((), bool))
    carry, (ys, reached) = jax.lax.scan(to_target, carry, ts)
    ys = jax.vmap(unravel)(ys)
    return ys, carry[5], jnp.all(reached)

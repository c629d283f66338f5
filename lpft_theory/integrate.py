r"""A generic diffrax driver for the beyond-the-paper flows (L2-SP, frozen-head FT).

The core :mod:`lpft_theory.solve` integrates the LP and FT fields only. The variants in
:mod:`lpft_theory.l2sp` and :mod:`lpft_theory.frozen_head` have vector fields with
extra arguments (e.g. the penalty λ), so they share this small driver:

* :func:`solve_field` integrates ``field(t, y, args)`` from t = 0 and saves at ``ts``;
* :func:`steady_state` integrates until ``grad_norm(args, y) <= gtol`` (the t = ∞ limit).

``field`` and ``grad_norm`` are static (hashable functions); tolerances, times and
``args`` are traced, so changing them does not recompile.
"""

from __future__ import annotations

from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .solve import DEFAULT_MAX_STEPS, SOLVERS, STEADY_STATE_HORIZON


@partial(jax.jit, static_argnames=("field", "solver", "max_steps"))
def solve_field(field, args, y0, ts, rtol, atol, *, solver="tsit5", max_steps=DEFAULT_MAX_STEPS):
    """Integrate ``field`` from t = 0 and save at ``ts`` (finite, ``ts[-1] > 0``).

    Returns ``(ys, num_steps, ok)``.
    """
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), SOLVERS[solver](), t0=jnp.zeros((), ts.dtype), t1=ts[-1], dt0=None, y0=y0,
        args=args, saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, throw=False,
    )
    return sol.ys, sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful


@partial(jax.jit, static_argnames=("field", "grad_norm", "solver", "max_steps"))
def steady_state(field, grad_norm, args, y0, t0, gtol, rtol, atol, *, solver="kvaerno5", max_steps=DEFAULT_MAX_STEPS):
    """Integrate ``field`` from ``(t0, y0)`` until ``grad_norm(args, y) <= gtol``.

    Returns ``(y_end, num_steps, reached)``.
    """

    def cond_fn(t, y, args, **kwargs):
        return grad_norm(args, y) <= gtol

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), SOLVERS[solver](), t0=t0, t1=t0 + STEADY_STATE_HORIZON, dt0=None, y0=y0,
        args=args, saveat=diffrax.SaveAt(t1=True), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event(cond_fn), max_steps=max_steps, throw=False,
    )
    y_end = jax.tree_util.tree_map(lambda a: a[-1], sol.ys)
    return y_end, sol.stats["num_steps"], grad_norm(args, y_end) <= gtol


def integrate(field, grad_norm, args, y0, t, *, rtol, atol, gtol, solver, steady_solver, max_steps, what):
    """Save ``field``'s solution at the validated times ``t`` (``inf`` allowed last).

    ``gtol`` is relative: the t = ∞ search stops at ``grad_norm <= gtol * max(1, grad_norm(y0))``.
    Returns ``(ys, num_steps, converged)`` with ``converged`` None when ``inf`` was not asked for.
    Raises ``RuntimeError`` when a finite-time solve fails (step budget exhausted).
    """
    t = np.asarray(t, dtype=np.float64)
    finite = t[np.isfinite(t)]
    T = finite.size
    if T == 0:
        ys = jax.tree_util.tree_map(lambda a: a[None][:0], y0)
        steps = 0
    elif finite[-1] == 0.0:
        ys = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (T,) + a.shape), y0)
        steps = 0
    else:
        ys, steps, ok = solve_field(field, args, y0, jnp.asarray(finite), jnp.asarray(rtol), jnp.asarray(atol),
                                    solver=solver, max_steps=int(max_steps))
        if not bool(ok):
            raise RuntimeError(f"{what}: the diffrax solve did not finish (max_steps={max_steps} exhausted or step "
                               "size collapsed); raise max_steps or loosen rtol/atol")
        steps = int(steps)
    converged = None
    if np.isinf(t[-1]):
        start = jax.tree_util.tree_map(lambda a: a[-1], ys) if T else y0
        t0 = float(finite[-1]) if T else 0.0
        target = gtol * max(1.0, float(grad_norm(args, y0)))
        if float(grad_norm(args, start)) <= target:
            y_inf, more, ok = start, 0, True
        else:
            y_inf, more, ok = steady_state(field, grad_norm, args, start, jnp.asarray(t0), jnp.asarray(target),
                                           jnp.asarray(rtol), jnp.asarray(atol), solver=steady_solver,
                                           max_steps=int(max_steps))
        ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), ys, y_inf)
        steps += int(more)
        converged = bool(ok)
    return ys, steps, converged

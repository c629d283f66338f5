r"""One dispatch point for every training method, from the paper and beyond it.

:func:`simulate_variant` runs ``"lp"``, ``"ft"``, ``"lpft"`` (:func:`lpft_theory.solve.simulate`)
and the beyond-the-paper methods ``"wise-ft"`` (:mod:`lpft_theory.variants.wise`), ``"l2sp"``
(:mod:`lpft_theory.variants.l2sp`), ``"gd"`` (:mod:`lpft_theory.variants.gd`) and ``"ft-frozen-head"``
(:mod:`lpft_theory.variants.frozen_head`). It returns a :class:`VariantRun` whose ``trajectory``
is a :class:`~lpft_theory.solve.Trajectory`, so
:func:`~lpft_theory.metrics.trajectory_metrics` applies to all of them. What the
trajectory's ``times`` axis means is in ``axis``: ``"time"`` (flow time), ``"alpha"``
(WiSE-FT interpolation weight) or ``"step"`` (GD step index).

Label noise is a property of the problem (``Problem.random(label_noise=σ)`` or
:func:`lpft_theory.variants.noise.add_label_noise`), so it combines with every method.
"""

from __future__ import annotations

import dataclasses

from . import frozen_head
from . import gd
from . import l2sp
from . import wise
from ..solve import METHODS as CORE_METHODS
from ..solve import Trajectory, simulate

BEYOND_METHODS = ("wise-ft", "l2sp", "gd", "ft-frozen-head")
ALL_METHODS = CORE_METHODS + BEYOND_METHODS
AXIS = {"wise-ft": "alpha", "gd": "step"}


@dataclasses.dataclass(frozen=True)
class VariantRun:
    """``trajectory`` (metrics-compatible), ``axis`` (meaning of ``trajectory.times``) and method-specific ``info``."""

    method: str
    trajectory: Trajectory
    axis: str
    info: dict


def simulate_variant(problem, method: str, times=None, **opts) -> VariantRun:
    r"""Run ``method`` on ``problem``.

    * ``"lp"``, ``"ft"``, ``"lpft"``: ``times`` and ``opts`` go to :func:`~lpft_theory.solve.simulate`.
    * ``"wise-ft"``: ``opts`` ``alpha`` (grid, required), ``wise_from`` (``"init"``/``"lp"``); ``times``
      is one FT time T for the endpoint (default ∞). Other ``opts`` go to ``simulate``.
    * ``"l2sp"``: ``opts`` ``lam`` (required), ``init``, solver options; ``times`` as for FT.
    * ``"gd"``: ``opts`` ``lr_v``, ``lr_B``, ``steps`` (required), ``init``, ``save_at``/``save_every``;
      ``times`` must be None (the saved steps are the axis).
    * ``"ft-frozen-head"``: ``opts`` ``init``, ``solver``; ``times`` as for FT.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {ALL_METHODS}, got {method!r}")
    if method in CORE_METHODS:
        _need_times(method, times)
        traj = simulate(problem, method, times, **opts)
        return VariantRun(method, traj, "time", dict(converged=traj.converged, num_steps=traj.num_steps))
    if method == "wise-ft":
        opts = dict(opts)
        if "alpha" not in opts:
            raise ValueError("wise-ft needs alpha (the interpolation grid)")
        alphas = opts.pop("alpha")
        wise_from = opts.pop("wise_from", "init")
        ft_time = float("inf")
        if times is not None:
            t = list(times) if not isinstance(times, (int, float)) else [times]
            if len(t) != 1:
                raise ValueError(f"wise-ft takes one FT time T for the fine-tuned endpoint, got {len(t)} times")
            ft_time = float(t[0])
        traj, info = wise.wise_ft(problem, alphas, wise_from=wise_from, ft_time=ft_time, **opts)
        return VariantRun(method, traj, "alpha", info)
    if method == "l2sp":
        opts = dict(opts)
        if "lam" not in opts:
            raise ValueError("l2sp needs lam (the penalty weight lambda >= 0)")
        _need_times(method, times)
        lam = opts.pop("lam")
        traj = l2sp.simulate_l2sp(problem, lam, times, **opts)
        return VariantRun(method, traj, "time", dict(lam=float(lam), converged=traj.converged,
                                                     num_steps=traj.num_steps, solver=traj.solver))
    if method == "gd":
        if times is not None:
            raise ValueError("gd saves at step indices (save_at / save_every), not at flow times")
        missing = [k for k in ("lr_v", "lr_B", "steps") if k not in opts]
        if missing:
            raise ValueError(f"gd needs {missing}")
        opts = dict(opts)
        res = gd.simulate_gd(problem, opts.pop("lr_v"), opts.pop("lr_B"), opts.pop("steps"), **opts)
        return VariantRun(method, res.trajectory, "step", res.info())
    # ft-frozen-head
    _need_times(method, times)
    traj = frozen_head.simulate_frozen_head(problem, times, **opts)
    return VariantRun(method, traj, "time", dict(converged=traj.converged, num_steps=traj.num_steps,
                                                 init=opts.get("init", "random")))


def _need_times(method, times):
    if times is None:
        raise ValueError(f"{method} needs times (increasing, inf allowed last)")

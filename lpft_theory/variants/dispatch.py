r"""One dispatch point for every training method, from the paper and beyond it.

:func:`simulate_variant` runs ``"lp"``, ``"ft"``, ``"lpft"`` (:func:`lpft_theory.solve.simulate`)
and the beyond-the-paper methods ``"wise-ft"`` (:mod:`lpft_theory.variants.wise`), ``"l2sp"``
(:mod:`lpft_theory.variants.l2sp`), ``"gd"`` (:mod:`lpft_theory.variants.gd`) and ``"ft-frozen-head"``
(:mod:`lpft_theory.variants.frozen_head`), and ``"ft-lazy"`` (:mod:`lpft_theory.variants.lazy`).
Every one returns a :class:`~lpft_theory.trajectory.Trajectory`,
so :func:`~lpft_theory.metrics.trajectory_metrics` applies to all of them. What its ``times`` mean is
``Trajectory.axis``: ``"time"`` (flow time), ``"alpha"`` (WiSE-FT interpolation weight) or ``"step"``
(GD step index); method-specific facts are in ``Trajectory.info``.

Label noise is a property of the problem (``Problem.random(label_noise=σ)`` or
:func:`lpft_theory.variants.noise.add_label_noise`), so it combines with every method.
"""

from __future__ import annotations

from ..solve import METHODS as CORE_METHODS
from ..solve import simulate
from ..trajectory import Trajectory
from . import frozen_head, gd, l2sp, lazy, logistic, projected, wise

#: The methods beyond the paper: WiSE-FT, L2-SP, discrete GD and frozen-head FT (``docs/theory.md`` §7), then the
#: follow-up methods (``docs/follow_up/``): lazy (linearised) FT, projected FT (TPGM) and the logistic loss.
BEYOND_METHODS = ("wise-ft", "l2sp", "gd", "ft-frozen-head", "ft-lazy", "ft-projected", "ft-logistic", "lp-logistic",
                  "lpft-logistic")
#: Every method :func:`simulate_variant` runs: the paper's three, then :data:`BEYOND_METHODS`.
ALL_METHODS = CORE_METHODS + BEYOND_METHODS
#: Options each beyond-the-paper method requires.
REQUIRED = {"wise-ft": ("alpha",), "l2sp": ("lam",), "gd": ("lr_v", "lr_B", "steps"), "ft-frozen-head": (),
            "ft-lazy": (), "ft-projected": ("gamma",), "ft-logistic": (), "lp-logistic": (), "lpft-logistic": ("lp_time",)}


def simulate_variant(problem, method: str, times=None, **opts) -> Trajectory:
    r"""Run ``method`` on ``problem``; returns its :class:`~lpft_theory.trajectory.Trajectory`.

    * ``"lp"``, ``"ft"``, ``"lpft"``: ``times`` and ``opts`` go to :func:`~lpft_theory.solve.simulate`.
    * ``"wise-ft"``: ``opts`` ``alpha`` (grid, required), ``wise_from`` (``"init"``/``"lp"``); ``times``
      is one FT time T for the endpoint (default ∞). Other ``opts`` go to ``simulate``.
    * ``"l2sp"``: ``opts`` ``lam`` (required), ``init``, solver options; ``times`` as for FT.
    * ``"gd"``: ``opts`` ``lr_v``, ``lr_B``, ``steps`` (required), ``init``, ``save_at``/``save_every``;
      ``times`` must be None (the saved steps are the axis).
    * ``"ft-frozen-head"``: ``opts`` ``init``, ``solver``; ``times`` as for FT.
    * ``"ft-lazy"``: FT of the model linearised at its start (:mod:`lpft_theory.variants.lazy`); ``opts``
      ``init``, ``solver`` (``"closed"`` by default); ``times`` as for FT.
    * ``"ft-projected"``: ``opts`` ``gamma`` (required, >= 0, inf = FT), ``init``, solver options
      (:mod:`lpft_theory.variants.projected`); ``times`` as for FT.
    * ``"lp-logistic"``, ``"ft-logistic"``, ``"lpft-logistic"``: the logistic loss
      (:mod:`lpft_theory.variants.logistic`); finite ``times`` only; ``lpft-logistic`` needs ``lp_time``.

    Raises:
        ValueError: an unknown method, a missing required option, or times given where none are taken.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {ALL_METHODS}, got {method!r}")
    missing = [k for k in REQUIRED.get(method, ()) if k not in opts]
    if missing:
        raise ValueError(f"{method} needs {missing}")
    opts = dict(opts)
    if method == "wise-ft":
        ft_time = float("inf")
        if times is not None:
            t = list(times) if not isinstance(times, (int, float)) else [times]
            if len(t) != 1:
                raise ValueError(f"wise-ft takes one FT time T for the fine-tuned endpoint, got {len(t)} times")
            ft_time = float(t[0])
        return wise.wise_ft(problem, opts.pop("alpha"), wise_from=opts.pop("wise_from", "init"), ft_time=ft_time,
                            **opts)
    if method == "gd":
        if times is not None:
            raise ValueError("gd saves at step indices (save_at / save_every), not at flow times")
        return gd.simulate_gd(problem, opts.pop("lr_v"), opts.pop("lr_B"), opts.pop("steps"), **opts)
    if times is None:
        raise ValueError(f"{method} needs times (increasing, inf allowed last)")
    if method in CORE_METHODS:
        return simulate(problem, method, times, **opts)
    if method == "l2sp":
        return l2sp.simulate_l2sp(problem, opts.pop("lam"), times, **opts)
    if method == "ft-lazy":
        return lazy.simulate_lazy(problem, times, **opts)
    if method == "ft-projected":
        return projected.simulate_projected(problem, opts.pop("gamma"), times, **opts)
    if method in logistic.METHODS:
        return logistic.simulate_logistic(problem, method, times, **opts)
    return frozen_head.simulate_frozen_head(problem, times, **opts)

"""Figures of the follow-up experiments (:mod:`lpft_theory.followup`), appended to
:data:`lpft_theory.figures.registry.FIGURES`.

Each is ``FigureSpec(f"followup_{name}", compute=lambda quick: mod.run(quick), plot=mod.plot, caption=mod.CAPTION)``.
:data:`BUILT` names the experiments whose modules this branch holds (early_lp, head_norm, surgical); the others of
:data:`lpft_theory.followup.NAMES` are added to :data:`BUILT` when their modules are merged.
"""

from __future__ import annotations

import importlib

#: The experiments with a figure (a subset of :data:`lpft_theory.followup.NAMES`, in its order).
BUILT = ("early_lp", "head_norm", "surgical")


def _spec(name):
    from .registry import FigureSpec

    mod = importlib.import_module(f"lpft_theory.followup.{name}")
    return FigureSpec(f"followup_{name}", compute=lambda quick, _m=mod: _m.run(quick), plot=mod.plot,
                      caption=mod.CAPTION)


def specs() -> tuple:
    """The :class:`~lpft_theory.figures.registry.FigureSpec` of every experiment in :data:`BUILT`."""
    return tuple(_spec(name) for name in BUILT)

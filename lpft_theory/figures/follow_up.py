"""Figures of the follow-up experiments (:mod:`lpft_theory.followup`), appended to
:data:`lpft_theory.figures.registry.FIGURES`.

Each experiment ``name`` gives the figure ``followup_<name>``: compute ``mod.run(quick)``, plot ``mod.plot``,
caption ``mod.CAPTION`` (the registry wraps them in a :class:`~lpft_theory.figures.registry.FigureSpec`).
:data:`BUILT` names the experiments that have a figure: every one of :data:`lpft_theory.followup.NAMES`.
"""

from __future__ import annotations

from .. import followup

#: The experiments with a figure (a subset of :data:`lpft_theory.followup.NAMES`, in its order).
BUILT = followup.NAMES


def entries() -> tuple:
    """``(name, compute, plot, caption)`` of the figure of every experiment in :data:`BUILT`."""
    out = []
    for name in BUILT:
        mod = followup.get(name)
        out.append((f"followup_{name}", lambda quick, _m=mod: _m.run(quick), mod.plot, mod.CAPTION))
    return tuple(out)

r"""Follow-up papers of Kumar et al. (ICLR 2022), their claims checked in the same two-layer linear model.

One module per experiment (issue 15); each defines ``NAME`` (the CLI name), ``TITLE``, ``CLAIM`` (the paper's claim
in one line, with its citation), ``CAPTION`` (two lines for ``figures/README.md``), ``run(quick, seed, progress)
-> dict`` (simulations only; JSON-able, with ``"params"`` and ``"case"``: the problem to save where the simulation
disagrees with the claim, or None), ``verdict(data) -> {"agrees", "line"}``, ``plot(data) -> Figure`` and
``case_problem(data)`` (the :class:`~lpft_theory.problem.Problem` of the case, or None).

:data:`NAMES` lists them in order; :func:`get` imports one by name. The methods they use live in
:mod:`lpft_theory.variants` (e.g. ``"ft-lazy"``, ``"ft-frozen-head"``) and return a
:class:`~lpft_theory.trajectory.Trajectory`.
"""

from __future__ import annotations

import importlib

#: The follow-up experiments, in order (module names; the CLI also accepts '-' for '_').
NAMES = ("early_lp", "head_norm", "surgical", "projected", "ensembles", "logistic")


def get(name: str):
    """The module of follow-up experiment ``name`` (``early_lp`` or ``early-lp``).

    Raises:
        ValueError: ``name`` is not one of :data:`NAMES` (the message lists them).
    """
    key = str(name).replace("-", "_")
    if key not in NAMES:
        raise ValueError(f"unknown follow-up {name!r}; choose one of {', '.join(n.replace('_', '-') for n in NAMES)}")
    return importlib.import_module(f"{__name__}.{key}")

"""Follow-up experiments: claims of papers that built on Kumar et al. (ICLR 2022), checked in the same linear model.

One module per experiment (:data:`NAMES`); each has ``NAME``, ``TITLE``, ``CLAIM``, ``CAPTION``, ``run``,
``verdict``, ``plot`` and ``case_problem``. :func:`get` imports one by name.
"""

from __future__ import annotations

import importlib

NAMES = ("early_lp", "head_norm", "surgical", "projected", "ensembles", "logistic")


def get(name):
    """The follow-up module ``name`` (``'-'`` or ``'_'`` spelling), imported on first use.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    key = str(name).replace("-", "_")
    if key not in NAMES:
        raise ValueError(f"follow-up name must be one of {tuple(n.replace('_', '-') for n in NAMES)}, got {name!r}")
    return importlib.import_module(f"{__name__}.{key}")

"""float64 policy: library code checks ``jax_enable_x64`` and warns; it never flips it.

The CLI, the tests (``tests/conftest.py``) and the notebooks enable it at their top::

    import jax
    jax.config.update("jax_enable_x64", True)
"""

from __future__ import annotations

import warnings

import jax


class PrecisionWarning(UserWarning):
    """Computations are running in float32; theory checks need float64."""


def x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def check_x64() -> bool:
    """Warn once per call site if JAX is not in float64 mode. Returns whether it is."""
    if not x64_enabled():
        warnings.warn(
            "jax_enable_x64 is off: arrays are float32 and the theory checks lose their meaning. "
            'Call jax.config.update("jax_enable_x64", True) before using lpft_theory.',
            PrecisionWarning,
            stacklevel=3,
        )
        return False
    return True

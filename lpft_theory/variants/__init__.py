"""Training methods beyond the paper's three flows, each a vector field (or an iteration) on the one engine:
WiSE-FT (:mod:`.wise`), L2-SP (:mod:`.l2sp`), discrete GD (:mod:`.gd`), frozen-head FT (:mod:`.frozen_head`),
label noise (:mod:`.noise`), and one dispatch for every method (:mod:`.dispatch`). See ``docs/theory.md`` §7.
"""

from .dispatch import ALL_METHODS, BEYOND_METHODS, simulate_variant

__all__ = ["ALL_METHODS", "BEYOND_METHODS", "simulate_variant"]

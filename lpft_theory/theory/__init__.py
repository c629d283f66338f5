"""The paper's statements, checked: the two FT lower bounds (:mod:`.bounds`), the observed minimum over t
(:mod:`.observe`), the independent reference integrator (:mod:`.reference`), the random campaign
(:mod:`.campaign`), the adversarial search (:mod:`.adversarial`) and the claims table (:mod:`.claims`).

No file writing and no matplotlib here: the report writers and plots live in :mod:`lpft_theory.figures`.
The math is stated in ``docs/theory.md`` §4.
"""

from .bounds import STATEMENTS, BoundValue, bound_ingredients, check_problem, ft_lower_bound, verdict

__all__ = ["STATEMENTS", "BoundValue", "bound_ingredients", "check_problem", "ft_lower_bound", "verdict"]

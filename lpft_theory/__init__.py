"""lpft_theory: reference simulator for the linear theory of Kumar et al. (ICLR 2022),
*Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution*.

Enable float64 before use (the library warns, it never flips the flag)::

    import jax; jax.config.update("jax_enable_x64", True)
    import lpft_theory as lt
    p = lt.Problem.random(seed=0, d=50, k=2, m=10, eps=0.1)
    traj = lt.simulate(p, "ft", [0.0, 1.0, 10.0, float("inf")])
    lt.trajectory_metrics(traj)["ood_loss"]

The public names below are imported on first use (PEP 562), so ``import lpft_theory`` itself does
not import JAX: the command line can install its interrupt handling first.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same names, for static analysis and the API docs (never executed)
    from ._precision import PrecisionWarning
    from .data import problem_files, problem_path, problems_dir
    from .flows import lp_closed_form, lp_limit
    from .geometry import feature_distance, feature_distance_bounds, feature_distance_numerical
    from .metrics import head_alignment_error, principal_angle_cosines, trajectory_metrics
    from .problem import Problem, RegimeWarning, validate
    from .reduced import ReducedProblem, reduce
    from .solve import METHODS, simulate
    from .trajectory import Trajectory

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Problem": "problem", "RegimeWarning": "problem", "validate": "problem",
    "ReducedProblem": "reduced", "reduce": "reduced",
    "METHODS": "solve", "simulate": "solve",
    "Trajectory": "trajectory",
    "trajectory_metrics": "metrics", "head_alignment_error": "metrics", "principal_angle_cosines": "metrics",
    "feature_distance": "geometry", "feature_distance_numerical": "geometry", "feature_distance_bounds": "geometry",
    "lp_closed_form": "flows", "lp_limit": "flows",
    "PrecisionWarning": "_precision",
    "problems_dir": "data", "problem_files": "data", "problem_path": "data",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lpft_theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))

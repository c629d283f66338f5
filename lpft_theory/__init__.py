"""lpft_theory: reference simulator for the linear theory of Kumar et al. (ICLR 2022),
*Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution*.

Enable float64 before use (the library warns, it never flips the flag)::

    import jax; jax.config.update("jax_enable_x64", True)
    import lpft_theory as lt
    p = lt.Problem.random(seed=0, d=50, k=2, m=10, eps=0.1)
    traj = lt.simulate(p, "ft", [0.0, 1.0, 10.0, float("inf")])
    lt.trajectory_metrics(traj)["ood_loss"]
"""

from .problem import Problem, RegimeWarning, validate
from .reduced import ReducedProblem, reduce
from .solve import METHODS, simulate
from .trajectory import Trajectory
from .metrics import trajectory_metrics, head_alignment_error, principal_angle_cosines
from .geometry import feature_distance, feature_distance_numerical, feature_distance_bounds
from .flows import lp_closed_form, lp_limit
from ._precision import PrecisionWarning
from .data import problems_dir, problem_files, problem_path

__version__ = "0.1.0"

__all__ = [
    "Problem", "RegimeWarning", "validate", "ReducedProblem", "reduce", "METHODS", "Trajectory", "simulate",
    "trajectory_metrics", "head_alignment_error", "principal_angle_cosines", "feature_distance",
    "feature_distance_numerical", "feature_distance_bounds", "lp_closed_form", "lp_limit", "PrecisionWarning",
    "problems_dir", "problem_files", "problem_path",
]

"""LP vs FT vs LP-FT on one problem: the rows of the comparison table printed by ``reproduce``."""

from __future__ import annotations

import math

import numpy as np

from .metrics import trajectory_metrics
from .solve import METHODS, simulate

#: Columns of :func:`compare_methods` rows shown by :func:`format_table`.
COLUMNS = ("method", "t", "train_loss", "id_subspace_loss", "ood_loss", "feature_distance", "distortion_id",
           "distortion_ood", "num_steps")


def compare_methods(problem, times=(0.0, 1.0, 10.0, 100.0, math.inf), methods=METHODS) -> list:
    """Simulate each method on ``problem`` and return one dict per (method, time)."""
    rows = []
    for method in methods:
        traj = simulate(problem, method, times)
        met = trajectory_metrics(traj)
        for i, t in enumerate(traj.times):
            row = dict(method=method, t=float(t), num_steps=traj.num_steps)
            row.update({k: float(v[i]) for k, v in met.items()})
            rows.append(row)
    return rows


def format_table(rows, columns=COLUMNS) -> str:
    """A plain-text table of ``rows`` (floats in %.3e)."""
    def fmt(v):
        if isinstance(v, float):
            return "inf" if math.isinf(v) else f"{v:.3e}" if v != 0 and not (1e-2 <= abs(v) < 1e4) else f"{v:.4g}"
        return str(v)

    cells = [[fmt(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths))  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def summary_ratios(rows) -> dict:
    """OOD loss at t = inf per method, and min over saved times for FT."""
    final = {r["method"]: r["ood_loss"] for r in rows if math.isinf(r["t"])}
    ft = [r["ood_loss"] for r in rows if r["method"] == "ft"]
    return dict(final_ood=final, ft_min_ood_over_saved_times=float(np.min(ft)) if ft else float("nan"))

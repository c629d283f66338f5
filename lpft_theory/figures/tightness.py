"""Tightness figures: observed/bound maps for k = 1, ε = 0 with the failure region marked (``docs/theory.md`` §9).

``compute_k1_tightness(quick)`` returns the data of :func:`lpft_theory.theory.study.k1_maps`;
``plot_k1_tightness(data)`` draws one row per map (t = ∞ closed form; min over t, isotropic inputs)
and one column per s, without pyplot.
"""

from __future__ import annotations

import numpy as np


def compute_k1_tightness(quick: bool = False) -> dict:
    """The ratio maps (see :func:`lpft_theory.theory.study.k1_maps`); a few seconds in quick mode."""
    from ..theory import study

    return study.k1_maps(quick=quick)


def plot_k1_tightness(data: dict):
    """Ratio maps (log colour scale) with the contour ratio = 1 and the failure region hatched.

    Arguments:
        data: the dict of :func:`compute_k1_tightness`.
    Returns:
        a :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    x = np.asarray(data["x"])
    lw = np.asarray(data["log10_w"])
    s_values = data["s"]
    maps = [("ratio_inf", "t = ∞ (closed form)"), ("ratio_min_t", "min over t (isotropic inputs)")]
    fig = Figure(figsize=(4.0 * len(s_values), 6.6), layout="constrained")
    axes = fig.subplots(2, len(s_values), squeeze=False)
    norm = LogNorm(vmin=0.3, vmax=30.0)
    im = None
    for i, (key, label) in enumerate(maps):
        arr = np.asarray(data[key], dtype=float)
        for j, s in enumerate(s_values):
            ax = axes[i, j]
            z = np.clip(arr[j], 0.3, 30.0)
            im = ax.pcolormesh(x, lw, z, norm=norm, cmap="viridis", shading="auto")
            fail = np.where(np.isfinite(arr[j]), arr[j], np.inf)
            if np.any(fail < 1):
                ax.contour(x, lw, fail, levels=[1.0], colors="red", linewidths=1.2)
                ax.contourf(x, lw, fail, levels=[0, 1.0], colors="none", hatches=["///"])
            ax.set_title(f"{label}\ns = {s:g} (c = {np.sqrt(1 - s * s):.3g})", fontsize=9)
            ax.set_xlabel("v₀ / v*")
            if j == 0:
                ax.set_ylabel("log₁₀ |v*| = log₁₀ ‖w*‖")
    fig.colorbar(im, ax=axes, label="observed / bound (red: = 1; hatched: bound fails)", shrink=0.8)
    fig.suptitle("FT lower bound, k = 1, ε = 0, Σ = I: observed / bound", fontsize=10)
    return fig

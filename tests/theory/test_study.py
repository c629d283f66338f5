"""theory.study (k = 1 maps, worst case, empirical constant) and the k1_tightness figure."""

import numpy as np
from matplotlib.figure import Figure

from lpft_theory.figures import registry, tightness
from lpft_theory.theory import k1, study


def test_k1_maps_agree_with_closed_forms_and_small_w_limit():
    d = study.k1_maps(quick=True, s_values=(0.6, 0.95))
    x, lw = np.asarray(d["x"]), np.asarray(d["log10_w"])
    r_inf, r_min = np.asarray(d["ratio_inf"]), np.asarray(d["ratio_min_t"])
    assert r_inf.shape == (2, lw.size, x.size)
    ok = np.isfinite(r_inf) & np.isfinite(r_min)
    assert np.all(r_min[ok] <= r_inf[ok] * (1 + 1e-9))  # a minimum over t is at most the limit
    assert np.nanmin(r_inf) > 0.5
    # at the smallest |v*| (1e-3) and v0/v* = 2 the t = inf ratio is close to its limit 1/(2 s^2) (docs §9.3)
    j = int(np.argmin(np.abs(x - 2.0)))
    for a, s in enumerate((0.6, 0.95)):
        assert abs(r_inf[a, 0, j] - 1 / (2 * s * s)) < 0.01 / (2 * s * s)
    # the failure region at t = inf: present for s = 0.95 > 1/sqrt(2), absent for s = 0.6 at small |v*|
    assert np.nanmax(r_inf[1, 0]) < 1 and np.nanmin(r_inf[0, 0]) > 1
    # at finite t the opposite-sign heads fail for s = 0.6 (interior minima)
    assert np.nanmin(r_min[0, 0, x < -1.2]) < 1


def test_worst_case_lies_in_domain_and_is_confirmed():
    w = study.k1_worst(quick=True, seed=2)
    a = w["argmin"]
    assert study.W_MIN * (1 - 1e-12) <= a["v_star"] <= study.W_MAX * (1 + 1e-12)
    assert study.S_MIN <= a["s"] <= study.S_MAX
    assert abs(abs(a["v0"] / a["v_star"]) - 1) >= study.X_GAP * (1 - 1e-9)
    r, _ = k1.arc_min_ratio(a["v0"], a["v_star"], a["s"])
    assert np.isclose(r, w["worst_ratio"], rtol=1e-9) and r < 1 and w["worst_ratio_inf"] > 0.5
    conf = study.k1_confirm(w)
    assert conf["relative_difference"] <= 1e-8


def test_figure_is_registered_and_draws():
    assert "k1_tightness" in registry.FIGURES
    d = study.k1_maps(quick=True, s_values=(0.95,))
    fig = tightness.plot_k1_tightness(d)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "v₀ / v*"]
    assert len(panels) == 2

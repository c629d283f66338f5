"""The toy explorer's closed-form paths (lpft_theory.toy.toy_paths, lp_path_w, ft_path_w, used by notebook 02)
agree with the simulated flows (lpft_theory.toy.simulate_toy: the ODE solver in reduced coordinates) to 1e-8.

The closed forms come from the two conservation laws (Lemma A.3: b₂ frozen; Lemma A.4: v² − ‖B‖² constant),
not from the solver, so the comparison is between independent computations.
"""

import math

import numpy as np
import pytest

from lpft_theory import toy

TOL = 1e-8
#: (a, w*, v0) with v0 > 0, w1 > 0, cos a > 0: the head keeps its sign (the explorer's slider ranges).
CASES = [
    (math.radians(50.0), (1.0, 1.0), 0.1),  # the paper's figure
    (math.radians(-60.0), (0.4, 1.5), 1.5),  # |v| decreases along FT
]


@pytest.mark.parametrize("a, w_star, v0", CASES)
def test_closed_form_paths_match_simulation(a, w_star, v0):
    sim = toy.simulate_toy(a, w_star, v0)
    paths = toy.toy_paths(a, w_star, v0, n=50)
    # every simulated point lies on the closed-form curve, evaluated at the simulated head
    assert np.abs(toy.lp_path_w(a, sim["lp"]["v"]) - sim["lp"]["w"]).max() < TOL
    assert np.abs(toy.ft_path_w(a, v0, sim["ft"]["v"]) - sim["ft"]["w"]).max() < TOL
    # the closed-form paths start where the flows start and end where they end
    for method in ("lp", "ft"):
        assert np.abs(paths[method]["w"][0] - sim[method]["w"][0]).max() < TOL, method
    # LP-FT: the simulated FT phase starts at the probe's limit and never leaves it
    assert np.abs(sim["lpft"]["w"] - paths["lp"]["w_end"]).max() < TOL
    for method in ("lp", "ft", "lpft"):
        assert np.abs(paths[method]["w_end"] - sim[method]["w_end"]).max() < TOL, method
        assert paths[method]["ood"] == pytest.approx(toy.ood_loss(sim[method]["w_end"], w_star), abs=TOL)
    # the closed-form FT path conserves what the flow conserves: b2 = sin a, v^2 - ||B||^2 = v0^2 - 1
    v = np.linspace(v0, toy.ft_closed_form(a, w_star, v0)["v_inf"], 50)
    w = toy.ft_path_w(a, v0, v)
    np.testing.assert_allclose(w[:, 1] / v, math.sin(a), rtol=0, atol=1e-14)
    np.testing.assert_allclose(v**2 - (w[:, 0] / v) ** 2 - math.sin(a) ** 2, v0**2 - 1, rtol=0, atol=1e-12)


def test_paths_reject_bad_input():
    with pytest.raises(ValueError):
        toy.toy_paths(n=1)
    with pytest.raises(ValueError):
        toy.ft_path_w(math.radians(50.0), 2.0, [0.0])  # v^2 < v0^2 - cos^2 a: unreachable

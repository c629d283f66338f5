"""Head norm and feature change: c = 1 is LP-FT, lazy FT from a zero head never changes the features, and the case
where a larger head changes the features more is confirmed by an independent scipy integration."""

import math

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.followup import head_norm

from _scipy_ft import scipy_ft_limit


@pytest.fixture(scope="module")
def data():
    saved = head_norm.PARAMS
    head_norm.PARAMS = dict(saved, c_quick=(0.0, 1.0, 2.0), seeds_quick=1)
    try:
        return head_norm.run(quick=True)
    finally:
        head_norm.PARAMS = saved


def test_limits_c1_is_lpft_and_zero_head_lazy_is_frozen(data):
    p = head_norm.problem(0)
    r = data["seeds"][0]
    lpft = lt.simulate(p, "lpft", [math.inf])
    expected = np.linalg.norm(np.asarray(lpft.B()[-1]) - np.asarray(p.B0))
    assert abs(r["change"][1] - expected) <= 1e-8 * expected
    assert r["head_norm"][0] == 0.0 and r["change_lazy"][0] == 0.0  # v0 = 0: dB/dt = -2 v0 r^T X = 0 (lazy)
    np.testing.assert_allclose(r["head_norm"][2], 2.0 * np.linalg.norm(r["v_lp"]), rtol=1e-12)


def test_claim_direction_and_the_saved_case(data):
    r = data["seeds"][0]
    i = r["first_increase"]
    v = head_norm.verdict(data)
    if i < 0:  # the claim holds on this grid: no case
        assert data["case"] is None and v["agrees"] == "yes"
        return
    case = data["case"]
    assert case is not None and case["scale"] == data["scales"][i]
    p = head_norm.case_problem(data)
    np.testing.assert_allclose(np.asarray(p.v0), case["scale"] * np.asarray(r["v_lp"]), rtol=1e-12)
    # confirmed independently: FT from c v_lp changes B more than from the previous scale
    B0 = np.asarray(p.B0)
    _, B_big = scipy_ft_limit(p)
    _, B_small = scipy_ft_limit(p, v0=case["previous_scale"] * np.asarray(r["v_lp"]))
    big, small = np.linalg.norm(B_big - B0), np.linalg.norm(B_small - B0)
    np.testing.assert_allclose(big, case["change"], rtol=1e-6)
    np.testing.assert_allclose(small, case["previous_change"], rtol=1e-6)
    assert big > small and v["agrees"] in ("partly", "no")
    assert f"grows again from c = {case['scale']:g}" in v["line"]


def test_first_increase():
    assert head_norm.first_increase([3.0, 2.0, 1.0]) == -1
    assert head_norm.first_increase([3.0, 1.0, 2.0]) == 2


def test_saved_case_file_confirmed_by_scipy():
    """problems/followup_head_norm_seed0_c1.25.npz (the full run's case): v0 = 1.25 v_lp changes B more than v_lp."""
    p = lt.Problem.load(lt.problem_path("followup_head_norm_seed0_c1.25.npz"))
    v_lp = np.asarray(lt.flows.lp_limit(lt.reduce(p).flow))
    np.testing.assert_allclose(np.asarray(p.v0), 1.25 * v_lp, rtol=1e-10)
    B0 = np.asarray(p.B0)
    _, B_big = scipy_ft_limit(p)
    _, B_lp = scipy_ft_limit(p, v0=v_lp)
    assert np.linalg.norm(B_big - B0) > 2.0 * np.linalg.norm(B_lp - B0)

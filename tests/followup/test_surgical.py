"""Surgical FT on the two shift families: at shift size 0 nothing moves (all three OOD losses 0), the output-level
shift is solved exactly by the head (LP OOD 0), features only ends at ||P_perp (w_src - w_T)||^2 (numpy, full
coordinates), Lemma A.3 for the frozen-head flow in full coordinates, and the case confirmed by scipy."""

import math

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.followup import surgical
from lpft_theory.metrics import perp_drift
from lpft_theory.variants import frozen_head

from _scipy_ft import scipy_ft_limit


def _perp_formula(p):
    X, B0, v0, w = (np.asarray(a) for a in (p.X, p.B0, p.v0, p.w_star))
    U = np.linalg.svd(X, full_matrices=False)[2].T  # basis of S = rowspace(X)
    e = B0.T @ v0 - w
    e_perp = e - U @ (U.T @ e)
    return float(e_perp @ e_perp)


@pytest.mark.parametrize("family", surgical.FAMILIES)
def test_size_zero_nothing_moves(family):
    r = surgical.adapt(surgical.shift_problem(family, 0, 0.0))
    for key in surgical.METHODS + ("none",):
        assert r[key] < 1e-24, (key, r[key])


def test_output_shift_head_only_exact_and_features_only_formula():
    p = surgical.output_shift_problem(0, 0.5)
    r = surgical.adapt(p)
    assert r["head_only"] < 1e-20
    np.testing.assert_allclose(r["features_only"], _perp_formula(p), rtol=1e-9)
    w_src = np.asarray(p.B0).T @ np.asarray(p.v0)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(p.w_star) - w_src), 0.5 * np.linalg.norm(w_src),
                               rtol=1e-12)  # size = |w_T - w_src| / |w_src|


def test_input_shift_definition_and_features_only_formula():
    s = 0.3
    p = surgical.input_shift_problem(0, s)
    p0 = surgical.input_shift_problem(0, 0.0)
    X0, X = np.asarray(p0.X), np.asarray(p.X)
    np.testing.assert_allclose(np.asarray(p.y), np.asarray(p0.y), rtol=1e-12)  # labels of the clean inputs
    np.testing.assert_allclose(X @ np.asarray(p.w_star), np.asarray(p0.y), rtol=1e-10)
    assert np.linalg.norm(X - X0, 2) > 0
    np.testing.assert_allclose(surgical.adapt(p)["features_only"], _perp_formula(p), rtol=1e-9)
    with pytest.raises(ValueError, match="size"):
        surgical.input_shift_problem(0, 1.0)


def test_lemma_a3_frozen_head_full_coordinates():
    p = surgical.input_shift_problem(0, 0.5)
    traj = frozen_head.simulate_frozen_head(p, [0.0, 0.05, 0.5], solver="tsit5", coords="full")
    rp = lt.reduce(p)
    B = traj.B()
    for i in range(B.shape[0]):
        assert float(perp_drift(B[i], p.B0, rp.U_S)) <= 1e-12
        assert float(frozen_head.head_orthogonal_drift(p.v0, B[i], p.B0)) <= 1e-12


def test_case_confirmed_by_scipy():
    saved = surgical.PARAMS
    surgical.PARAMS = dict(saved, sizes_quick=(0.0, 0.5))
    try:
        data = surgical.run(quick=True)
    finally:
        surgical.PARAMS = saved
    v = surgical.verdict(data)
    case = data["case"]
    if case is None:
        assert v["agrees"] == "yes"
        return
    p = surgical.case_problem(data)
    vv, B = scipy_ft_limit(p)
    ood_ft = float(np.sum((B.T @ vv - np.asarray(p.w_star)) ** 2))
    r = data[case["family"]][0]
    i = data["sizes"].index(case["size"])
    np.testing.assert_allclose(ood_ft, r["full_ft"][i], rtol=1e-6)
    if case["family"] == "input":
        assert ood_ft <= _perp_formula(p)  # full FT is at least as good as features only: the claim fails here
    assert v["agrees"] in ("partly", "no")


def test_saved_case_file_confirmed_by_scipy():
    """problems/followup_surgical_input_seed0_s0.05.npz (the full run's case): full FT (scipy) <= features only."""
    p = lt.Problem.load(lt.problem_path("followup_surgical_input_seed0_s0.05.npz"))
    ref = surgical.input_shift_problem(0, 0.05)
    # the same problem, up to the rounding of one BLAS product, which differs between CPUs (this file was
    # written on an Intel machine; an AMD one differs in 31 of 100 entries, by at most 4.4e-16)
    np.testing.assert_allclose(np.asarray(p.X), np.asarray(ref.X), rtol=1e-14, atol=1e-15)
    v, B = scipy_ft_limit(p)
    assert float(np.sum((B.T @ v - np.asarray(p.w_star)) ** 2)) <= _perp_formula(p)

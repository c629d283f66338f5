"""Projected FT against L2-SP (issue 15, item 4): the matched-λ root find reproduces the target distance and its
L2-SP state is the one simulate_l2sp gives; the follow-up run (slow)."""

import json
import math

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.followup import projected as fp
from lpft_theory.variants import l2sp

SHAPE = dict(d=12, k=2, m=4, n=8)


def test_matched_lambda_hits_the_distance():
    p = lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, **SHAPE)
    rp = lt.reduce(p)
    T = 10.0
    ft = lt.simulate(rp, "ft", [T])
    d_ft = float(np.linalg.norm(np.asarray(ft.B_S[-1] - rp.B_S0)))
    lams = []
    for frac in (0.2, 0.6):
        target = frac * d_ft
        lam, lim, evals = fp.matched_lambda(rp, target, T, xtol=1e-10)
        assert lim["distance"] == pytest.approx(target, rel=1e-6)
        tr = l2sp.simulate_l2sp(rp, lam, [T])
        assert float(np.linalg.norm(np.asarray(tr.B_S[-1] - rp.B_S0))) == pytest.approx(target, rel=1e-6)
        lams.append(lam)
    assert lams[0] > lams[1] > 0  # a smaller distance needs a larger penalty


@pytest.mark.slow
def test_run_quick():
    data = fp.run(quick=True)
    json.dumps(data)
    rows = data["rows"]
    assert rows[0]["gamma"] == 0 and rows[0]["projected"]["ood"] == pytest.approx(data["lp"]["ood"], rel=1e-12)
    assert rows[-1]["projected"]["ood"] == pytest.approx(data["ft"]["ood"], rel=1e-8)
    for r in rows[1:-1]:
        assert r["projected"]["distance"] <= r["gamma"] * (1 + 1e-9)
        assert r["l2sp"]["distance"] == pytest.approx(r["projected"]["distance"], rel=1e-4)
    v = fp.verdict(data)
    assert v["agrees"] in ("yes", "no", "partly") and "L2-SP" in v["line"]
    assert fp.plot(data).axes
    assert (fp.case_problem(data) is None) == (data["case"] is None)
    if data["case"]:
        assert isinstance(fp.case_problem(data), lt.Problem) and math.isfinite(data["case"]["lam"])


def _scipy_ood(p, T, gamma=None, lam=None):
    """Independent numpy/DOP853 integration on full matrices of projected FT (gamma) or L2-SP (lam); OOD loss at T."""
    import scipy.integrate

    X, y, B0, v0, w = (np.asarray(a) for a in (p.X, p.y, p.B0, p.v0, p.w_star))
    k, d = B0.shape

    def clip(D):
        n = np.linalg.norm(D)
        return D if gamma is None or n <= gamma else D * (gamma / n)

    def f(t, z):
        v, D = z[:k], z[k:].reshape(k, d)
        B = B0 + clip(D)
        r = X @ (B.T @ v) - y
        g = X.T @ r
        F = -2 * np.outer(v, g)
        if gamma is not None and np.linalg.norm(D) >= gamma:
            P = clip(D)
            F = F - max(0.0, np.sum(F * P)) / np.sum(P * P) * P
        if lam is not None:
            F = F - 2 * lam * D
        return np.concatenate([-2 * B @ g, F.ravel()])

    sol = scipy.integrate.solve_ivp(f, (0, T), np.concatenate([v0, np.zeros(k * d)]), method="DOP853",
                                    rtol=1e-11, atol=1e-13)
    assert sol.success
    v, D = sol.y[:k, -1], sol.y[k:, -1].reshape(k, d)
    e = (B0 + clip(D)).T @ v - w
    return float(e @ e), float(np.linalg.norm(clip(D)))


@pytest.mark.slow
def test_case_confirmed_by_an_independent_integration():
    """The saved case (projected FT worse than L2-SP at the same distance) replayed with scipy on full matrices."""
    data = fp.run(quick=True)
    case = data["case"]
    if case is None:
        pytest.skip("no case in this run")
    p = fp.case_problem(data)
    ood_p, dist_p = _scipy_ood(p, case["horizon"], gamma=case["gamma"])
    ood_l, dist_l = _scipy_ood(p, case["horizon"], lam=case["lam"])
    assert dist_p == pytest.approx(case["gamma"], rel=1e-6) and dist_l == pytest.approx(dist_p, rel=1e-4)
    assert ood_p > ood_l
    row = next(r for r in data["rows"] if r["gamma"] == case["gamma"])
    assert ood_p == pytest.approx(row["projected"]["ood"], rel=1e-6)
    assert ood_l == pytest.approx(row["l2sp"]["ood"], rel=1e-6)

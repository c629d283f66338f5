"""The logistic follow-up (issue 15, item 6): the OOD classification error rate against Monte Carlo, and the
follow-up run (slow)."""

import json

import numpy as np
import pytest

import lpft_theory as lt
from lpft_theory.followup import logistic as fl
from lpft_theory.variants import logistic

SHAPE = dict(d=12, k=2, m=4, n=8)


def test_ood_error_rate_against_monte_carlo():
    """P[sign(w.x) != sign(w*.x)], x ~ N(0, Sigma), closed form against 4e5 draws (3.5 standard errors)."""
    p = lt.Problem.random(seed=3, eps=0.3, head_scale=1.0, sigma_ood="anisotropic", sigma_cond=10.0, **SHAPE)
    tr = logistic.simulate_logistic(p, "ft-logistic", [0.0, 1.0])
    rate = float(tr.info["ood_error_rate"][-1])
    w = np.asarray(tr.w()[-1])
    S = np.asarray(p.sigma)
    x = np.random.default_rng(1).multivariate_normal(np.zeros(p.d), S, size=400_000)
    mc = np.mean(np.sign(x @ w) != np.sign(x @ np.asarray(p.w_star)))
    se = np.sqrt(rate * (1 - rate) / x.shape[0])
    assert 0.01 < rate < 0.5 and abs(mc - rate) <= 3.5 * se


@pytest.mark.slow
def test_run_quick():
    data = fl.run(quick=True)
    json.dumps(data)
    assert data["max_perp_drift"] <= 1e-12
    for key in ("lp", "ft", "lpft"):
        L = np.asarray(data["runs"][key]["logistic_loss"])
        assert np.all(np.diff(L) <= 1e-12 * L[0])
    assert max(data["runs"]["lp"]["feature_change"]) == 0.0
    v = fl.verdict(data)
    assert v["agrees"] in ("yes", "no", "partly") and "Lemma A.3" in v["line"]
    assert fl.plot(data).axes
    assert (fl.case_problem(data) is None) == (data["case"] is None)

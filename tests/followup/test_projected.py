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

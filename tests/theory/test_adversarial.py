"""The strengthened adversarial search: the k = 1 start from the derived failure region (docs/theory.md §9.3)
finds confirmed violations of both statements, and failed surrogate steps are counted, not hidden."""

import numpy as np
import pytest

from lpft_theory.theory import adversarial, k1, reference


@pytest.mark.slow
def test_k1_start_finds_confirmed_violations_of_both_statements():
    """~1 min on 2 loaded cores (one Tsit5 and one Kvaerno5 compilation of the differentiable surrogate)."""
    v0, vs, s = adversarial.K1_START
    # the start is inside the t = inf failure region by the closed form (independent of the search)
    assert k1.failure_region(v0, vs, s, k1.sign_rule(v0, vs, s, True))
    res = adversarial.run_search(starts=1, steps=3, progress=False, k1_start=True)  # the one start: k = 1
    summ = adversarial.summarize(res)
    for st, e in summ["statements"].items():
        assert e["starts"] == 1 and e["failed_starts"] == 0
        assert e["confirmed_violations"] == 1, st
        assert 0 < e["best_ratio_observed_over_bound"] < 1
    # replay one candidate with the reference integrator: observed below the bound
    r = next(r for r in res["results"] if r["statement"] == "final-thm-3.3")
    ref = reference.reference_min_ood(r["problem"], gtol=1e-12)
    assert ref["min_sigma"] < r["bound"] and np.isclose(ref["min_sigma"], r["reference_observed"], rtol=1e-6)


def test_summary_counts_failed_starts_and_reports_the_ratio():
    base = dict(start=0, seed=0, shape=[7, 1, 3, 6], surrogate_relative_gap=0.1, gap_history=[0.1], bound=2.0,
                observed=1.0, margin=-1.0, applies=True, relative_gap=1.0, status="confirmed violation",
                reference_observed=1.0)
    results = []
    for st in ("submission-thm-3.1", "final-thm-3.3"):
        results.append(dict(base, statement=st, failed_steps=2, failed_start=False, k1_start=True))
        results.append(dict(base, statement=st, start=1, relative_gap=None, bound=None, status="n/a",
                            failed_steps=3, failed_start=True, k1_start=False))
    s = adversarial.summarize(dict(results=results, elapsed_s=1.0, starts=1, steps=3, seed=0))
    for e in s["statements"].values():
        assert e["failed_starts"] == 1 and e["failed_steps"] == 5
        assert e["best_ratio_observed_over_bound"] == 0.5 and e["k1_infimum_t_inf"] == 0.5

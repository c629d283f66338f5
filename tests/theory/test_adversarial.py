"""The strengthened adversarial search: the k = 1 start from the derived failure region (docs/theory.md §9.3)
finds confirmed violations of both statements, and failed surrogate steps are counted, not hidden."""

import numpy as np

from lpft_theory.theory import adversarial, k1, reference


def test_k1_start_finds_confirmed_violations_of_both_statements():
    v0, vs, s = adversarial.K1_START
    # the start is inside the t = inf failure region by the closed form (independent of the search)
    assert k1.failure_region(v0, vs, s, k1.sign_rule(v0, vs, s, True))
    res = adversarial.run_search(starts=0, steps=3, progress=False, k1_start=True)
    summ = adversarial.summarize(res)
    for st, e in summ["statements"].items():
        assert e["starts"] == 1 and e["failed_starts"] == 0
        assert e["confirmed_violations"] == 1, st
        assert 0 < e["best_ratio_observed_over_bound"] < 1
    # replay one candidate with the reference integrator: observed below the bound
    r = next(r for r in res["results"] if r["statement"] == "final-thm-3.3")
    ref = reference.reference_min_ood(r["problem"], gtol=1e-12)
    assert ref["min_sigma"] < r["bound"] and np.isclose(ref["min_sigma"], r["reference_observed"], rtol=1e-6)

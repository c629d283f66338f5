"""simulate --method for the issue-15 follow-up methods (helper C2): ft-projected (--gamma, --init) and
ft/lp/lpft-logistic (--lp-time, finite --times): runs write their results, bad input exits 2 with one line."""

import json

import numpy as np
import pytest

from lpft_theory.cli.main import main

RANDOM = "d=12,k=2,m=4,n=8,eps=0.2,seed=3"

BAD = [
    ("--method ft-projected --times 1", "needs --gamma"),
    ("--method ft-projected --times 1 --gamma -1", "--gamma"),
    ("--method ft-projected --times 1 --gamma nan", "--gamma"),
    ("--method ft --times 1 --gamma 1", "--gamma only applies"),
    ("--method ft-logistic --times 1 --gamma 1", "--gamma only applies"),
    ("--method lp --times 1 --lp-time 1", "--lp-time only applies"),
    ("--method lpft-logistic --times 1", "needs --lp-time"),
    ("--method lpft-logistic --times 1 --lp-time -1", "--lp-time"),
    ("--method ft-logistic --times 0,1,inf", "inf is refused"),
    ("--method lp-logistic --times inf", "inf is refused"),
    ("--method ft-logistic --times 1 --label-noise 0.1", "--label-noise does not apply"),
    ("--method ft-logistic --times 1 --init lp", "--init only applies"),
    ("--method ft-logistic", "needs --times"),
]


@pytest.mark.parametrize("flags,msg", BAD)
def test_bad_flags_exit_2(flags, msg, tmp_path, capsys):
    out = tmp_path / "R.npz"
    rc = main(["simulate", "--random", RANDOM, "--out", str(out)] + flags.split())
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_projected_runs(tmp_path, capsys):
    out = tmp_path / "p.npz"
    assert main(["simulate", "--random", RANDOM, "--method", "ft-projected", "--gamma", "0.05", "--times",
                 "linspace:0,10,41", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "ft-projected" and summary["info"]["gamma"] == 0.05
    with np.load(out) as r:
        B = r["B"]
        assert B.shape == (41, 2, 12) and str(r["method"]) == "ft-projected"
        assert np.max(np.linalg.norm(B - B[0], axis=(1, 2))) <= 0.05 * (1 + 1e-9)
        assert np.max(r["distance"]) <= 0.05 * (1 + 1e-9) and bool(r["on_sphere"][-1])
    inf = tmp_path / "inf.npz"
    assert main(["simulate", "--random", RANDOM, "--method", "ft-projected", "--gamma", "inf", "--init", "lp",
                 "--times", "linspace:0,10,41", "--out", str(inf)]) == 0
    with np.load(inf) as r:
        assert not np.any(r["on_sphere"]) and str(r["init"]) == "lp"


def test_logistic_methods_run(tmp_path, capsys):
    for method, extra in (("ft-logistic", []), ("lp-logistic", []), ("lpft-logistic", ["--lp-time", "5"])):
        out = tmp_path / f"{method}.npz"
        assert main(["simulate", "--random", RANDOM, "--method", method, "--times", "linspace:0,10,41",
                     "--out", str(out), "--json"] + extra) == 0, method
        summary = json.loads(capsys.readouterr().out)
        assert summary["info"]["loss"] == "logistic"
        with np.load(out) as r:
            L = r["logistic_loss"]
            assert L.shape == (41,) and np.all(np.diff(L) <= 1e-12 * L[0])
            assert np.all((r["ood_error_rate"] >= 0) & (r["ood_error_rate"] <= 0.5 + 1e-12))
            if method == "lp-logistic":
                assert np.array_equal(r["B"], np.broadcast_to(r["B"][0], r["B"].shape))

"""CLI of the beyond-the-paper methods (issue 7): bad flag combinations exit 2 with one line
and no file; runs write their results; GD divergence is recorded with exit 0."""

import numpy as np
import pytest

from lpft_theory.cli.main import main

RANDOM = "d=12,k=2,m=4,n=8,eps=0.2,seed=3"

BAD = [
    ("--method ft --times 1 --l2sp 1", "--l2sp only applies"),
    ("--method ft --times 1 --alpha 0,1", "--alpha only applies"),
    ("--method lp --times 1 --wise-from lp", "--wise-from only applies"),
    ("--method ft --times 1 --lr-v 0.1", "--lr-v only applies"),
    ("--method wise-ft --times 1 --alpha 0,1 --init lp", "--init only applies"),
    ("--method l2sp --times 1 --l2sp -1", "lambda"),
    ("--method l2sp --times 1", "needs --l2sp"),
    ("--method gd --lr-v -0.1 --lr-B 0.1 --steps 10", "lr_v"),
    ("--method gd --lr-v 0.1 --lr-B 0.1", "needs --steps"),
    ("--method gd --lr-v 0.1 --lr-B 0.1 --steps 0", "steps"),
    ("--method gd --lr-v 0.1 --lr-B 0.1 --steps 10 --times 1", "not at --times"),
    ("--method wise-ft --times 1,2 --alpha 0,1", "one --times"),
    ("--method wise-ft --times 1", "needs --alpha"),
    ("--method wise-ft --times 1 --alpha 0,x", "--alpha"),
    ("--method ft --times 1 --noise-seed 2", "--noise-seed needs"),
    ("--method ft --times 1 --label-noise -0.5", "--label-noise"),
    ("--method ft-frozen-head", "needs --times"),
]


@pytest.mark.parametrize("flags,msg", BAD)
def test_bad_flags_exit_2(flags, msg, tmp_path, capsys):
    out = tmp_path / "R.npz"
    rc = main(["simulate", "--random", RANDOM, "--out", str(out)] + flags.split())
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_label_noise_zero_matches_core_runner(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert main(["simulate", "--random", RANDOM, "--method", "ft", "--times", "0,1,2", "--out", str(a)]) == 0
    assert main(["simulate", "--random", RANDOM, "--method", "ft", "--times", "0,1,2", "--out", str(b),
                 "--label-noise", "0"]) == 0
    with np.load(a) as A, np.load(b) as B:
        for key in ("v", "B", "train_loss", "ood_loss"):
            assert np.array_equal(A[key], B[key]), key
        assert int(B["noisy"]) == 0 and B["id_test_loss"].shape == (3,)


def test_gd_divergence_recorded(tmp_path, capsys):
    out = tmp_path / "g.npz"
    rc = main(["simulate", "--random", RANDOM, "--method", "gd", "--lr-v", "2", "--lr-B", "2", "--steps", "50",
               "--save-every", "25", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 and "diverged" in err
    with np.load(out) as r:
        assert bool(r["diverged"]) and int(r["diverged_at"]) >= 1 and str(r["axis"]) == "step"
        assert np.isnan(r["ood_loss"][-1]) and np.isfinite(r["ood_loss"][0])


def test_methods_write_results(tmp_path):
    runs = [
        ["--method", "wise-ft", "--times", "1", "--alpha", "0,0.5,1", "--wise-from", "lp"],
        ["--method", "l2sp", "--l2sp", "2", "--times", "0,1,2"],
        ["--method", "ft-frozen-head", "--times", "0,1,inf", "--label-noise", "0.1", "--noise-seed", "4"],
        ["--method", "gd", "--lr-v", "0.01", "--lr-B", "0.002", "--steps", "100", "--init", "lp", "--save-every", "50"],
    ]
    for i, flags in enumerate(runs):
        out = tmp_path / f"r{i}.npz"
        assert main(["simulate", "--random", RANDOM, "--out", str(out)] + flags) == 0, flags
        with np.load(out) as r:
            assert np.all(np.isfinite(r["ood_loss"])) and r["B"].shape[1:] == (2, 12)
    with np.load(tmp_path / "r0.npz") as r:
        assert str(r["axis"]) == "alpha" and r["times"].tolist() == [0.0, 0.5, 1.0]
    with np.load(tmp_path / "r2.npz") as r:
        assert int(r["noisy"]) == 1 and r["train_loss"][-1] > 1e-4


def test_batch_file_refused_for_beyond_methods(tmp_path, capsys):
    import lpft_theory as lt

    ps = [lt.Problem.random(seed=s, d=12, k=2, m=4, n=8, eps=0.2) for s in (0, 1)]
    stacked = {f: np.stack([np.asarray(getattr(q, f)) for q in ps]) for f in ("X", "y", "B0", "v0", "w_star")}
    path = tmp_path / "batch.npz"
    np.savez(path, **stacked)
    out = tmp_path / "R.npz"
    rc = main(["simulate", "--problem", str(path), "--method", "l2sp", "--l2sp", "1", "--times", "0,1",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "batch" in err and not out.exists()


def test_variants_api_errors():
    import lpft_theory as lt
    from lpft_theory.variants.dispatch import ALL_METHODS, simulate_variant

    p = lt.Problem.random(seed=0, d=12, k=2, m=4, n=8, eps=0.2)
    assert set(ALL_METHODS) >= {"lp", "ft", "lpft", "wise-ft", "l2sp", "gd", "ft-frozen-head"}
    cases = [(("nope", [0.0]), {}, "method"), (("wise-ft", [1.0]), {}, "alpha"),
             (("wise-ft", [1.0, 2.0]), dict(alpha=[0.0]), "one FT time"), (("l2sp", [1.0]), {}, "lam"),
             (("gd", None), dict(lr_v=0.1), "steps"), (("gd", [1.0]), dict(lr_v=0.1, lr_B=0.1, steps=5), "step"),
             (("ft-frozen-head", None), {}, "times")]
    for (method, times), opts, msg in cases:
        with pytest.raises(ValueError, match=msg):
            simulate_variant(p, method, times, **opts)
    run = simulate_variant(p, "ft-frozen-head", [0.0, 1.0], init="lp")
    assert run.axis == "time" and run.method == "ft-frozen-head"
    run = simulate_variant(p, "gd", lr_v=0.01, lr_B=0.01, steps=10, save_at=np.array([0, 10]))
    assert run.axis == "step" and run.info["steps"] == 10

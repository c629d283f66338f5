"""Figures wise_ft and lr_ratio (issue 7): the committed data against facts computed here without
simulation, the claims of their captions, and the plot functions."""

import numpy as np
import pytest
from matplotlib.figure import Figure

import lpft_theory as lt
from lpft_theory.figures import beyond as beyond_figures
from lpft_theory.figures import registry



def _problem(d, seed):
    p = d["params"]
    return lt.Problem.random(seed=seed, d=p["d"], k=p["k"], m=p["m"], n=p["n"], eps=p["eps"],
                             head_scale=p["head_scale"])


def _start_losses(p, v):
    X, B0, w = (np.asarray(a) for a in (p.X, p.B0, p.w_star))
    e = B0.T @ v - w
    U = np.linalg.svd(X, full_matrices=False)[2][: np.linalg.matrix_rank(X)].T
    return np.sum((U.T @ e) ** 2), e @ e


def _v_lp(p):
    X, y, B0 = (np.asarray(a) for a in (p.X, p.y, p.B0))
    return np.linalg.lstsq(X @ B0.T, y, rcond=None)[0]


def test_registered():
    names = tuple(registry.FIGURES)
    assert names.index("lr_ratio") == names.index("wise_ft") + 1  # listed together, after the paper's figures
    assert names.index("wise_ft") > names.index("head_alignment")
    assert registry.FIGURES["wise_ft"].plot is beyond_figures.plot_wise_ft


def test_wise_ft_data(committed):
    d = committed("wise_ft")
    assert d["quick"] is False
    a = np.asarray(d["alphas"], dtype=float)
    for i, seed in enumerate(d["params"]["seeds"]):
        p = _problem(d, seed)
        for f, v in (("init", np.asarray(p.v0)), ("lp", _v_lp(p))):
            id0, ood0 = _start_losses(p, v)  # α = 0: no simulation needed
            assert d[f]["id_subspace_loss"][i][0] == pytest.approx(id0, rel=1e-9)
            assert d[f]["ood_loss"][i][0] == pytest.approx(ood0, rel=1e-9)
            ood = np.asarray(d[f]["ood_loss"][i], dtype=float)
            # an exact quartic in α: a degree-4 fit leaves only the JSON rounding (12 digits)
            res = ood - np.polyval(np.polyfit(a, ood, 4), a)
            assert np.max(np.abs(res)) < 1e-8 * np.max(np.abs(ood))
            assert d[f]["converged"][i]
        # α = 1 fits S (FT and LP-FT reach zero training loss; ID-subspace loss ~ 0)
        assert d["init"]["id_subspace_loss"][i][-1] < 1e-12 and d["lp"]["id_subspace_loss"][i][-1] < 1e-12


def test_lr_ratio_data_and_caption_claims(committed):
    d = committed("lr_ratio")
    r = np.asarray(d["ratios"], dtype=float)
    ood = np.asarray([[np.nan if x is None else x for x in row] for row in d["ood_loss"]], dtype=float)
    lev = {m: np.asarray(d["levels"][m], dtype=float) for m in ("lp", "lpft", "ft")}
    for i, seed in enumerate(d["params"]["seeds"]):
        p = _problem(d, seed)
        assert lev["lp"][i] == pytest.approx(_start_losses(p, _v_lp(p))[1], rel=1e-9)  # LP level by lstsq
    conv = np.asarray(d["converged"], dtype=bool)
    div = np.asarray(d["diverged"], dtype=bool)
    assert np.all(np.isnan(ood[div])) and np.all(np.isfinite(ood[~div]))
    small, one = int(np.argmin(r)), int(np.argmin(np.abs(r - 1.0)))
    assert r[small] == pytest.approx(1e-3) and conv[:, small].all() and conv[:, one].all()
    assert np.all(np.abs(ood[:, small] / lev["lpft"] - 1) < 0.12)  # caption: within 12 % of LP-FT
    assert np.all(np.abs(ood[:, one] / lev["ft"] - 1) < 0.10)  # caption: within 10 % of FT at lr_B = lr_v
    assert np.all(lev["ft"] > 10 * lev["lpft"])  # the two levels are far apart, so the claim says something


def test_plots_from_committed_data(committed):
    for name, fn in (("wise_ft", beyond_figures.plot_wise_ft), ("lr_ratio", beyond_figures.plot_lr_ratio)):
        d = committed(name)
        fig = fn(d)
        assert isinstance(fig, Figure) and len(fig.axes) == 2
        assert all(len(ax.get_lines()) >= 3 for ax in fig.axes)

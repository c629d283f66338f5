"""The persistent compilation cache of the command line (lpft_theory/_cache.py): where it goes, how
LPFT_THEORY_CACHE turns it off, and that a second run of a command reuses what the first wrote."""

import os
import subprocess
import sys

import pytest

from lpft_theory import _cache

ARGS = ["simulate", "--random", "d=10,k=2,m=3,n=6,eps=0.1,seed=0", "--method", "ft", "--times", "0,1"]


def _run(tmp_path, env_extra, out_name):
    env = {k: v for k, v in os.environ.items() if k not in ("LPFT_THEORY_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    env.update(env_extra)
    env = {k: v for k, v in env.items() if v is not None}  # None: not set
    r = subprocess.run([sys.executable, "-m", "lpft_theory.cli", *ARGS, "--out", str(tmp_path / out_name)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def _files(path):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LPFT_THEORY_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _cache.cache_dir() == os.path.join(str(tmp_path), "lpft_theory", "jax")
    for off in ("0", "off", "none", "OFF", ""):
        monkeypatch.setenv("LPFT_THEORY_CACHE", off)
        assert _cache.cache_dir() is None
    monkeypatch.setenv("LPFT_THEORY_CACHE", str(tmp_path / "here"))
    assert _cache.cache_dir() == str(tmp_path / "here")


@pytest.mark.slow
def test_the_command_line_writes_and_reuses_the_cache(tmp_path):
    cache = tmp_path / "cache"
    _run(tmp_path, {"LPFT_THEORY_CACHE": str(cache)}, "a.npz")
    first = _files(cache)
    assert first, "the first run wrote no compiled kernel"
    _run(tmp_path, {"LPFT_THEORY_CACHE": str(cache)}, "b.npz")
    import numpy as np

    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        np.testing.assert_array_equal(a["B"], b["B"])  # a cached executable computes the same numbers
    # the XDG default, and LPFT_THEORY_CACHE=off writes nothing there
    _run(tmp_path, {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "LPFT_THEORY_CACHE": "off"}, "c.npz")
    assert not (tmp_path / "xdg" / "lpft_theory").exists()
    _run(tmp_path, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, "d.npz")
    assert _files(tmp_path / "xdg" / "lpft_theory" / "jax")


def test_a_solve_saved_at_given_times_is_cached(tmp_path):
    """diffrax checks SaveAt(ts=...) with eqx.error_if, a host callback unless EQX_ON_ERROR=nan, and JAX never
    caches a kernel with a host callback: the command line sets EQX_ON_ERROR=nan unless the user set it."""
    cache = tmp_path / "cache"
    _run(tmp_path, {"LPFT_THEORY_CACHE": str(cache), "EQX_ON_ERROR": None}, "a.npz")
    names = [os.path.basename(f) for f in _files(cache)]
    assert any(n.startswith("jit_solve_at-") for n in names), names
    # a user's own EQX_ON_ERROR is kept: with "raise" the checks are callbacks again and that kernel is not written
    cache2 = tmp_path / "cache2"
    _run(tmp_path, {"LPFT_THEORY_CACHE": str(cache2), "EQX_ON_ERROR": "raise"}, "b.npz")
    names2 = [os.path.basename(f) for f in _files(cache2)]
    assert names2 and not any(n.startswith("jit_solve_at-") for n in names2), names2

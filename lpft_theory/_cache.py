"""The persistent compilation cache of the command line.

XLA compiles each of the package's kernels (the observer's Kvaerno5 solve, its refinement, the batched
flows) once per padded shape; on 2 CPU cores that costs 5-20 s per kernel and dominates short commands.
JAX can keep compiled executables on disk (``jax_compilation_cache_dir``): the second run of a command
then only traces. The command line (and the campaign's worker processes) turn it on with
:func:`enable_compilation_cache`; library code never does.

Where: ``$LPFT_THEORY_CACHE`` if set (``0``, ``off`` or ``none`` turn the cache off), otherwise
``$XDG_CACHE_HOME/lpft_theory/jax`` (default ``~/.cache/lpft_theory/jax``). A directory that cannot be
created leaves the cache off. A cache directory already chosen by the user (``jax_compilation_cache_dir``
or ``JAX_COMPILATION_CACHE_DIR``) is kept. Entries are keyed by the computation, the JAX version and the
device, so a stale entry is never reused; deleting the directory is always safe.

Two things keep a kernel out of the cache, and the command line sees to both:

* **Host callbacks.** JAX never writes an executable that calls back into Python. Equinox's run-time checks
  (``eqx.error_if``) are host callbacks unless ``EQX_ON_ERROR`` is ``nan`` or ``off``, and diffrax puts two
  of them into every solve saved at given times (``SaveAt(ts=...)``: the times increase and lie in
  ``[t0, t1]``). :func:`prepare_environment` sets ``EQX_ON_ERROR=nan`` (unless it is already set) before
  Equinox is imported: a failed check then gives NaN instead of an exception. The package never relies on
  those checks: it validates the save times before any solve, and a solve that ends with a non-finite
  state is reported as failed (:func:`lpft_theory.integrate.integrate`).
* **Short compilations.** Every kernel is written, however quickly it compiled
  (:data:`MIN_COMPILE_TIME_S`): the array operations run outside ``jit`` each compile a small kernel per
  shape, and reading one back is faster than compiling it (in ``reproduce`` about 130 such kernels per
  figure).
"""

from __future__ import annotations

import os

#: Only kernels that took longer than this to compile are written (seconds).
MIN_COMPILE_TIME_S = 0.0


def prepare_environment() -> None:
    """Before JAX and Equinox are imported: ``EQX_ON_ERROR=nan`` unless the user set it, so that solves
    saved at given times can be cached (module docstring). Has no effect once Equinox is imported."""
    import sys

    if "equinox" not in sys.modules:
        os.environ.setdefault("EQX_ON_ERROR", "nan")


def cache_dir() -> str | None:
    """The directory :func:`enable_compilation_cache` uses, or None when the cache is turned off."""
    env = os.environ.get("LPFT_THEORY_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none", "false") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lpft_theory", "jax")


def enable_compilation_cache() -> str | None:
    """Turn JAX's persistent compilation cache on (see the module docstring); returns the directory used."""
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = cache_dir()
    if path is None:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    use_cache_dir(path)
    return path


def use_cache_dir(path: str) -> None:
    """Point JAX's persistent compilation cache at ``path`` (writing kernels slower than
    :data:`MIN_COMPILE_TIME_S` to compile); a campaign worker calls it with its parent's directory."""
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)

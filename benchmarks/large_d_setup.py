"""Set-up cost of one large-d problem: ``Problem.random`` (with its validation) and ``reduce``, timed in-process.

Usage (from the checkout whose code is measured; run one process per measurement)::

    PYTHONPATH=. python benchmarks/large_d_setup.py 1e5

Prints the wall time of each step and the peak resident memory. It leaves out what the
``lpft-theory simulate`` command adds (imports, jit compilation, the solve, metrics, the write),
which is d-independent; see ``benchmarks/results/large_d/README.md``.
"""

import os
import resource
import sys
import time

sys.path.insert(0, os.getcwd())  # measure the checkout in the working directory

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import lpft_theory  # noqa: E402
from lpft_theory import Problem  # noqa: E402
from lpft_theory.reduced import reduce  # noqa: E402


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    d = int(float(argv[0])) if argv else 100_000
    t = time.perf_counter()
    p = Problem.random(seed=0, d=d, k=8, m=32, n=64, eps=0.1)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    reduce(p)
    t2 = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    where = os.path.dirname(os.path.dirname(lpft_theory.__file__))
    print(f"{where} d={d}: random {t1:.2f} s, reduce {t2:.2f} s, set-up {t1 + t2:.2f} s, peak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

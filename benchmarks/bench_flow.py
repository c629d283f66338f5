"""Run the benchmark of :mod:`lpft_theory.scale.bench` (same as ``lpft-theory bench``); see BENCHMARKS.md."""

import sys

from lpft_theory.scale.bench import main

if __name__ == "__main__":
    sys.exit(main())

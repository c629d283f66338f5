"""Many problems at once: batched simulation (:mod:`.batch`), parameter sweeps (:mod:`.sweeps`), sharding over
devices (:mod:`.sharding`) and the benchmark (:mod:`.bench`)."""

from .batch import simulate_batch
from .sweeps import run_sweep

__all__ = ["simulate_batch", "run_sweep"]

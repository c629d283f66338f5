"""Figures: the registry and compute functions of the paper's figures (:mod:`.paper`) and of the beyond-the-paper
ones (:mod:`.beyond`), the plot builders (:mod:`.plots`: arrays in, Figure out) and the one writer
(:mod:`.writer`: PNG, PDF and JSON, atomically)."""

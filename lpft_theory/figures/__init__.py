"""Figures and reports: the explicit list of figures and the function that makes them
(:mod:`.registry`), the compute functions of the paper's figures (:mod:`.paper`) and of the
beyond-the-paper ones (:mod:`.beyond`), the plot builders (:mod:`.plots`: arrays in, Figure out;
the campaign histogram included), the one writer (:mod:`.writer`: PNG, PDF and JSON, atomically)
and the report writers of ``check-bound --report`` (:mod:`.reports`).

Nothing here uses pyplot or switches the matplotlib backend."""

from .registry import FIGURES, FigureSpec, generate, index_markdown, select

__all__ = ["FIGURES", "FigureSpec", "generate", "index_markdown", "select"]

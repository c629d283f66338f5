"""Argument parsing helpers shared by the subcommands."""

from __future__ import annotations

import math

from ..problem import Problem

class UsageError(Exception):
    """A bad command line that argparse itself cannot detect."""


#: Keys accepted by ``--random`` and their types (passed to :meth:`Problem.random`).
RANDOM_KEYS = dict(d=int, k=int, m=int, n=int, eps=float, seed=int, head=str, head_scale=float,
                   w_star_norm=float, input_cond=float, id_overlap=float, sigma_ood=str, sigma_cond=float)


def parse_times(text: str) -> list:
    """``"0,0.1,1,inf"`` -> floats (validated later by ``solve.check_times``)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        try:
            out.append(math.inf if item.lower() in ("inf", "infinity") else float(item))
        except ValueError:
            raise ValueError(f"--times: {item!r} is not a number (expected a comma list like 0,0.1,1,inf)") from None
    return out


def parse_random_spec(text: str) -> dict:
    """``"d=50,k=2,m=10,eps=0.1,seed=0"`` -> keyword arguments for :meth:`Problem.random`."""
    kwargs = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValueError(f"--random: expected key=value, got {item!r}")
        key, value = (s.strip() for s in item.split("=", 1))
        if key not in RANDOM_KEYS:
            raise ValueError(f"--random: unknown key {key!r}; allowed: {', '.join(RANDOM_KEYS)}")
        try:
            kwargs[key] = RANDOM_KEYS[key](value)
        except ValueError:
            raise ValueError(f"--random: {key}={value!r} is not a valid {RANDOM_KEYS[key].__name__}") from None
    missing = [k for k in ("d", "k", "m") if k not in kwargs]
    if missing:
        raise ValueError(f"--random: missing required key(s) {missing} (e.g. d=50,k=2,m=10,eps=0.1,seed=0)")
    kwargs.setdefault("seed", 0)
    return kwargs


def load_problem(args) -> Problem:
    """The problem named by ``--problem FILE`` or ``--random SPEC`` (exactly one)."""
    if (args.problem is None) == (args.random is None):
        raise ValueError("give exactly one of --problem P.npz or --random d=..,k=..,m=..,eps=..,seed=..")
    if args.problem is not None:
        return Problem.load(args.problem)
    return Problem.random(**parse_random_spec(args.random))

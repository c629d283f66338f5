"""Argument checks shared by the public functions: each names the argument and what was received."""

from __future__ import annotations

import math

import numpy as np


def number_vector(values, name: str) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array; strings, nested lists and arrays of two or more
    dimensions are refused (they would be silently flattened or parsed otherwise)."""
    try:
        raw = np.asarray(values)
        if isinstance(values, (str, bytes)) or raw.dtype.kind in "USO":
            raise TypeError
        a = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if a.ndim > 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {a.shape}")
    a = a.reshape(-1)
    if a.size == 0:
        raise ValueError(f"{name} must contain at least one value")
    if np.any(np.isnan(a)):
        raise ValueError(f"{name} contains NaN")
    return a


def nonnegative_number(value, name: str) -> float:
    """``value`` as a finite float >= 0."""
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value

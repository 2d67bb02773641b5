"""Input checks shared by the core modules: one message for each kind of bad input."""

from __future__ import annotations

import math

import numpy as np


def as_points(points, name: str = "points", dtype=None) -> np.ndarray:
    """Return ``points`` as a finite (N, 3) floating array, else raise ValueError.

    ``dtype`` None keeps a floating input's dtype (integers become float64).
    """
    p = np.asarray(points, dtype=dtype)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {p.shape}")
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(p)))} non-finite values")
    return p


def positive(x, name: str) -> float:
    """Return ``x`` as a finite positive float, else raise ValueError."""
    x = float(x)
    if not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {x}")
    return x


def nonnegative_fields(config, names, label: str) -> None:
    """Raise ValueError unless every field ``names`` of ``config`` is a finite number >= 0.

    The message names the field as ``label.name`` (a config class's fields, checked in
    its ``__post_init__``).
    """
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{label}.{name} must be a finite number >= 0")

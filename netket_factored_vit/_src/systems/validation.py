"""Argument checks shared by the system constructors."""

from __future__ import annotations

import math
import numbers


def check_side(name: str, value, *, even: bool = False, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise a ValueError saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    if even and value % 2:
        raise ValueError(f"{name} must be even (every site belongs to one dimer), got {value}.")
    return value


def check_coupling(name: str, value) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}.")
    return float(value)

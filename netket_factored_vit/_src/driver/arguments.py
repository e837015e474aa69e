"""Checks of the driver's arguments: each names the offending value and what is allowed.

Every check runs before any sampling or compilation, so a bad argument fails
in milliseconds. Schedules (callables of the step) are checked at step 0 here
and again at every step by the driver.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from netket.utils.deprecation import DeprecatedArg


def value_at(value, step: int):
    """A number, or a schedule evaluated at ``step``."""
    return value(step) if callable(value) else value


def _where(value, step: int) -> str:
    return f" (at step {step})" if callable(value) else ""


def _number_at(name: str, value, step: int, *, allowed: str, ok) -> float:
    """``value`` (a number or a schedule) at ``step`` as a float; raises a ``ValueError``
    naming ``name``, the value and ``allowed`` unless it is a number for which ``ok``."""
    where = _where(value, step)
    try:
        v = float(value_at(value, step))
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}{where} must be {allowed} (a number or an optax schedule), got {value!r}."
        ) from None
    if not ok(v):
        raise ValueError(f"{name}{where} must be {allowed}, got {v!r}.")
    return v


def check_diag_shift(value, step: int = 0) -> float:
    """The diag shift at ``step`` as a float; raises unless non-negative and finite.

    NetKet accepts 0 (no regularisation) and so do we; a negative or non-finite shift
    is refused here, where NetKet would only produce a wrong or non-finite update."""
    return _number_at(
        "diag_shift", value, step, allowed="non-negative and finite", ok=_non_negative
    )


def check_momentum(value, step: int = 0) -> float | None:
    """The SPRING momentum at ``step`` (None when off); raises unless in [0, 1], NetKet's
    range."""
    if value is None:
        return None
    return _number_at("momentum", value, step, allowed="in [0, 1]", ok=lambda v: 0 <= v <= 1)


def check_proj_reg(value, step: int = 0) -> float | None:
    """The minSR projection regularisation at ``step`` (None when off); raises unless
    non-negative and finite."""
    if value is None:
        return None
    return _number_at("proj_reg", value, step, allowed="non-negative and finite", ok=_non_negative)


def _non_negative(v: float) -> bool:
    return math.isfinite(v) and v >= 0


def check_chunk_size_bwd(value) -> int | None:
    """As NetKet's setter: ``TypeError`` unless an integer or None, ``ValueError`` unless
    positive."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"chunk_size_bwd must be an integer or None, got {value!r}.")
    if value is not None and value <= 0:
        raise ValueError(f"chunk_size_bwd must be a positive integer or None, got {value!r}.")
    return value


def check_mode(value) -> str | None:
    """``"real"``, ``"complex"`` or None (automatic); NetKet does not support
    ``"holomorphic"`` here either."""
    if value is not None and value not in ("real", "complex"):
        raise ValueError(
            f"mode must be 'real', 'complex' or None (automatic), got {value!r}; "
            "'holomorphic' is not supported."
        )
    return None if value is None else str(value)


def check_positive_int(name: str, value, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        allowed = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"{name} must be {allowed}, got {value!r}.")
    return value


def check_retries(max_retries, retry_factor) -> tuple[int, float]:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}.")
    try:
        factor = float(retry_factor)
    except (TypeError, ValueError):
        factor = math.nan
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(
            f"retry_factor must be a finite number larger than 1, got {retry_factor!r}."
        )
    return max_retries, factor


def check_checkpoint_settings(path, every, resume) -> Path | None:
    """The checkpoint path as a :class:`~pathlib.Path`, after checking that ``every``
    and ``resume`` have a file to use."""
    check_positive_int("checkpoint_every", every)
    if every is not None and path is None:
        raise ValueError("checkpoint_every needs a checkpoint_path to write to.")
    if resume and path is None:
        raise ValueError("resume=True needs a checkpoint_path to read from.")
    return None if path is None else Path(path)


def resolve_linear_solver(linear_solver, linear_solver_fn):
    """NetKet's deprecated ``linear_solver_fn`` keyword: a ``FutureWarning``, then it wins."""
    if isinstance(linear_solver_fn, DeprecatedArg):
        return linear_solver
    warnings.warn(
        "The keyword argument `linear_solver_fn` is deprecated in favour of `linear_solver`.",
        category=FutureWarning,
        stacklevel=3,
    )
    return linear_solver_fn


def resolve_on_the_fly(on_the_fly, use_ntk: bool) -> bool:
    """NetKet's rule: None follows ``use_ntk``; True needs minSR."""
    if on_the_fly is None:
        return bool(use_ntk)
    if on_the_fly and not use_ntk:
        raise ValueError(
            "on_the_fly=True is only supported with use_ntk=True (minSR), as in "
            "netket.driver.VMC_SR; pass on_the_fly=False or None for SR."
        )
    return bool(on_the_fly)


def check_system(system, hamiltonian, variational_state) -> None:
    """``system`` must live in the state's Hilbert space and hold ``hamiltonian``."""
    from netket_factored_vit._src.driver.checkpoint import operator_fingerprint

    if system.hilbert != variational_state.hilbert:
        raise ValueError(
            f"system {system.name} lives in {system.hilbert}, but the variational "
            f"state lives in {variational_state.hilbert}."
        )
    if system.hamiltonian is not hamiltonian and operator_fingerprint(
        system.hamiltonian
    ) != operator_fingerprint(hamiltonian):
        raise ValueError(
            f"hamiltonian is not the Hamiltonian of system {system.name} (their matrix "
            f"elements differ); pass system.hamiltonian, which is in S.S units."
        )

r"""The memory one SR / minSR step needs, estimated before anything is built.

With :math:`M` samples over :math:`R` ranks, :math:`P` real parameters and a complex
:math:`\log\psi` (:math:`2M` real rows of the Jacobian :math:`X`), in float64, one rank holds

.. math::

    \text{minSR:}\quad 8\left[\frac{2M}{R}P + \frac{2M}{R}P\,[R > 1]
        + 2\,(2M)^2\right]\ \text{bytes}, \qquad
    \text{SR:}\quad 8\left[\frac{2M}{R}P + 2P^2\right]\ \text{bytes}:

its rows of :math:`X` (and, with several ranks, the columns it receives in the
all-to-all), and the matrix solved with its factor. Activations and the sampler are
not counted: the estimate is a lower bound.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from netket_factored_vit._src.cli.errors import UsageError

MEMORY_ENV = "NFV_AVAILABLE_MEMORY"
"""Environment variable overriding the available memory, e.g. ``2G`` or ``500000000``."""

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """``"2G"`` -> 2147483648; plain numbers are bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", text.lower())
    if match is None:
        raise UsageError(
            f"{MEMORY_ENV}={text!r} is not a size; use bytes or a number with K, M, G or T"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(n_bytes: float) -> str:
    """``2147483648`` -> ``"2.0 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n_bytes) < 1024:
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"


def step_memory(
    n_parameters: int, n_samples: int, *, ranks: int = 1, use_ntk: bool | None = None
) -> tuple[int, bool]:
    """Bytes one rank needs for a step, and whether that step is minSR.

    ``use_ntk=None`` picks minSR when :math:`P > 2M`, as the driver does.
    """
    rows = 2 * n_samples
    if use_ntk is None:
        use_ntk = n_parameters > rows
    local_jacobian = rows * n_parameters / ranks
    if use_ntk:
        resplit = local_jacobian if ranks > 1 else 0
        total = local_jacobian + resplit + 2 * rows**2
    else:
        total = local_jacobian + 2 * n_parameters**2
    return int(8 * total), bool(use_ntk)


def available_memory() -> tuple[int | None, str]:
    """Memory available to this process in bytes, and where the number comes from.

    :data:`MEMORY_ENV` if set; else the accelerator's free memory when JAX runs on one;
    else ``MemAvailable`` of ``/proc/meminfo``; ``(None, ...)`` when none can be read.
    """
    override = os.environ.get(MEMORY_ENV)
    if override:
        return parse_size(override), MEMORY_ENV
    try:
        import jax

        device = jax.local_devices()[0]
        if device.platform != "cpu":
            stats = device.memory_stats() or {}
            if "bytes_limit" in stats:
                free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
                return int(free), f"{device.platform} memory"
    except Exception:  # a backend without memory statistics: fall back to the host
        pass
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None, "unknown"
    match = re.search(r"^MemAvailable:\s+(\d+)\s*kB", text, flags=re.MULTILINE)
    if match is None:
        return None, "unknown"
    return int(match.group(1)) * 1024, "MemAvailable of /proc/meminfo"


def check_step_memory(
    n_parameters: int, n_samples: int, *, ranks: int = 1, use_ntk: bool | None = None
) -> int:
    """Refuse a step that cannot fit in the available memory; return its estimate."""
    need, minsr = step_memory(n_parameters, n_samples, ranks=ranks, use_ntk=use_ntk)
    have, source = available_memory()
    if have is not None and need > have:
        kind = "minSR" if minsr else "SR"
        raise UsageError(
            f"--n-samples {n_samples}: one {kind} step with {n_parameters:,} parameters needs "
            f"at least {format_size(need)} per rank, but {format_size(have)} is available "
            f"({source}); use fewer samples, more ranks or a smaller model"
        )
    return need

"""Reading the JSON logs that NetKet's ``JsonLog`` writes during a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

_SUFFIX = ".log"


def load_log(path: str | Path) -> dict[str, Any]:
    """Load a log written by :class:`netket.logging.JsonLog` (``<out>/log.log``).

    Accepts the file itself, its prefix without the ``.log`` suffix (what was passed to
    ``JsonLog`` or to ``driver.run(out=...)``), or a run directory holding ``log.log``.

    Raises:
        FileNotFoundError: naming the paths tried.
        ValueError: if the file is not a JSON object (e.g. cut short by a crash).
    """
    path = Path(path)
    candidates = [path, path.with_name(path.name + _SUFFIX), path / f"log{_SUFFIX}"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        tried = ", ".join(str(p) for p in candidates)
        raise FileNotFoundError(f"No NetKet JSON log at {path}; tried {tried}.")
    try:
        data = json.loads(found.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{found} is not a readable JSON log: {err}.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{found} holds a JSON {type(data).__name__}, not a JsonLog object.")
    return data


def _real(values: Any) -> np.ndarray:
    """Real part of a logged series; complex series are stored as ``{"real", "imag"}``."""
    if isinstance(values, dict):
        values = values["real"]
    return np.asarray(values, dtype=float)


def history(log: dict[str, Any], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(iters, values)`` of a scalar series ``key`` of a JsonLog dict.

    Scalars are stored as ``{"iters": [...], "value": [...]}``, statistics such as the
    energy as ``{"iters": [...], "Mean": ..., ...}`` (the mean is returned, real part).
    """
    if key not in log:
        raise KeyError(f"The log has no entry {key!r}; it has {sorted(log)}.")
    entry = log[key]
    values = entry["value"] if "value" in entry else entry["Mean"]
    return np.asarray(entry["iters"], dtype=int), _real(values)


def energy_per_site(log: dict[str, Any], n_sites: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(iters, E/N, error of E/N or None)`` from a JsonLog dict.

    Reads ``"energy_per_site"`` (written by :class:`~netket_factored_vit.driver.VMC_SR`
    when it knows the system) when present, else NetKet's ``"Energy"`` statistics
    (real part of ``Mean`` divided by ``n_sites``). The error is the energy's ``Sigma``
    divided by ``n_sites`` where the log has it.
    """
    sigma = None
    energy = log.get("Energy")
    if isinstance(energy, dict) and "Sigma" in energy:
        sigma = _real(energy["Sigma"]) / n_sites
    if "energy_per_site" in log:
        iters, values = history(log, "energy_per_site")
        if sigma is not None and len(sigma) != len(values):
            sigma = None
        return iters, values, sigma
    if energy is None:
        raise KeyError(f"The log has neither 'energy_per_site' nor 'Energy'; it has {sorted(log)}.")
    iters, values = history(log, "Energy")
    return iters, values / n_sites, sigma

"""The ``summary.json`` of a run: its final energy, errors, timing and signals."""

from __future__ import annotations

import json
from pathlib import Path

from netket_factored_vit._src.cli.output import LOG_PREFIX, SUMMARY_FILE
from netket_factored_vit._src.systems.references import hilbert_dimension

EXACT_SUMMARY_STATES = 2**17
"""Up to this many basis states the summary adds the exact energy of the trained state (a
sum over the Hilbert space: 12,870 states on 4x4 with Sz = 0)."""


def _read_log(out: Path) -> dict | None:
    """The run's JsonLog as a dict, or None when it is missing or unreadable."""
    import netket_factored_vit as nfv

    try:
        return nfv.analysis.load_log(out / LOG_PREFIX)
    except (FileNotFoundError, ValueError):
        return None


def _seconds_per_step(log: dict | None) -> float | None:
    """The median time of the logged steps (sampling to update, without compilation
    outliers, checkpoints or logging), or None without a log."""
    import numpy as np

    try:
        times = log["timing"]["total"]["value"]
    except (KeyError, TypeError):
        return None
    return float(np.median(np.asarray(times, dtype=float))) if len(times) else None


NON_MARSHALL_SUMMARY_STEPS = 10
"""The summary's ``non_marshall_fraction`` is the mean over this many last logged steps."""


def _mean_non_marshall_fraction(log: dict | None) -> float | None:
    """The mean logged ``non_marshall_fraction`` of the last
    :data:`NON_MARSHALL_SUMMARY_STEPS` steps (near zero: the state has locked onto
    Marshall's sign), or None when the log has none."""
    import numpy as np

    from netket_factored_vit._src.analysis.logs import history

    try:
        _, values = history(log, "non_marshall_fraction")
    except (KeyError, TypeError):  # no log, or none recorded (a lattice with an odd side)
        return None
    return float(np.mean(values[-NON_MARSHALL_SUMMARY_STEPS:])) if len(values) else None


def _device_name() -> str:
    """What ran the steps, e.g. ``cpu`` or ``NVIDIA H200`` (JAX's first device)."""
    import jax

    device = jax.devices()[0]
    return device.platform if device.platform == "cpu" else str(device.device_kind)


def run_summary(config, system, vit, driver, out: Path, *, seconds: float) -> dict:
    """What ``summary.json`` holds after a run of ``config`` in ``out``: the energy of the
    final samples over every rank, the relative errors, the V-score, the mean
    ``non_marshall_fraction`` of the last logged steps, the timing, and on small lattices
    the exact energy of the trained state. An exact run (``--exact``) records its number
    of orbits in place of ``n_samples``, and its energy is exact."""
    import netket_factored_vit as nfv

    energy = driver.estimate(system.hamiltonian)  # over the samples of all ranks
    mean = float(energy.mean.real)
    n = system.n_sites
    previous = 0.0
    if (out / SUMMARY_FILE).exists():
        try:
            previous = float(json.loads((out / SUMMARY_FILE).read_text()).get("seconds_total", 0))
        except (ValueError, TypeError):
            previous = 0.0
    log = _read_log(out)
    summary = {
        "system": system.name,
        "attention": config.attention,
        "symmetrize": config.symmetrize,
        "spin_flip": config.spin_flip,
        "parameters": vit.num_parameters,
        "steps": driver.step_count,
        **(
            {"exact": True, "n_orbits": driver.state.n_orbits}
            if config.exact
            else {"n_samples": config.n_samples}
        ),
        "energy_per_site": mean / n,
        "energy_per_site_error": float(energy.error_of_mean) / n,
        "energy_variance": float(energy.variance),
        "v_score": n * float(energy.variance) / mean**2,
        "n_iter": config.n_iter,
        "finished": driver.step_count >= config.n_iter,
        "seconds": seconds,
        "seconds_per_step": _seconds_per_step(log),
        "seconds_total": previous + seconds,
        "device": _device_name(),
    }
    reference = nfv.systems.best_known_energy(system)
    if reference is not None:
        summary["reference_energy_per_site"] = reference
        summary["relative_error"] = abs(mean / n - reference) / abs(reference)
    fraction = _mean_non_marshall_fraction(log)
    if fraction is not None:
        summary["non_marshall_fraction"] = fraction
    if hilbert_dimension(system) <= EXACT_SUMMARY_STATES or config.exact:
        # the energy of the trained state without Monte Carlo noise: on small lattices a
        # sum over the whole basis (for --exact, a check independent of the orbits)
        if hilbert_dimension(system) <= EXACT_SUMMARY_STATES:
            exact = nfv.analysis.variational_energy(
                system, driver.state.model, driver.state.variables
            )
        else:
            exact = {"energy_per_site": mean / n}
        summary["exact_energy_per_site"] = exact["energy_per_site"]
        if reference is not None:
            summary["exact_relative_error"] = abs(exact["energy_per_site"] - reference) / abs(
                reference
            )
    return summary

"""Callbacks the driver installs in its ``run`` loop, and one users may install.

- :class:`SystemEnergyCallback`: logs the energy per site and the relative
  error to the best known energy of a :mod:`netket_factored_vit.systems` system
  (what the driver's ``system=`` keyword installs);
- :class:`EnergyProgressBarCallback`: NetKet's progress bar, showing :math:`E/N` with
  its error and the relative error when they are logged;
- :class:`CheckpointCallback` and :class:`ConsistencyCallback`: the driver's
  periodic checkpoints and cross-rank checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# NetKet exports no public progress-bar class; subclassing it keeps its behaviour
# (tqdm set-up, resumed step counts) and changes only the text.
from netket._src.callbacks.progressbar import ProgressBarCallback
from netket.callbacks import AbstractCallback
from netket.utils import struct

from netket_factored_vit._src.systems.references import best_known_energy


class SystemEnergyCallback(AbstractCallback, mutable=True):
    r"""Logs the energy per site of a lattice system and its relative error.

    Every step it adds to the logged data

    - ``energy_per_site``: :math:`\mathrm{Re}\langle E\rangle / N`;
    - ``energy_per_site_error``: the error of the mean divided by :math:`N`;
    - ``relative_error``: :math:`|E/N - E_\mathrm{ref}| / |E_\mathrm{ref}|`, when
      ``relative_error=True`` and a reference exists
      (:func:`~netket_factored_vit.systems.best_known_energy`: exact on small
      lattices, which may run a Lanczos diagonalisation once, at the start of the
      first run, else a published value).

    The energy is the driver's loss, so this fits any driver that minimises the
    energy of ``system.hamiltonian``.
    """

    system: Any = struct.field(pytree_node=False, serialize=False)
    """The :mod:`netket_factored_vit.systems` system whose energy is minimised."""
    relative_error: bool = struct.field(pytree_node=False, serialize=False, default=True)
    """Whether to look up the reference energy and log the relative error."""
    _reference: float | None = struct.field(pytree_node=False, serialize=False, default=None)
    _looked_up: bool = struct.field(pytree_node=False, serialize=False, default=False)

    def __init__(self, system, *, relative_error: bool = True):
        self.system = system
        self.relative_error = bool(relative_error)
        self._reference = None
        self._looked_up = False

    @property
    def callback_order(self) -> int:
        """Order among the callbacks: -5, before the progress bar (0) and the loggers (10)."""
        # Before the progress bar (0) and the loggers (10) read the logged data.
        return -5

    @property
    def reference_energy(self) -> float | None:
        """The reference energy per site; looked up on first use."""
        if self.relative_error and not self._looked_up:
            self._reference = best_known_energy(self.system)
            self._looked_up = True
        return self._reference

    def on_run_start(self, step, driver):
        """Looks up the reference energy (possibly a Lanczos run) before the first step."""
        self.reference_energy  # noqa: B018 (look-up before the first step, not during it)

    def before_parameter_update(self, step, log_data, driver):
        """Adds ``energy_per_site``, ``energy_per_site_error`` and, when a reference
        exists, ``relative_error`` to the step's ``log_data``."""
        stats = driver._loss_stats
        if stats is None:
            return
        n_sites = self.system.n_sites
        e_site = float(np.real(complex(stats.mean))) / n_sites
        log_data["energy_per_site"] = e_site
        log_data["energy_per_site_error"] = float(np.real(stats.error_of_mean)) / n_sites
        ref = self.reference_energy
        if ref is not None:
            log_data["relative_error"] = abs((e_site - ref) / ref)


def progress_text(log_data: dict) -> str | None:
    """``E/N=-0.52312±0.00041 rel.err=1.0e-02`` from logged data, or None without
    ``energy_per_site``."""
    if "energy_per_site" not in log_data:
        return None
    text = f"E/N={log_data['energy_per_site']:.6f}"
    error = log_data.get("energy_per_site_error")
    if error is not None:
        text += f"±{error:.6f}"
    if "relative_error" in log_data:
        text += f" rel.err={log_data['relative_error']:.2e}"
    return text


class EnergyProgressBarCallback(ProgressBarCallback, mutable=True):
    """NetKet's progress bar; shows :func:`progress_text` when the energy per site is
    logged, otherwise NetKet's text (the loss statistics)."""

    def before_parameter_update(self, step, log_data, driver):
        """Shows ``E/N±error rel.err=...`` after the bar when ``log_data`` has the energy
        per site, NetKet's loss statistics otherwise."""
        text = progress_text(log_data)
        if text is None:
            super().before_parameter_update(step, log_data, driver)
        else:
            self._pbar.set_postfix_str(text)


class CheckpointCallback(AbstractCallback, mutable=True):
    """Saves the driver every ``every`` steps and when a run ends without error."""

    every: int | None = struct.field(pytree_node=False, serialize=False, default=None)
    """Steps between checkpoints, or None for the end of runs only."""

    def __init__(self, every: int | None):
        self.every = every

    @property
    def callback_order(self) -> int:
        # After the loggers (10) have recorded the step, so the checkpoint never
        # holds a step the log on disk lacks.
        return 20

    def on_step_end(self, step, log_data, driver):
        # `step` is the step that just ran; the driver will continue from step + 1.
        if self.every is not None and (step + 1) % self.every == 0:
            driver.save_checkpoint(step=step + 1)

    def on_run_end(self, step, driver):
        if driver._last_checkpoint_step != driver.step_count:
            driver.save_checkpoint()


class ConsistencyCallback(AbstractCallback, mutable=True):
    """Checks that every rank holds the same parameters at the start of a run and
    every ``every`` steps."""

    every: int | None = struct.field(pytree_node=False, serialize=False, default=50)
    """Steps between checks, or None for the start of runs only."""

    def __init__(self, every: int | None):
        self.every = every

    def on_run_start(self, step, driver):
        driver.check_ranks_agree()

    def on_step_end(self, step, log_data, driver):
        # Called after the update of step `step`: the parameters are those of step + 1.
        if self.every is not None and (step + 1) % self.every == 0:
            driver.check_ranks_agree(step=step + 1)

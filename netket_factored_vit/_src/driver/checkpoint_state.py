"""What a checkpoint of the driver holds, and how it goes in and out of a driver.

The file format (atomic writes, checksum, ``.prev`` fallback, header checks)
is in :mod:`.checkpoint`; here: which fields make the header, the state
pytree (parameters, optimizer state, SPRING buffer, step count, every rank's
sampler chains), and the collective save and load of a driver.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from jax.flatten_util import ravel_pytree

from netket_factored_vit._src.driver import checkpoint as ckpt
from netket_factored_vit._src.driver.log_files import (
    flush_loggers,
    json_log_files,
    prepare_log_files,
)
from netket_factored_vit._src.driver.ranks import all_ranks, check_ranks_agree


def make_header(driver) -> dict:
    """What a checkpoint of ``driver`` records about the model and the system; the
    fields of :data:`.checkpoint.VALIDATED_FIELDS` must match on loading."""
    state = driver.state
    model_name, model_fields = ckpt.model_description(getattr(state, "model", None))
    sampler = getattr(state, "sampler", None)
    system = driver.system
    return {
        "model": model_name,
        "model_fields": model_fields,
        "n_parameters": int(state.n_parameters),
        "hilbert": repr(state.hilbert),
        "hamiltonian": type(driver._ham).__name__,
        "hamiltonian_fingerprint": ckpt.operator_fingerprint(driver._ham),
        "system": None if system is None else system.name,
        "sampler": None if sampler is None else ckpt.strip_addresses(repr(sampler)),
        "n_samples": int(getattr(state, "n_samples", 0) or 0),
        "n_ranks": int(driver.collectives.size),
        "mode": driver.mode,
        "momentum": driver.momentum is not None,
    }


def state_dict(driver) -> dict:
    """The driver's state as a pytree of arrays (collective: gathers the chains)."""
    vstate = serialization.to_state_dict(driver.state)
    state = {
        "step": np.asarray(driver.step_count),
        "variables": vstate["variables"],
        "optimizer_state": serialization.to_state_dict(driver._optimizer_state),
    }
    if driver._old_updates is not None:
        state["momentum_buffer"] = driver._old_updates
    if "sampler_state" in vstate:
        # Each rank owns its chains: keep all of them, indexed by rank.
        state["sampler_state"] = driver.collectives.all_gather(
            jax.tree.map(jnp.asarray, vstate["sampler_state"])
        )
    return state


def _all_finite(tree) -> bool:
    flat = ravel_pytree(tree)[0]
    return bool(jnp.all(jnp.isfinite(flat)))


def save(driver, path: Path, step: int) -> Path:
    """Write ``driver`` to ``path`` as the state after ``step`` steps (collective;
    rank 0 writes, after writing its loggers, so that no log lags behind)."""
    if not _all_finite(driver.state.parameters):
        raise FloatingPointError(
            f"The parameters at step {step} are not finite; refusing to write them to {path}, "
            "which keeps its last finite state."
        )
    state = state_dict(driver)
    state["step"] = np.asarray(step)
    loggers = driver._run_loggers
    error = None
    if driver.is_root:
        try:
            flush_loggers(loggers)
            logs = [
                os.path.abspath(f)
                for logger in loggers
                for f in json_log_files(logger)
                if f.suffix == ".log"
            ]
            header = {**driver.checkpoint_header, "step": step, "log_files": logs}
            ckpt.write_checkpoint(path, header, state)
        except Exception as err:
            error = err
    # Also a barrier: no rank goes on (and possibly reads the file) before it exists.
    if not all_ranks(driver.collectives, error is None)[0]:
        if error is not None:
            raise error
        raise OSError(f"Rank 0 could not write the checkpoint {path}; see rank 0's error.")
    return path


def load(driver, path: Path) -> int:
    """Restore the checkpoint at ``path`` into ``driver`` (collective); returns its step."""
    error = None
    try:
        header, state, used = ckpt.read_checkpoint(path)
        ckpt.validate_header(header, driver.checkpoint_header, path=used)
    except (OSError, ValueError) as err:
        error = err
    ok = all_ranks(driver.collectives, error is None)
    if error is not None:
        raise error
    if not ok.all():
        raise OSError(
            f"Rank(s) {np.flatnonzero(~ok).tolist()} could not read the checkpoint {path} "
            "(see their errors); every rank must see the file rank 0 wrote."
        )

    target = serialization.to_state_dict(driver.state)
    restored = {"variables": state["variables"]}
    if "sampler_state" in target:
        restored["sampler_state"] = jax.tree.map(
            lambda x: np.asarray(x)[driver.collectives.rank], state["sampler_state"]
        )
    new_vstate = serialization.from_state_dict(driver.state, {**target, **restored})
    driver.state.variables = new_vstate.variables
    if "sampler_state" in target:
        driver.state.sampler_state = new_vstate.sampler_state
    driver.state.reset()
    try:
        driver._optimizer_state = serialization.from_state_dict(
            driver._optimizer_state, state["optimizer_state"]
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"The optimizer state in {used} does not fit this driver's optimizer: {err}"
        ) from err
    if driver._old_updates is not None:
        driver._old_updates = jnp.asarray(state["momentum_buffer"])
    step = int(state["step"])
    if driver.is_root:
        ckpt.remove_stale_temporaries(path)
        prepare_log_files(header.get("log_files", ()), step)
    check_ranks_agree(driver)
    return step


class CheckpointingMixin:
    """The driver's public checkpoint methods; the driver provides the state, the
    optimizer, ``_checkpoint_path`` and the collectives."""

    @property
    def checkpoint_header(self) -> dict:
        """What a checkpoint of this driver records about the model and the system."""
        if self._header is None:
            self._header = make_header(self)
        return self._header

    def _checkpoint_exists(self) -> bool:
        path = self._checkpoint_path
        seen = all_ranks(self._collectives, path.exists() or ckpt.previous_path(path).exists())
        if seen.all() or not seen.any():
            return bool(seen.all())
        raise FileNotFoundError(
            f"The checkpoint {path} exists on rank(s) {np.flatnonzero(seen).tolist()} but not "
            f"on rank(s) {np.flatnonzero(~seen).tolist()}. Every rank reads the checkpoint "
            "rank 0 wrote: put it on a file system that all nodes see."
        )

    def _path_or_default(self, path) -> Path:
        path = self._checkpoint_path if path is None else Path(path)
        if path is None:
            raise ValueError("No path given and the driver has no checkpoint_path.")
        return path

    def save_checkpoint(self, path: str | Path | None = None, *, step: int | None = None) -> Path:
        """Write the driver's state to ``path`` (default: ``checkpoint_path``).

        Collective; only rank 0 writes, after writing the loggers of the current run to
        disk. ``step`` overrides the step count that is recorded (the checkpoint
        callback saves at the end of a step, before the count advances).

        Raises:
            FloatingPointError: the parameters are not finite (nothing is written).
        """
        path = self._path_or_default(path)
        step = self.step_count if step is None else int(step)
        save(self, path, step)
        self._last_checkpoint_step = step
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> int:
        """Restore a checkpoint written by :meth:`save_checkpoint` into this driver.

        The driver must be built like the one that wrote it (same model, system,
        sampler, number of samples and ranks); otherwise a :class:`ValueError`
        names the fields that differ. A damaged file falls back to ``<path>.prev``
        with a warning. The JSON logs the checkpoint records are cut back to the
        restored step. Returns the restored step count.
        """
        step = load(self, self._path_or_default(path))
        self._step_count = step
        self._last_checkpoint_step = step
        self._resumed_at = step
        self._pending = None
        return step

    def continue_from(self, other) -> None:
        """Take over the state of ``other``, a driver of the same parameters and sampler
        (for example one that trained the model without its symmetry projection): its
        parameters, Markov chains, optimizer state and step count. The SPRING momentum
        starts again from zero, since ``other`` moved in another model's geometry.

        Raises:
            ValueError: the parameters of ``other`` have another structure.
        """
        mine = jax.tree.structure(self.state.parameters)
        theirs = jax.tree.structure(other.state.parameters)
        if mine != theirs:
            raise ValueError(
                "continue_from needs a driver whose parameters have the same structure; "
                f"got {theirs} for {mine}."
            )
        self.state.variables = other.state.variables
        if hasattr(other.state, "sampler_state"):
            self.state.sampler_state = other.state.sampler_state
        self.state.reset()
        self._optimizer_state = other._optimizer_state
        if self._old_updates is not None:
            self._old_updates = jnp.zeros_like(self._old_updates)
        self._step_count = other.step_count
        self._pending = None

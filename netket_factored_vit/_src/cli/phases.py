"""The two phases of a run with pretraining: the bare ViT first, then its projection.

A projected model (:class:`~netket_factored_vit.models.Symmetrized`) evaluates the ViT
once per image of a configuration (8 for C4v), the bare ViT once. With
``pretrain_steps = P > 0`` the steps ``0 .. P-1`` train the bare ViT, as a
``Symmetrized`` module whose group is the identity (so both phases have the same
parameters); at step ``P`` the projected model continues from them, with the chains,
the optimizer state and the step count of the pretraining and the SPRING momentum
restarted from zero (:meth:`~netket_factored_vit.driver.VMC_SR.continue_from`).

Both phases write the same log and the same checkpoint file. A checkpoint records the
model that wrote it, so a resumed run knows its phase: from a checkpoint of the
pretraining it pretrains up to step ``P`` and switches exactly as an uninterrupted run.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from netket_factored_vit._src.cli import build
from netket_factored_vit._src.cli.config import RunConfig
from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.output import CHECKPOINT_FILE, LOG_PREFIX


def checkpoint_is_pretraining(out: Path, pretraining_model) -> bool:
    """Whether the checkpoint in ``out`` (or its ``.prev``) was written during the
    pretraining, i.e. by ``pretraining_model``."""
    from netket_factored_vit._src.driver import checkpoint as ckpt

    try:
        header, _, _ = ckpt.read_checkpoint(out / CHECKPOINT_FILE)
    except (OSError, ValueError):
        return False  # no checkpoint, or a damaged one: the driver reports it
    return header.get("model_fields") == ckpt.model_description(pretraining_model)[1]


def _last_logged_step(out: Path) -> int | None:
    """The last step in the log of ``out``, or None without a readable log."""
    from netket_factored_vit._src.analysis.logs import history, load_log

    try:
        iters, _ = history(load_log(out / LOG_PREFIX), "Energy")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(iters.max()) if iters.size else None


def start_driver(
    config: RunConfig, system, model, out: Path, *, resume: bool, ranks: int, say=None
):
    """The driver of the phase the run is in: the pretraining's for a new run with
    ``pretrain_steps > 0`` or a checkpoint written during it, else the projected model's.
    When the checkpoint cannot be read and the previous one is loaded, ``say`` is told
    which steps are lost and why. Returns ``(driver, pretraining)``."""
    from netket_factored_vit._src.driver.checkpoint import CheckpointFallbackWarning

    last_logged = _last_logged_step(out) if resume else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointFallbackWarning)
        pretraining = config.pretrain_steps > 0
        if pretraining:
            bare = build.pretraining_model(model)
            if resume and (out / CHECKPOINT_FILE).exists():
                pretraining = checkpoint_is_pretraining(out, bare)
        phase_model = bare if pretraining else model
        vstate = build.build_state(config, system, phase_model, ranks=ranks)
        try:
            driver = build.build_driver(config, system, vstate, out, resume=resume)
        except (ValueError, OSError) as err:
            raise UsageError(f"cannot continue the run in {out}: {err}") from None
    fallbacks = [w.message for w in caught if issubclass(w.category, CheckpointFallbackWarning)]
    for w in caught:
        if not issubclass(w.category, CheckpointFallbackWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if fallbacks and say is not None:
        fallback, step = fallbacks[-1], driver.step_count
        lost = (
            f"; the logged steps {step} to {last_logged} are dropped and trained again"
            if last_logged is not None and last_logged >= step
            else ""
        )
        say(
            f"the checkpoint {fallback.path} {fallback.reason}: continuing from the previous "
            f"one, {fallback.previous}, at step {step}{lost}"
        )
    return driver, pretraining


def switch_to_projection(driver, config: RunConfig, system, model, out: Path, *, ranks: int):
    """The projected model's driver, continuing from the pretraining's ``driver``."""
    vstate = build.build_state(config, system, model, ranks=ranks)
    projected = build.build_driver(config, system, vstate, out, resume=False)
    projected.continue_from(driver)
    return projected


def train(driver, config, system, model, out: Path, *, pretraining: bool, ranks: int, run):
    """Run ``driver`` up to ``config.n_iter`` steps, switching to the projection at the end
    of the pretraining. ``run(driver, n_steps)`` runs one phase and returns whether it
    completed. Returns the last driver, the seconds spent running and whether no phase
    was cut short."""
    seconds = 0.0
    if pretraining:
        remaining = config.pretrain_steps - driver.step_count
        if remaining > 0:
            t0 = time.perf_counter()
            completed = run(driver, remaining)
            seconds += time.perf_counter() - t0
            if not completed:
                return driver, seconds, False
        driver = switch_to_projection(driver, config, system, model, out, ranks=ranks)
    completed = True
    remaining = config.n_iter - driver.step_count
    if remaining > 0:
        t0 = time.perf_counter()
        completed = run(driver, remaining)
        seconds += time.perf_counter() - t0
    return driver, seconds, completed

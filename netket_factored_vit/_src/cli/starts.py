"""Several starts of a run, the one with the lowest energy kept.

With ``starts = K > 1`` the first ``start_steps = S`` steps of a run are trained K times,
from the parameter seeds ``seed + 1000 k`` (``k = 0 .. K-1``; the sampler gets each seed
plus one), each start in ``<out>/starts/seed<s>`` with its own settings, log and
checkpoint. The start whose Monte Carlo energy, averaged over its last
:data:`SELECTION_STEPS` logged steps, is the lowest continues as the run: its log and
checkpoint are copied into ``<out>``, and the run resumes from them as from any
checkpoint. The other starts stay on disk.

Each start is the first S steps of the run itself (same schedules, same model, the switch
from the pretraining to the projected model included when S passes ``pretrain_steps``), so
the run that continues is exactly the one an uninterrupted run from the winning seed would
train.
A stopped run (``--time-limit``, kill) resumes the unfinished starts where they stopped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from netket_factored_vit._src.cli import phases
from netket_factored_vit._src.cli.config import RunConfig, to_toml
from netket_factored_vit._src.cli.output import CHECKPOINT_FILE, CONFIG_FILE, LOG_PREFIX, write_text
from netket_factored_vit._src.driver.temporaries import atomic_write

STARTS_FOLDER = "starts"
"""Sub-folder of a run that holds its starts."""
SEED_STRIDE = 1000
"""Start ``k`` of a run with ``--seed s`` uses the parameter seed ``s + 1000 k``."""
SELECTION_STEPS = 10
"""The starts are ranked by their mean energy over this many last logged steps."""


def start_seeds(config: RunConfig) -> list[int]:
    """The parameter seeds of the starts of ``config``."""
    return [config.seed + SEED_STRIDE * k for k in range(config.starts)]


def start_folder(out: Path, seed: int) -> Path:
    """The folder of the start with parameter seed ``seed``."""
    return out / STARTS_FOLDER / f"seed{seed}"


def mean_final_energy(folder: Path) -> float:
    """The mean logged energy of the last :data:`SELECTION_STEPS` steps in ``folder``."""
    from netket_factored_vit._src.analysis.logs import history, load_log

    _, energies = history(load_log(folder / LOG_PREFIX), "Energy")
    if len(energies) == 0:
        raise ValueError(f"the log in {folder} holds no step")
    return float(np.mean(energies[-SELECTION_STEPS:]))


def best_start(config: RunConfig, out: Path) -> tuple[int, dict[int, float]]:
    """The seed of the start with the lowest final energy, and every start's energy."""
    energies = {seed: mean_final_energy(start_folder(out, seed)) for seed in start_seeds(config)}
    return min(energies, key=energies.get), energies


def run_starts(config: RunConfig, system, model, out: Path, *, ranks, run, open_log, say):
    """Train every start of ``config`` up to ``start_steps`` and copy the best into ``out``.

    ``run(driver, n_steps, log)`` runs one driver and returns whether it completed;
    ``open_log(folder, append)`` opens the JsonLog of a folder (no log off rank 0).
    Returns the seed of the start that continues, or None if the run stopped before the
    starts were done.
    """
    for seed in start_seeds(config):
        folder = start_folder(out, seed)
        start_config = config.replace(seed=seed, starts=1)
        if ranks.is_root:
            folder.mkdir(parents=True, exist_ok=True)
            write_text(folder / CONFIG_FILE, to_toml(start_config))
        ranks.barrier()
        resume = (folder / CHECKPOINT_FILE).exists()
        driver, pretraining = phases.start_driver(
            start_config, system, model, folder, resume=resume, ranks=ranks.size, say=say
        )
        if driver.step_count < config.start_steps:
            say(f"start {seed}: steps {driver.step_count} to {config.start_steps} in {folder}")
            log = open_log(folder, append=driver.step_count > 0)
            *_, completed = phases.train(
                driver, start_config.replace(n_iter=config.start_steps), system, model, folder,
                pretraining=pretraining, ranks=ranks.size,
                run=lambda phase_driver, n_steps, log=log: run(phase_driver, n_steps, log),
            )  # fmt: skip
            if not completed:
                return None
    seed, energies = best_start(config, out)
    listed = ", ".join(f"seed {s}: {e:.6f}" for s, e in energies.items())
    say(f"starts (mean energy of the last {SELECTION_STEPS} steps): {listed}; seed {seed} goes on")
    if ranks.is_root:
        # the checkpoint last, and whole: its presence in `out` ends the starts
        for name in (LOG_PREFIX + ".log", CHECKPOINT_FILE):
            with atomic_write(out / name) as fh, open(start_folder(out, seed) / name, "rb") as src:
                shutil.copyfileobj(src, fh)
    ranks.barrier()
    return seed

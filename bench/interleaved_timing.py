"""Timing several drivers step by step in turn, shared by the step benchmarks.

Each driver is compiled first (``warmup`` steps), then the drivers run one step each in
turn, ``steps`` times, so that a change of machine load hits all of them alike.
"""

from __future__ import annotations

import time

import jax
import netket as nk
import numpy as np

PHASES = ("sampling", "local_energies", "jacobian", "solve")
"""The phases ``nfv.driver.VMC_SR`` logs under ``timing``."""


def timed_step(driver):
    """Wall time of one full step of ``run`` (sampling included) and its log."""
    log = nk.logging.RuntimeLog()
    t0 = time.perf_counter()
    driver.run(1, out=log, show_progress=False)
    jax.block_until_ready(driver.state.parameters)
    return time.perf_counter() - t0, log


def time_in_turns(drivers: dict, *, steps: int, warmup: int, phases_of: str = "ours"):
    """``(per_step, phases)``: the seconds of every timed step of each driver (name ->
    list), and the median seconds of each phase of driver ``phases_of``."""
    for driver in drivers.values():
        driver.run(warmup, show_progress=False)  # compilation
    per_step = {name: [] for name in drivers}
    logs = []
    for _ in range(steps):
        for name, driver in drivers.items():
            seconds, log = timed_step(driver)
            per_step[name].append(seconds)
            if name == phases_of:
                logs.append(log)
    phases = {
        p: float(np.median([log.data["timing"][p].value[-1] for log in logs])) for p in PHASES
    }
    return per_step, phases

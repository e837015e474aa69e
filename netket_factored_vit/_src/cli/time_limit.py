"""Stopping a run cleanly when its time is up (e.g. before a batch job's wall time)."""

from __future__ import annotations

import time

import netket as nk
import numpy as np
from netket.utils import struct


class TimeLimit(nk.callbacks.AbstractCallback, mutable=True):
    """Stops a run at the start of the first step that begins ``seconds`` or more after
    the run started; the driver's checkpoint then holds the parameters, step count and
    sampler of that step, so ``--resume`` continues exactly where the run stopped.

    Unlike :class:`netket.callbacks.Timeout`, which stops after a step's update and before
    its step count moves on, nothing of the next step has run when this one stops. Rank
    0's clock decides and the decision is broadcast, so every rank stops at the same step.
    """

    seconds: float = struct.field(pytree_node=False, serialize=False, default=0.0)
    """Seconds of training after which the run stops."""
    started: float = struct.field(pytree_node=False, serialize=False, default=0.0)
    """``time.perf_counter()`` at the start of the run's first phase."""
    stopped_at: int | None = struct.field(pytree_node=False, serialize=False, default=None)
    """The step at which the run stopped, or None."""
    first: int | None = struct.field(pytree_node=False, serialize=False, default=None)
    """The step the current phase of the run started at (never stopped at)."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.started = time.perf_counter()
        self.stopped_at = None
        self.first = None

    def on_run_start(self, step, driver):
        # the phases of one run (pretraining, then the projected model) share the clock
        if self.first is None:
            self.started = time.perf_counter()
        self.first = step

    def on_step_start(self, step, log_data, driver):
        if step == self.first:
            return
        over = np.asarray(time.perf_counter() - self.started >= self.seconds)
        collectives = getattr(driver, "_collectives", None)
        if collectives is not None and collectives.size > 1:
            over = np.asarray(collectives.bcast(over))
        if bool(over):
            self.stopped_at = step
            raise nk.callbacks.StopRun(f"time limit of {self.seconds:g} s reached")

"""Several MPI ranks driving one optimisation: set-up and cross-rank checks.

Every function here is collective (every rank must call it, in the same
order) and free with a single rank. The driver calls :func:`setup_ranks` at
construction and :func:`check_ranks_agree` at the start of every run, every
``check_every`` steps and after loading a checkpoint.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from netket.vqs import MCState

from netket_factored_vit._src.distributed.collectives import Collectives
from netket_factored_vit._src.distributed.mpi import check_consistency, rank_seed

_SCHEDULE_PROBE_STEPS = (0, 1, 10, 100, 1_000, 10_000)


def all_ranks(collectives: Collectives, flag: bool) -> np.ndarray:
    """Every rank's ``flag``, in rank order (collective)."""
    if collectives.size == 1:
        return np.asarray([bool(flag)])
    flags = collectives.all_gather(jnp.asarray(int(bool(flag)), dtype=jnp.int32))
    return np.asarray(flags).astype(bool).reshape(-1)


def run_settings(driver, *, resume: bool = False) -> dict:
    """What must agree across ranks: the checkpoint header (model, Hilbert space,
    Hamiltonian fingerprint, sampler, samples per rank, ...) and the driver's own
    settings, each as a string or a number, so that a mismatch names the field."""
    state = driver.state
    path = driver._checkpoint_path
    return {
        **driver.checkpoint_header,
        "parameter_shapes": repr(
            jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), state.parameters)
        ),
        "n_chains": getattr(getattr(state, "sampler", None), "n_chains", None),
        "n_discard_per_chain": getattr(state, "n_discard_per_chain", None),
        "chunk_size": getattr(state, "chunk_size", None),
        "chunk_size_bwd": driver.chunk_size_bwd,
        "use_ntk": driver.use_ntk,
        "diag_shift": schedule_fingerprint(driver.diag_shift),
        "momentum": schedule_fingerprint(driver.momentum),
        "proj_reg": schedule_fingerprint(driver.proj_reg),
        "optimizer": optimizer_fingerprint(driver.optimizer, state.parameters),
        "linear_solver": callable_name(driver._linear_solver),
        "checkpoint_path": None if path is None else str(path),
        "checkpoint_every": driver._checkpoint_every,
        "check_every": driver._check_every,
        "max_retries": driver._max_retries,
        "retry_factor": driver._retry_factor,
        "resume": bool(resume),
    }


def check_ranks_agree(driver, *, step: int | None = None) -> None:
    """Check that every rank holds bit-identical parameters, model state, optimizer
    state, SPRING buffer and step count.

    Raises:
        RankMismatchError: on every rank, naming the ranks and the leaves that differ
            from rank 0's.
    """
    if driver.collectives.size == 1:
        return
    tree = {
        "step": driver.step_count if step is None else int(step),
        "variables": driver.state.variables,
        "optimizer_state": driver._optimizer_state,
        "momentum_buffer": driver._old_updates,
    }
    check_consistency(tree, driver.collectives, what="parameters")


def setup_ranks(driver, *, resume: bool) -> None:
    """Check the ranks' settings, share rank 0's parameters, give each rank its chains."""
    coll = driver.collectives
    # Settings first: with different models a broadcast of the parameters would
    # mismatch in shape and hang instead of failing.
    check_consistency(run_settings(driver, resume=resume), coll, what="settings")
    state = driver.state
    state.variables = coll.bcast(jax.tree.map(jnp.asarray, state.variables))
    driver._optimizer_state = driver.optimizer.init(state.parameters)
    if isinstance(state, MCState):
        # Rank 0's sampler seed (random when the user gave none) seeds every rank's
        # own stream, so a run with a fixed seed is reproducible rank by rank.
        key = state._sampler_seed
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        key = np.asarray(coll.bcast(jnp.asarray(key, dtype=jnp.uint32))).reshape(-1)
        base = (int(key[0]) << 32) | int(key[-1])
        state.sampler_state = state.sampler.init_state(
            state._sampler_model, state._sampler_variables, seed=rank_seed(base, coll.rank)
        )
        state._sampler_state_previous = state.sampler_state
        state.reset()
    check_ranks_agree(driver)


def schedule_fingerprint(value) -> str | None:
    """A number, or a schedule by its values at a few steps, as a comparable string."""
    if value is None:
        return None
    if callable(value):
        return "schedule" + repr(tuple(float(value(s)) for s in _SCHEDULE_PROBE_STEPS))
    return repr(float(value))


def optimizer_fingerprint(optimizer, params) -> str:
    """The optimizer's first update of a fixed gradient, hashed: differs with the
    learning rate or the kind of optimizer, even when their reprs agree."""
    try:
        probe = jax.tree.map(lambda x: jnp.full_like(x, 0.5), params)
        updates, _ = optimizer.update(probe, optimizer.init(probe), probe)
        flat = np.asarray(ravel_pytree(updates)[0])
    except Exception as err:  # an optimizer that needs extra arguments
        return f"{type(optimizer).__qualname__} (not probed: {type(err).__name__})"
    digest = hashlib.blake2b(flat.tobytes(), digest_size=8).hexdigest()
    return f"first update of 0.5-gradient: {flat[:1].tolist()} ... hash {digest}"


def callable_name(fun: Any) -> str:
    fun = getattr(fun, "func", fun)  # functools.partial
    name = getattr(fun, "__qualname__", type(fun).__qualname__)
    return f"{getattr(fun, '__module__', '')}.{name}"

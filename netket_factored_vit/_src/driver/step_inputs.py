"""What a step measures on the samples: local energies and their statistics over
all ranks, and the stacked Jacobian rows.

Each rank works on its own samples; statistics gather the local values of every
rank (``M`` numbers, cheap), the Jacobian rows stay on the rank that owns them.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from netket import jax as nkjax, stats as nkstats
from netket.observable import AbstractObservable
from netket.operator import AbstractOperator, to_sparse_cached
from netket.vqs import FullSumState

from netket_factored_vit._src.distributed.collectives import Collectives
from netket_factored_vit._src.driver.sr_solves import centre_and_scale


def samples_and_weights(state):
    """This rank's samples, flat, and their weights (None for Monte Carlo samples;
    :math:`|\\psi|^2` for a :class:`~netket.vqs.FullSumState`)."""
    if isinstance(state, FullSumState):
        return state.hilbert.all_states(), state.probability_distribution()
    samples = state.samples
    return samples.reshape(-1, samples.shape[-1]), None


def local_estimators_and_stats(state, operator, collectives: Collectives):
    """Local estimators of ``operator`` on this rank's samples, and their statistics
    over every rank's chains (collective)."""
    local = state.local_estimators(operator)
    local = getattr(local, "data", local)
    gathered = collectives.all_gather(local)
    return local, nkstats.statistics(gathered.reshape(-1, gathered.shape[-1]))


def local_energies(state, hamiltonian, collectives: Collectives):
    """Local energies of this rank's samples (flat) and the energy statistics."""
    if isinstance(state, FullSumState):
        psi = state.to_array()
        h_psi = to_sparse_cached(hamiltonian) @ psi
        energy = jnp.vdot(psi, h_psi)
        variance = jnp.sum(jnp.abs(h_psi - energy * psi) ** 2)
        stats = nkstats.Stats(mean=energy, error_of_mean=0.0, variance=variance)
        return h_psi / psi, stats
    local, stats = local_estimators_and_stats(state, hamiltonian, collectives)
    return local.reshape(-1), stats


def estimate_over_ranks(state, observables, collectives: Collectives):
    """Statistics of a pytree of operators over the samples of all ranks (collective)."""

    def one(op):
        if not isinstance(op, AbstractOperator):
            return state.expect(op)
        return local_estimators_and_stats(state, op, collectives)[1]

    return jax.tree_util.tree_map(
        one, observables, is_leaf=lambda x: isinstance(x, AbstractObservable)
    )


@partial(jax.jit, static_argnames=("apply_fun", "mode", "chunk_size", "collectives"))
def jacobian_rows(
    apply_fun,
    parameters,
    model_state,
    samples,
    local_energies,
    weights,
    *,
    mode: str,
    chunk_size: int | None,
    collectives: Collectives,
):
    """Stacked, centred and scaled Jacobian rows ``X`` and right-hand side ``f``
    (see :func:`~.sr_solves.centre_and_scale`)."""
    jacobian = nkjax.jacobian(
        apply_fun,
        parameters,
        samples,
        model_state,
        mode=mode,
        dense=True,
        center=False,
        chunk_size=chunk_size,
    )
    X, f, _ = centre_and_scale(
        jacobian, local_energies, mode=mode, weights=weights, collectives=collectives
    )
    return X, f

r"""What a step measures on the samples: local energies and their statistics over
all ranks, and the stacked Jacobian rows.

Each rank works on its own samples; statistics gather the local values of every
rank (``M`` numbers, cheap), the Jacobian rows stay on the rank that owns them.

A sampler may draw from :math:`|\psi|^p` with :math:`p \ne 2` (NetKet's
``machine_pow``). Every estimate is then reweighted by
:math:`w(\sigma) \propto |\psi(\sigma)|^{2 - p}`, normalised over all ranks' samples,

.. math::

    \langle A \rangle = \frac{\sum_i w_i A_{\mathrm{loc}}(\sigma_i)}{\sum_i w_i},

so that the energy, its gradient and the SR matrix are those of :math:`|\psi|^2`. With
:math:`p < 2` the configurations of small amplitude, such as those where a frustrated
ground state departs from Marshall's sign, are drawn more often.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from netket import jax as nkjax, stats as nkstats
from netket.observable import AbstractObservable
from netket.operator import AbstractOperator, to_sparse_cached
from netket.vqs import FullSumState

from netket_factored_vit._src.distributed.collectives import LOCAL, Collectives
from netket_factored_vit._src.driver.sr_solves import centre_and_scale
from netket_factored_vit._src.vqs.orbit_sum_state import OrbitSumState


def sampling_power(state) -> float:
    """The power :math:`p` of the :math:`|\\psi|^p` that the state's sampler draws from
    (NetKet's ``machine_pow``); 2 for a state without a sampler (an exact sum)."""
    sampler = getattr(state, "sampler", None)
    return 2.0 if sampler is None else float(sampler.machine_pow)


def samples_and_weights(state, collectives: Collectives = LOCAL):
    """This rank's samples, flat, and their weights: None for Monte Carlo samples of
    :math:`|\\psi|^2`; the importance weights of :func:`importance_weights` for samples of
    another power (collective); :math:`|\\psi|^2` for a :class:`~netket.vqs.FullSumState`;
    the orbit probabilities of the representatives for an
    :class:`~netket_factored_vit.vqs.OrbitSumState`."""
    if isinstance(state, OrbitSumState):
        return state.representatives, state.orbit_probabilities()
    if isinstance(state, FullSumState):
        return state.hilbert.all_states(), state.probability_distribution()
    samples = state.samples
    samples = samples.reshape(-1, samples.shape[-1])
    power = sampling_power(state)
    if power == 2.0:
        return samples, None
    return samples, importance_weights(state, samples, power, collectives)


def importance_weights(state, samples, power: float, collectives: Collectives = LOCAL):
    """:math:`|\\psi|^{2 - p}` of this rank's samples of :math:`|\\psi|^p`, in double
    precision and scaled so that their mean over every rank's samples is 1 (collective)."""
    log_w = (2.0 - power) * jnp.real(state.log_value(samples)).astype(jnp.float64)
    shift = jnp.max(collectives.all_gather(jnp.max(log_w)))
    w = jnp.exp(log_w - shift)
    n_total = collectives.sum(jnp.asarray(w.shape[0], dtype=w.dtype))
    return w * (n_total / collectives.sum(jnp.sum(w)))


def weighted_statistics(local, weights, collectives: Collectives = LOCAL):
    """Statistics of the local values ``local`` (shape ``(chains, samples)``) under the
    weights ``weights`` (mean 1 over all ranks): the weighted mean and variance, and the
    error of the mean and autocorrelation of the weighted deviations
    :math:`w_i (A_i - \\langle A \\rangle)` (the delta method)."""
    weights = weights.reshape(local.shape)
    local_all = collectives.all_gather(local)
    weights_all = collectives.all_gather(weights).astype(local_all.real.dtype)
    local_all = local_all.reshape(-1, local.shape[-1])
    weights_all = weights_all.reshape(local_all.shape)
    mean = jnp.mean(weights_all * local_all)
    variance = jnp.mean(weights_all * jnp.abs(local_all - mean) ** 2)
    deviations = nkstats.statistics(weights_all * (local_all - mean))
    return nkstats.Stats(
        mean=mean,
        error_of_mean=deviations.error_of_mean,
        variance=variance,
        tau_corr=deviations.tau_corr,
        R_hat=deviations.R_hat,
        tau_corr_max=deviations.tau_corr_max,
    )


def local_estimators_and_stats(state, operator, collectives: Collectives, weights=None):
    """Local estimators of ``operator`` on this rank's samples, and their statistics
    over every rank's chains (collective), reweighted by ``weights`` when given (see
    :func:`samples_and_weights`)."""
    local = state.local_estimators(operator)
    local = getattr(local, "data", local)
    if weights is not None:
        return local, weighted_statistics(local, weights, collectives)
    gathered = collectives.all_gather(local)
    return local, nkstats.statistics(gathered.reshape(-1, gathered.shape[-1]))


def local_energies(state, hamiltonian, collectives: Collectives, weights=None):
    """Local energies of this rank's samples (flat) and the energy statistics; Monte
    Carlo samples are reweighted by ``weights`` when given (see
    :func:`samples_and_weights`)."""
    if isinstance(state, OrbitSumState):
        return state.local_estimators_and_stats(hamiltonian)
    if isinstance(state, FullSumState):
        psi = state.to_array()
        h_psi = to_sparse_cached(hamiltonian) @ psi
        energy = jnp.vdot(psi, h_psi)
        variance = jnp.sum(jnp.abs(h_psi - energy * psi) ** 2)
        stats = nkstats.Stats(mean=energy, error_of_mean=0.0, variance=variance)
        return h_psi / psi, stats
    local, stats = local_estimators_and_stats(state, hamiltonian, collectives, weights)
    return local.reshape(-1), stats


def estimate_over_ranks(state, observables, collectives: Collectives):
    """Statistics of a pytree of operators over the samples of all ranks (collective),
    reweighted for samples of :math:`|\\psi|^p`, :math:`p \\ne 2`."""
    weights = None
    if not isinstance(state, OrbitSumState | FullSumState) and sampling_power(state) != 2.0:
        weights = samples_and_weights(state, collectives)[1]

    def one(op):
        if not isinstance(op, AbstractOperator):
            return state.expect(op)
        return local_estimators_and_stats(state, op, collectives, weights)[1]

    return jax.tree_util.tree_map(
        one, observables, is_leaf=lambda x: isinstance(x, AbstractObservable)
    )


def default_jacobian_chunk(n_samples: int) -> int:
    """The largest chunk of samples for the Jacobian: a sixteenth of the samples,
    at least 32, so that one chunk's per-sample gradients stay a small fraction of
    the rows they are written into."""
    return min(n_samples, max(32, -(-n_samples // 16)))


def raw_jacobian(apply_fun, parameters, model_state, samples, *, mode: str, chunk_size: int):
    r"""Uncentred :math:`\partial_\theta \log\psi` of ``samples``, as
    :func:`netket.jax.jacobian` (``dense=True``), computed ``chunk_size`` samples at
    a time and written into one preallocated array.

    The loop writes each chunk in place, so the memory is the result plus one
    chunk's per-sample gradients, however many samples there are.
    """

    def chunk_jacobian(chunk):
        return nkjax.jacobian(
            apply_fun, parameters, chunk, model_state, mode=mode, dense=True, center=False
        )

    n_samples = samples.shape[0]
    chunk_size = min(chunk_size, n_samples)
    n_chunks = n_samples // chunk_size
    one = jax.eval_shape(chunk_jacobian, samples[:1])
    rows = jnp.zeros((n_samples, *one.shape[1:]), dtype=one.dtype)

    def write_chunk(k, rows):
        chunk = jax.lax.dynamic_slice_in_dim(samples, k * chunk_size, chunk_size)
        return jax.lax.dynamic_update_slice_in_dim(
            rows, chunk_jacobian(chunk), k * chunk_size, axis=0
        )

    rows = jax.lax.fori_loop(0, n_chunks, write_chunk, rows)
    done = n_chunks * chunk_size
    if done < n_samples:
        rows = rows.at[done:].set(chunk_jacobian(samples[done:]))
    return rows


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
    (see :func:`~.sr_solves.centre_and_scale`).

    The Jacobian is computed in chunks of at most ``chunk_size`` samples, and at
    most :func:`default_jacobian_chunk` (the chunk does not change the time of
    the Jacobian, measured, but bounds its per-sample gradients), into one array,
    which is then centred and scaled in place: the memory is about that of ``X``
    alone. With float32 parameters (and ``jax_enable_x64``) ``X`` and ``f`` are
    float64, so that the solve runs in double precision.
    """
    chunk_size = min(chunk_size or samples.shape[0], default_jacobian_chunk(samples.shape[0]))
    jacobian = raw_jacobian(
        apply_fun, parameters, model_state, samples, mode=mode, chunk_size=chunk_size
    )
    if jax.config.jax_enable_x64 and jacobian.dtype == jnp.float32:
        # Single-precision parameters: the rows are centred and the update solved
        # in double precision, which costs little beside the Jacobian itself.
        jacobian = jacobian.astype(jnp.float64)
        local_energies = local_energies.astype(jnp.promote_types(local_energies.dtype, "f8"))
    X, f, _ = centre_and_scale(
        jacobian,
        local_energies,
        mode=mode,
        weights=weights,
        collectives=collectives,
        chunk_size=chunk_size,
    )
    return X, f

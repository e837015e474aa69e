"""Samples of |psi|^p, p != 2 (NetKet's machine_pow), reweighted by |psi|^(2-p).

Drawn uniformly (p = 0) over every basis state once, the reweighted estimates are the
exact ones: the driver's energy, variance, SR update and ``estimate`` must equal
those of NetKet's FullSumState.
"""

import jax
import netket as nk
import numpy as np
import optax
import pytest

import netket_factored_vit as nfv
from netket_factored_vit._src.driver.step_inputs import samples_and_weights


@pytest.fixture(scope="module")
def system():
    return nfv.systems.j1j2(4, J2=0.5)


def _vit():
    return nfv.models.ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)


def _driver(system, state, use_ntk):
    return nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(0.01),
        variational_state=state,
        diag_shift=1e-3,
        momentum=0.5,
        use_ntk=use_ntk,
    )


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def _uniform_over_the_basis(system, power):
    states = system.hilbert.all_states()
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=10, machine_pow=power
    )
    state = nk.vqs.MCState(sampler, _vit(), n_samples=states.shape[0], seed=1)
    state._samples = states.reshape(10, -1, states.shape[-1])  # every state once
    return state


def test_reweighted_uniform_samples_of_the_basis_are_exact(system):
    state = _uniform_over_the_basis(system, power=0.0)
    full = nk.vqs.FullSumState(system.hilbert, _vit(), variables=state.variables)
    ours = _driver(system, state, False)
    stats, update = ours.compute_loss_and_update()
    reference, expected = _driver(system, full, False).compute_loss_and_update()
    assert abs(stats.mean - reference.mean) <= 1e-10 * abs(reference.mean)
    assert abs(stats.variance - reference.variance) <= 1e-10 * reference.variance
    scale = np.max(np.abs(_flat(expected)))
    assert np.max(np.abs(_flat(update) - _flat(expected))) <= 1e-9 * scale
    estimate = ours.estimate(system.hamiltonian)
    assert abs(estimate.mean - reference.mean) <= 1e-10 * abs(reference.mean)


def test_samples_of_psi_squared_carry_no_weights(system):
    state = _uniform_over_the_basis(system, power=2.0)
    assert samples_and_weights(state)[1] is None
    weights = samples_and_weights(_uniform_over_the_basis(system, power=1.0))[1]
    psi = np.abs(np.exp(np.asarray(state.log_value(system.hilbert.all_states()))))
    np.testing.assert_allclose(weights, psi / psi.mean(), rtol=1e-10)


def test_sampled_from_psi_the_energy_agrees_with_the_exact_one(system):
    """Real samples of |psi| (p = 1): the reweighted energy within 5 error bars of the
    exact energy of the same parameters."""
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=16, machine_pow=1.0
    )
    state = nk.vqs.MCState(sampler, _vit(), n_samples=4096, seed=2, sampler_seed=3)
    full = nk.vqs.FullSumState(system.hilbert, _vit(), variables=state.variables)
    exact = float(full.expect(system.hamiltonian).mean.real)
    stats = _driver(system, state, False).estimate(system.hamiltonian)
    assert abs(float(stats.mean.real) - exact) <= 5 * float(stats.error_of_mean)

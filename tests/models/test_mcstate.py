"""The ViT inside NetKet's variational states: Monte Carlo against the exact sum."""

import netket as nk
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit.models import ViT


@pytest.fixture(scope="module")
def j1j2_4x4():
    system = nfv.systems.j1j2(4, 0.5)
    return system.graph, system.hilbert, system.hamiltonian


@pytest.mark.parametrize(
    "attention",
    [
        pytest.param("factored", id="factored"),
        pytest.param("t5", id="t5"),
        pytest.param("decoupled", id="decoupled"),
    ],
)
def test_mcstate_energy_matches_full_sum(j1j2_4x4, attention):
    graph, hilbert, hamiltonian = j1j2_4x4
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1, attention=attention)
    sampler = nk.sampler.MetropolisExchange(hilbert, graph=graph, n_chains=16, d_max=2)
    vs = nk.vqs.MCState(
        sampler, model, n_samples=2048, n_discard_per_chain=32, seed=0, sampler_seed=3
    )
    exact = nk.vqs.FullSumState(hilbert, model, variables=vs.variables).expect(hamiltonian)
    energy = vs.expect(hamiltonian)
    # sigma must be small on the scale of the spectrum (E_0 = -8.46 for this 4x4 model)
    assert energy.error_of_mean < 0.15
    assert abs(energy.variance / exact.variance - 1) < 0.3
    assert abs(energy.mean.real - exact.mean.real) < 5 * energy.error_of_mean
    # the same samples evaluated in chunks give the same estimate
    vs.chunk_size = 128
    np.testing.assert_allclose(vs.expect(hamiltonian).mean, energy.mean, rtol=1e-12)

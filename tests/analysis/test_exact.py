import json

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import pytest
from flax import linen as nn

import netket_factored_vit as nfv
from netket_factored_vit._src.analysis.basis_permutations import (
    BasisIndex,
    total_spin_squared,
)
from netket_factored_vit._src.analysis.exact import _wrong_sign_weight
from netket_factored_vit.models import ViT


class DimerSinglets(nn.Module):
    """Product of singlets (|up down> - |down up>) / sqrt(2) on the given site pairs."""

    dimers: tuple = ()

    @nn.compact
    def __call__(self, x):
        a = jnp.asarray([i for i, _ in self.dimers])
        b = jnp.asarray([j for _, j in self.dimers])
        amplitude = (x[..., a] - x[..., b]) / 2  # +1, -1 or 0
        return jnp.sum(jnp.log(amplitude.astype(complex)), axis=-1)


class Polarised(nn.Module):
    """Overwhelmingly the all-up configuration."""

    @nn.compact
    def __call__(self, x):
        return 40.0 * jnp.sum(x, axis=-1) + 0j


def _is_spin_multiplet(s2):
    # S(S+1) for an integer S
    s = (np.sqrt(1 + 4 * np.asarray(s2)) - 1) / 2
    return np.allclose(s, np.round(s), atol=1e-8)


def test_shastry_sutherland_dimer_state_is_the_exact_ground_state():
    system = nfv.systems.shastry_sutherland(4, J=0.5, J_prime=1.0)
    model = DimerSinglets(dimers=tuple(nfv.systems.shastry_sutherland_dimers(4, 4)))
    result = nfv.analysis.exact_diagnostics(system, model, {}, n_states=3)
    json.dumps(result, allow_nan=False)
    assert result["energy_per_site"] == pytest.approx(-3 / 8, abs=1e-12)
    assert result["eigen_energies_per_site"][0] == pytest.approx(-3 / 8, abs=1e-10)
    assert result["energy_variance"] == pytest.approx(0, abs=1e-10)
    assert result["overlaps"][0] == pytest.approx(1, abs=1e-10)
    assert sum(result["overlaps"][1:]) == pytest.approx(0, abs=1e-10)
    assert result["s2"] == pytest.approx(0, abs=1e-10)
    assert result["relative_error"] == pytest.approx(0, abs=1e-10)


@pytest.fixture(scope="module")
def j1j2_diagnostics():
    system = nfv.systems.j1j2(4, J2=0.5)
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1, attention="t5")
    params = model.init(jax.random.key(0), jnp.ones((1, 16)))["params"]
    result = nfv.analysis.exact_diagnostics(system, model, params, n_states=4)
    return system, model, params, result


def test_energy_equals_netket_full_sum(j1j2_diagnostics):
    system, model, params, result = j1j2_diagnostics
    state = nk.vqs.FullSumState(system.hilbert, model, variables={"params": params})
    reference = state.expect(system.hamiltonian)
    assert result["energy_per_site"] == pytest.approx(float(reference.mean.real) / 16, rel=1e-10)
    assert result["energy_variance"] == pytest.approx(float(reference.variance), rel=1e-8)
    assert result["eigen_energies_per_site"][0] == pytest.approx(-0.52862021, abs=1e-8)
    assert result["hilbert_dimension"] == 12870
    assert len(result["overlaps"]) == 4 and 0 < sum(result["overlaps"]) <= 1


def test_variational_energy_equals_the_full_sum(j1j2_diagnostics):
    system, model, params, result = j1j2_diagnostics
    energy = nfv.analysis.variational_energy(system, model, {"params": params})
    assert energy["energy_per_site"] == pytest.approx(result["energy_per_site"], rel=1e-12)
    assert energy["energy_variance"] == pytest.approx(result["energy_variance"], rel=1e-10)


def test_symmetries_against_transformed_configurations(j1j2_diagnostics):
    system, model, params, result = j1j2_diagnostics
    states = np.asarray(system.hilbert.all_states())
    grids = states.reshape(-1, 4, 4)

    def overlap(transformed):
        psi = np.exp(np.asarray(model.apply({"params": params}, states)))
        psi_g = np.exp(np.asarray(model.apply({"params": params}, transformed.reshape(-1, 16))))
        return np.vdot(psi, psi_g) / np.vdot(psi, psi)

    # site (x, y) reads (-y, x): a rotation about a plaquette, then a shift back
    rotated = np.roll(np.rot90(grids, -1, axes=(1, 2)), 1, axis=2)
    translated = np.roll(grids, -1, axis=1)  # site (x, y) reads (x + 1, y)
    c4, t_x = overlap(rotated), overlap(translated)
    assert abs(c4.real) + abs(t_x.real) > 1e-3
    assert result["c4_rotation"] == pytest.approx(c4.real, abs=1e-10)
    assert result["c4_rotation_imag"] == pytest.approx(c4.imag, abs=1e-10)
    assert result["translation_x"] == pytest.approx(t_x.real, abs=1e-10)
    assert result["translation_x_imag"] == pytest.approx(t_x.imag, abs=1e-10)


def test_eigenstates_carry_their_quantum_numbers(j1j2_diagnostics):
    *_, result = j1j2_diagnostics
    # ground state: A1, zero momentum, singlet; first excited state: B1 singlet
    assert result["eigen_c4_rotation"][:2] == pytest.approx([1, -1], abs=1e-8)
    assert result["eigen_translation_x"][:2] == pytest.approx([1, 1], abs=1e-8)
    assert result["eigen_s2"][:2] == pytest.approx([0, 0], abs=1e-8)
    assert result["level_degeneracies"][0] == 1
    assert sum(result["level_overlaps"]) == pytest.approx(sum(result["overlaps"]), rel=1e-12)
    assert _is_spin_multiplet(result["eigen_s2"])
    assert 0 <= result["s2"] <= 4 * 5 * 16  # bounded by N/2 (N/2 + 1)


def test_total_spin_squared_against_netket_operator():
    hilbert = nk.hilbert.Spin(0.5, N=5)
    s = [
        sum(nk.operator.spin.sigmax(hilbert, i) for i in range(5)),
        sum(nk.operator.spin.sigmay(hilbert, i) for i in range(5)),
        sum(nk.operator.spin.sigmaz(hilbert, i) for i in range(5)),
    ]
    s2 = sum(a @ a for a in s) * 0.25
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(32, 3)) + 1j * rng.normal(size=(32, 3))
    vectors /= np.linalg.norm(vectors, axis=0)
    matrix = s2.to_dense()
    expected = np.einsum("dk,de,ek->k", vectors.conj(), matrix, vectors).real
    basis = BasisIndex(np.asarray(hilbert.all_states()))
    np.testing.assert_allclose(total_spin_squared(vectors, basis), expected, rtol=1e-12)


def test_polarised_state_in_the_full_space():
    system = nfv.systems.j1j2(4, J2=0.0, total_sz=None)
    result = nfv.analysis.exact_diagnostics(system, Polarised(), {}, n_states=1)
    assert result["hilbert_dimension"] == 2**16
    assert result["s2"] == pytest.approx(8 * 9, abs=1e-9)
    assert result["c4_rotation"] == pytest.approx(1, abs=1e-9)
    # all up: S.S = 1/4 on each of the 2N nearest-neighbour bonds
    assert result["energy_per_site"] == pytest.approx(0.5, abs=1e-9)


def test_feasibility_and_refusals():
    small, large = nfv.systems.j1j2(4, J2=0.5), nfv.systems.j1j2(6, J2=0.5)
    assert nfv.analysis.is_exact_feasible(small)
    assert not nfv.analysis.is_exact_feasible(large)
    model = ViT(lattice_shape=(6, 6), d_model=8, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match=r"9,075,135,300 states.*limit of 1,000,000"):
        nfv.analysis.exact_diagnostics(large, model, {})
    with pytest.raises(ValueError, match=r"n_states=0 must be between 1 and .* 12870"):
        nfv.analysis.exact_diagnostics(small, model, {}, n_states=0)
    with pytest.raises(ValueError, match=r"lattice_shape=\(6, 6\).*lattice_shape=\(4, 4\)"):
        nfv.analysis.exact_diagnostics(small, model, {})


@pytest.mark.slow
def test_projected_state_is_symmetric():
    # 32 group elements: the model is evaluated on 32 x 12,870 configurations
    system = nfv.systems.j1j2(4, J2=0.5)
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    params = model.init(jax.random.key(0), jnp.ones((1, 16)))["params"]
    projected = nfv.models.Symmetrized(model=model)
    result = nfv.analysis.exact_diagnostics(
        system, projected, {"params": {"model": params}}, n_states=2
    )
    assert result["c4_rotation"] == pytest.approx(1, abs=1e-10)
    assert result["translation_x"] == pytest.approx(1, abs=1e-10)
    # no B1 admixture left
    assert result["overlaps"][1] == pytest.approx(0, abs=1e-12)


def test_wrong_sign_weight_is_the_ground_state_weight_where_the_sign_differs():
    rng = np.random.default_rng(1)
    ground = rng.normal(size=64)
    ground /= np.linalg.norm(ground)
    flipped = rng.random(64) < 0.2
    # another amplitude everywhere, the other sign on `flipped`, and a global phase
    psi = np.exp(0.7j) * np.abs(ground) * rng.uniform(0.5, 2.0, 64) * np.sign(ground)
    psi[flipped] *= -1
    expected = np.sum(ground[flipped] ** 2)
    assert 0 < expected < 0.5
    assert _wrong_sign_weight(psi, ground) == pytest.approx(expected, rel=1e-12)
    assert _wrong_sign_weight(-3j * ground, ground) == 0


def test_diagnostics_report_the_wrong_sign_weight(j1j2_diagnostics):
    *_, result = j1j2_diagnostics
    assert result["level_degeneracies"][0] == 1
    assert 0 < result["wrong_sign_weight"] < 1  # an untrained ViT misses many signs


def test_diagnostics_report_the_weight_against_marshalls_sign(j1j2_diagnostics):
    *_, result = j1j2_diagnostics
    # the J2 = 0.5 ground state deviates from Marshall's rule on 1.27% of its weight
    assert result["ground_non_marshall_weight"] == pytest.approx(0.0127, abs=5e-4)
    assert 0 < result["non_marshall_weight"] < 1
    # Marshall's rule is exact for the unfrustrated model
    system = nfv.systems.j1j2(4, J2=0.0)
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    params = model.init(jax.random.key(0), jnp.ones((1, 16)))["params"]
    result = nfv.analysis.exact_diagnostics(system, model, params, n_states=1)
    assert result["ground_non_marshall_weight"] < 1e-12

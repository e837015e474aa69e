import netket as nk
import numpy as np
import pytest

import netket_factored_vit as nfv


def _dimer_singlet_product(system):
    """Product of singlets (up,down - down,up)/sqrt2 on the J' dimers, as a normalised vector."""
    states = np.asarray(system.hilbert.all_states())
    amp = np.ones(len(states))
    for i, j in nfv.systems.shastry_sutherland_dimers(*system.lattice_shape):
        amp *= (states[:, i] - states[:, j]) / 2  # +-1 on antiparallel pairs, 0 otherwise
    return amp / np.linalg.norm(amp)


@pytest.mark.parametrize(
    "J, J_prime",
    [
        pytest.param(0.2, 1.0, id="J=0.2"),
        pytest.param(0.5, 1.0, id="J=0.5"),
        pytest.param(1.3, 0.7, id="J=1.3,Jp=0.7"),
    ],
)
def test_dimer_product_is_exact_eigenstate(J, J_prime):
    system = nfv.systems.shastry_sutherland(4, J, J_prime)
    psi = _dimer_singlet_product(system)
    h_psi = system.hamiltonian.to_sparse() @ psi
    energy = psi @ h_psi
    assert energy / system.n_sites == pytest.approx(-3 * J_prime / 8, abs=1e-12)
    np.testing.assert_allclose(h_psi, energy * psi, atol=1e-12)


def test_dimer_product_is_ground_state_at_small_J():
    system = nfv.systems.shastry_sutherland(4, J=0.3)
    assert nfv.systems.exact_energy(system) == pytest.approx(-3 / 8, abs=1e-10)
    # Deep in the Neel phase the dimer state is no longer the ground state.
    assert nfv.systems.exact_energy(nfv.systems.shastry_sutherland(4, J=1.5)) < -3 / 8 - 1e-3


@pytest.mark.parametrize("Lx, Ly", [pytest.param(4, 4, id="4x4"), pytest.param(4, 6, id="4x6")])
def test_bonds_and_dimer_covering(Lx, Ly):
    system = nfv.systems.shastry_sutherland(Lx, Ly=Ly, total_sz=None)
    N = Lx * Ly
    nn = system.graph.edges(filter_color=0)
    dimers = system.graph.edges(filter_color=1)
    assert len(nn) == 2 * N and len(dimers) == N // 2
    covered = np.sort(np.ravel(dimers))
    np.testing.assert_array_equal(covered, np.arange(N))  # each site in exactly one dimer
    # Dimers are diagonals of plaquettes, and two dimers sharing a plaquette edge are orthogonal.
    for i, j in dimers:
        (xi, yi), (xj, yj) = divmod(i, Ly), divmod(j, Ly)
        dx, dy = (xj - xi) % Lx, (yj - yi) % Ly
        assert dx in (1, Lx - 1) and dy in (1, Ly - 1)
    assert system.lattice_shape == (Lx, Ly) and system.name.startswith("shastry_sutherland_")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"L": 5}, "L must be even", id="odd-L"),
        pytest.param({"L": 4, "Ly": 6.5}, "Ly must be an integer", id="Ly-float"),
        pytest.param({"L": 2}, "L must be an integer >= 4, got 2", id="L-small"),
        pytest.param({"L": -4}, ">= 4, got -4", id="L-negative"),
        pytest.param({"L": 4, "J_prime": float("nan")}, "J_prime must be a finite", id="Jp-nan"),
        pytest.param({"L": 4, "J": float("-inf")}, "J must be a finite", id="J-inf"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nfv.systems.shastry_sutherland(**kwargs)


def test_hamiltonian_equals_netket_heisenberg_quarter():
    system = nfv.systems.shastry_sutherland(4, 0.4, 0.9)
    pauli = nk.operator.Heisenberg(
        system.hilbert, system.graph, J=[0.4, 0.9], sign_rule=[False, False]
    )
    assert isinstance(system.hamiltonian, nfv.systems.HeisenbergBonds)
    difference = system.hamiltonian.to_sparse() - pauli.to_sparse().copy() / 4
    assert abs(difference).max() < 1e-14 and abs(system.hamiltonian.to_sparse()).max() > 0.1


@pytest.mark.parametrize("J", [0.0, 0.3, 0.6])
def test_dimer_phase_reference_is_the_lanczos_ground_state(J):
    """Inside the dimer phase the published -3J'/8 is the exact ground state of 4x4."""
    from netket_factored_vit._src.systems.references import exact_energy

    system = nfv.systems.shastry_sutherland(4, J, 2.0)
    ref = nfv.systems.reference_energy(system)
    assert ref is not None and ref.energy == -0.75
    assert exact_energy(system) == pytest.approx(ref.energy, abs=1e-10)


def test_no_dimer_reference_beyond_the_phase():
    assert nfv.systems.reference_energy(nfv.systems.shastry_sutherland(6, 0.7)) is None
    assert nfv.systems.reference_energy(nfv.systems.shastry_sutherland(6, 0.5)).energy == -0.375

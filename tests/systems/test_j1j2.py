import netket as nk
import numpy as np
import pytest

import netket_factored_vit as nfv

# Published exact energies per site (S.S units), 4x4 periodic; see docs/systems.md.
LITERATURE_4X4 = {0.0: -0.7017802, 0.5: -0.52862021}


@pytest.mark.parametrize("J2", [pytest.param(0.0, id="J2=0"), pytest.param(0.5, id="J2=0.5")])
def test_exact_energy_4x4_matches_literature(J2):
    system = nfv.systems.j1j2(4, J2)
    assert nfv.systems.exact_energy(system) == pytest.approx(LITERATURE_4X4[J2], abs=1e-7)


def test_exact_energy_is_cached_by_physics_not_object():
    a = nfv.systems.exact_energy(nfv.systems.j1j2(4, 0.5))
    b_system = nfv.systems.j1j2(4, 0.5)
    assert b_system.key in nfv._src.systems.references._EXACT_CACHE
    assert nfv.systems.exact_energy(b_system) == a


def test_hamiltonian_is_quarter_of_netket_heisenberg():
    system = nfv.systems.j1j2(4, 0.3)
    g = nk.graph.Grid(extent=[4, 4], pbc=True, max_neighbor_order=2)
    pauli = nk.operator.Heisenberg(system.hilbert, g, J=[1.0, 0.3], sign_rule=[False, False])
    ours, theirs = system.hamiltonian.to_sparse().copy(), pauli.to_sparse().copy()
    assert abs(ours - theirs / 4).max() < 1e-14
    assert abs(ours).max() > 0.1


@pytest.mark.parametrize(
    "Lx, Ly",
    [pytest.param(4, 4, id="4x4"), pytest.param(4, 6, id="4x6"), pytest.param(3, 5, id="3x5")],
)
def test_bond_counts_and_colours(Lx, Ly):
    system = nfv.systems.j1j2(Lx, 0.5, Ly=Ly, total_sz=None)
    N = Lx * Ly
    assert system.lattice_shape == (Lx, Ly) and system.n_sites == N
    # Periodic square lattice with both sides >= 3: 2N nearest and 2N diagonal bonds.
    nn = system.graph.edges(filter_color=0)
    nnn = system.graph.edges(filter_color=1)
    assert len(nn) == 2 * N and len(nnn) == 2 * N
    pos = np.asarray(system.graph.positions)
    for (i, j), dist2 in [(e, 1) for e in nn] + [(e, 2) for e in nnn]:
        d = np.abs(pos[i] - pos[j])
        d = np.minimum(d, [Lx, Ly] - d)  # minimum image on the torus
        assert d @ d == dist2
    assert set(system.graph.edge_colors) == {0, 1}


def test_rectangular_lattice_site_ordering_and_energy():
    # A 2x4 open ladder has 8 sites: check the ordering x * Ly + y and a full diagonalization.
    system = nfv.systems.j1j2(2, 0.0, Ly=4, pbc=False)
    pos = np.asarray(system.graph.positions)
    for i, (x, y) in enumerate(pos):
        assert i == int(x) * 4 + int(y)
    assert len(system.graph.edges(filter_color=0)) == 2 * 3 + 4
    dense = system.hamiltonian.to_dense()
    assert nfv.systems.exact_energy(system) == pytest.approx(
        np.linalg.eigvalsh(dense)[0] / 8, abs=1e-10
    )


def test_marshall_sign_option_keeps_spectrum():
    # 4x2 open ladder: small enough for a dense spectrum.
    plain = nfv.systems.j1j2(4, 0.5, Ly=2, pbc=False)
    rotated = nfv.systems.j1j2(4, 0.5, Ly=2, pbc=False, marshall_sign=True)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(plain.hamiltonian.to_dense()),
        np.linalg.eigvalsh(rotated.hamiltonian.to_dense()),
        atol=1e-10,
    )
    # The rotated J1 bonds have non-positive off-diagonal elements (stoquastic at J2 = 0).
    h0 = nfv.systems.j1j2(4, 0.0, Ly=2, pbc=False, marshall_sign=True).hamiltonian.to_dense()
    off = h0 - np.diag(np.diag(h0))
    assert off.max() <= 1e-14 and off.min() < 0


def test_reference_energy_table():
    ref = nfv.systems.reference_energy(nfv.systems.j1j2(10, 0.5))
    assert ref.energy == pytest.approx(-0.4976921) and "Chen" in ref.source
    ref = nfv.systems.reference_energy(nfv.systems.j1j2(6, 0.0, J1=2.0))
    assert ref.energy == pytest.approx(2 * -0.67887215)
    assert nfv.systems.reference_energy(nfv.systems.j1j2(6, 0.3)) is None
    assert nfv.systems.reference_energy(nfv.systems.shastry_sutherland(4, 0.8)) is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"L": 0}, "L must be an integer >= 3, got 0", id="L=0"),
        pytest.param({"L": -4}, "got -4", id="L<0"),
        pytest.param({"L": 4.0}, "integer, got 4.0", id="L-float"),
        pytest.param({"L": 4, "Ly": 2}, "Ly must be an integer >= 3, got 2", id="Ly-small-pbc"),
        pytest.param(
            {"L": 4, "J2": float("nan")}, "J2 must be a finite real number, got nan", id="J2-nan"
        ),
        pytest.param({"L": 4, "J2": float("inf")}, "J2 must be a finite", id="J2-inf"),
        pytest.param({"L": 4, "J1": "1"}, "J1 must be a finite", id="J1-str"),
        pytest.param({"L": 3}, "total_sz=0 is not a magnetisation sector of 9", id="odd-N-sz0"),
        pytest.param(
            {"L": 3, "marshall_sign": True, "total_sz": None}, "bipartite", id="marshall-odd"
        ),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nfv.systems.j1j2(**kwargs)


def test_exact_energy_refuses_large_lattice_before_work():
    system = nfv.systems.j1j2(6, 0.5)
    with pytest.raises(ValueError, match="9,075,135,300 states") as info:
        nfv.systems.exact_energy(system)
    assert "j1j2_6x6" in str(info.value) and "1,000,000" in str(info.value)


def test_best_known_energy_picks_exact_then_published_then_none():
    small = nfv.systems.j1j2(4, 0.5)
    assert nfv.systems.best_known_energy(small) == nfv.systems.exact_energy(small)
    # 6x6 and 10x10 are far beyond Lanczos: the published values, without enumerating states
    assert nfv.systems.best_known_energy(nfv.systems.j1j2(6, 0.5)) == pytest.approx(-0.50380965)
    assert nfv.systems.best_known_energy(nfv.systems.j1j2(10, 0.0)) == pytest.approx(-0.671549)
    assert nfv.systems.best_known_energy(nfv.systems.j1j2(6, 0.3)) is None


def test_hamiltonian_local_energies_equal_netket_heisenberg():
    """system.hamiltonian is our bond operator: same local energies as NetKet's Heisenberg / 4."""
    system = nfv.systems.j1j2(4, 0.5, marshall_sign=True)
    assert isinstance(system.hamiltonian, nfv.systems.HeisenbergBonds)
    pauli = nk.operator.Heisenberg(
        system.hilbert, system.graph, J=[0.25, 0.125], sign_rule=[True, False]
    )
    model = nfv.models.ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
    vstate = nk.vqs.MCState(sampler, model, n_samples=64, seed=0, sampler_seed=1)
    ours = vstate.local_estimators(system.hamiltonian).data
    theirs = vstate.local_estimators(pauli).data
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())

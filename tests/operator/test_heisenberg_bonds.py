"""HeisenbergBonds as a NetKet DiscreteOperator: matrix, spectrum, arithmetic, bad input."""

import netket as nk
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit.systems import HeisenbergBonds


def _netket_reference(system, marshall_sign=False):
    """The same Hamiltonian from NetKet's Heisenberg (Pauli units, divided by 4)."""
    c = [value / 4 for _, value in system.couplings]
    return nk.operator.Heisenberg(
        system.hilbert, system.graph, J=c, sign_rule=[bool(marshall_sign), False]
    )


def _ours(system, marshall_sign=False):
    return HeisenbergBonds.from_graph(
        system.hilbert,
        system.graph,
        [value for _, value in system.couplings],
        sign_rule=[bool(marshall_sign), False],
    )


SYSTEMS = [
    pytest.param(lambda: nfv.systems.j1j2(4, 0.5), False, id="j1j2-4x4-sz0"),
    pytest.param(lambda: nfv.systems.j1j2(4, 0.5), True, id="j1j2-4x4-marshall"),
    pytest.param(
        lambda: nfv.systems.j1j2(4, 0.3, Ly=2, pbc=False, total_sz=None),
        True,
        id="j1j2-4x2-obc-full-marshall",
    ),
    pytest.param(lambda: nfv.systems.j1j2(3, 0.7, Ly=4, total_sz=None), False, id="j1j2-3x4-full"),
    pytest.param(lambda: nfv.systems.shastry_sutherland(4, 0.4), False, id="shastry-4x4"),
]


@pytest.mark.parametrize("make_system, marshall_sign", SYSTEMS)
def test_sparse_matrix_equals_netket_heisenberg(make_system, marshall_sign):
    system = make_system()
    ours, theirs = _ours(system, marshall_sign), _netket_reference(system, marshall_sign)
    difference = ours.to_sparse() - theirs.to_sparse()
    assert abs(difference).max() < 1e-14
    assert abs(ours.to_sparse()).max() > 0.1
    assert ours.max_conn_size == theirs.max_conn_size == 1 + len(system.graph.edges())


def test_exact_ground_state_energy_equals_netket():
    system = nfv.systems.j1j2(4, 0.5)
    e_ours = nk.exact.lanczos_ed(_ours(system), k=1)[0]
    e_theirs = nk.exact.lanczos_ed(_netket_reference(system), k=1)[0]
    assert e_ours == pytest.approx(e_theirs, abs=1e-10)
    assert e_ours / 16 == pytest.approx(-0.52862021, abs=1e-7)


def test_connections_padded_and_counted():
    system = nfv.systems.j1j2(4, 0.5, total_sz=None)
    H = _ours(system)
    x = np.array(system.hilbert.random_state(nk.jax.PRNGKey(1), 5))
    x[0] = 1  # all spins up: no bond connects, only the diagonal
    x_primes, mels = H.get_conn_padded(x)
    assert x_primes.shape == (5, H.max_conn_size, 16) and mels.shape == (5, H.max_conn_size)
    n_conn = H.n_conn(x)
    assert n_conn[0] == 1 and mels[0, 0] == pytest.approx(32 * 1.0 / 4 + 32 * 0.5 / 4)
    for row in range(5):
        # one flipped pair per connection, padding entries equal x with element 0
        n = n_conn[row]
        flips = np.sum(x_primes[row, 1:n] != x[row], axis=-1)
        assert (flips == 2).all()
        assert (mels[row, n:] == 0).all() and (x_primes[row, n:] == x[row]).all()
    # the row sums of |H| agree with the matrix rows of the same configurations
    rows = H.to_sparse()[np.asarray(system.hilbert.states_to_numbers(x))].toarray()
    np.testing.assert_allclose(np.abs(mels).sum(axis=1), np.abs(rows).sum(axis=1))


def test_scalar_arithmetic_and_sums():
    system = nfv.systems.j1j2(4, 0.5, Ly=2, pbc=False, total_sz=None)
    nn = HeisenbergBonds(system.hilbert, system.graph.edges(filter_color=0), 1.0)
    nnn = HeisenbergBonds(system.hilbert, system.graph.edges(filter_color=1), 1.0)
    full = _ours(system).to_dense()
    np.testing.assert_allclose((nn + 0.5 * nnn).to_dense(), full, atol=1e-14)
    np.testing.assert_allclose((nn + nnn / 2).to_dense(), full, atol=1e-14)
    np.testing.assert_allclose((-nn).to_dense(), -nn.to_dense(), atol=1e-14)
    np.testing.assert_allclose((nn - nn).to_dense(), 0 * full, atol=1e-14)
    assert isinstance(2 * nn, HeisenbergBonds) and isinstance(nn + nnn, HeisenbergBonds)
    # a bond listed twice has its couplings added
    twice = HeisenbergBonds(system.hilbert, [(0, 1), (1, 0)], [1.0, 2.0])
    np.testing.assert_allclose(
        twice.to_dense(), HeisenbergBonds(system.hilbert, [(0, 1)], 3.0).to_dense()
    )
    # with other NetKet operators the sum is NetKet's LocalOperator
    sz = nk.operator.spin.sigmaz(system.hilbert, 0)
    np.testing.assert_allclose((nn + sz).to_dense(), nn.to_dense() + sz.to_dense(), atol=1e-14)
    np.testing.assert_allclose((sz + nn).to_dense(), nn.to_dense() + sz.to_dense(), atol=1e-14)
    np.testing.assert_allclose(nn.to_local_operator().to_dense(), nn.to_dense(), atol=1e-14)
    assert nn.is_hermitian and nn.H is nn and nn.dtype == np.float64


def test_netket_heisenberg_is_four_times_ours():
    system = nfv.systems.j1j2(4, 0.5)
    pauli = nk.operator.Heisenberg(
        system.hilbert, system.graph, J=[1.0, 0.5], sign_rule=[False, False]
    )
    difference = (4 * _ours(system)).to_sparse() - pauli.to_sparse()
    assert abs(difference).max() < 1e-13


@pytest.mark.parametrize(
    "hilbert, bonds, couplings, kwargs, match",
    [
        pytest.param(nk.hilbert.Spin(1.0, 4), [(0, 1)], 1.0, {}, "spins 1/2", id="spin-1"),
        pytest.param(nk.hilbert.Fock(2, 4), [(0, 1)], 1.0, {}, "spins 1/2", id="fock"),
        pytest.param(
            nk.hilbert.Spin(0.5, 4),
            [(0, 4)],
            1.0,
            {},
            r"\(0, 4\) has a site outside 0..3",
            id="site-out-of-range",
        ),
        pytest.param(
            nk.hilbert.Spin(0.5, 4), [(2, 2)], 1.0, {}, "joins a site to itself", id="self-bond"
        ),
        pytest.param(nk.hilbert.Spin(0.5, 4), [], 1.0, {}, "non-empty", id="no-bonds"),
        pytest.param(nk.hilbert.Spin(0.5, 4), [(0, 1.5)], 1.0, {}, "integer site", id="float-site"),
        pytest.param(
            nk.hilbert.Spin(0.5, 4),
            [(0, 1), (1, 2)],
            [1.0, 2.0, 3.0],
            {},
            r"one per bond \(2\), got shape \(3,\)",
            id="couplings-length",
        ),
        pytest.param(
            nk.hilbert.Spin(0.5, 4), [(0, 1)], float("nan"), {}, "finite", id="coupling-nan"
        ),
        pytest.param(
            nk.hilbert.Spin(0.5, 4), [(0, 1)], 1j, {}, "real numbers", id="coupling-complex"
        ),
        pytest.param(
            nk.hilbert.Spin(0.5, 4),
            [(0, 1)],
            1.0,
            {"sign_rule": 1},
            "True/False",
            id="sign-rule-int",
        ),
    ],
)
def test_bad_input(hilbert, bonds, couplings, kwargs, match):
    with pytest.raises(ValueError, match=match):
        HeisenbergBonds(hilbert, bonds, couplings, **kwargs)


def test_from_graph_needs_one_coupling_per_colour():
    system = nfv.systems.j1j2(4, 0.5)
    with pytest.raises(ValueError, match=r"one per edge colour \(2\)"):
        HeisenbergBonds.from_graph(system.hilbert, system.graph, [1.0, 0.5, 0.2])

"""Local energies of HeisenbergBonds against NetKet's, on random configurations and through
NetKet's variational-state dispatch (expect, expect_and_grad, local_estimators, drivers)."""

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import optax
import pytest
from netket.vqs.mc.kernels import local_value_kernel

import netket_factored_vit as nfv
from netket_factored_vit._src.operator.local_energy import (
    bond_arguments,
    bucket_size,
    local_energies,
)
from netket_factored_vit.systems import HeisenbergBonds


def _pair(system, marshall_sign=False):
    """(ours, NetKet's Heisenberg divided by 4) for a system."""
    J = [value for _, value in system.couplings]
    sign_rule = [bool(marshall_sign), False]
    ours = HeisenbergBonds.from_graph(system.hilbert, system.graph, J, sign_rule=sign_rule)
    theirs = nk.operator.Heisenberg(
        system.hilbert, system.graph, J=[j / 4 for j in J], sign_rule=sign_rule
    )
    return ours, theirs


def _random_variables(model, n_sites, seed):
    """Initial parameters plus noise, so that amplitudes vary over orders of magnitude."""
    variables = model.init(jax.random.key(seed), jnp.ones((1, n_sites)))
    leaves, tree = jax.tree_util.tree_flatten(variables)
    keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
    noisy = [
        x + 0.3 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys, strict=True)
    ]
    return jax.tree_util.tree_unflatten(tree, noisy)


def _small_vit(shape):
    return nfv.models.ViT(lattice_shape=shape, d_model=8, num_heads=2, num_layers=1)


CASES = [
    pytest.param(lambda: nfv.systems.j1j2(4, 0.5), False, id="j1j2-4x4-sz0"),
    pytest.param(lambda: nfv.systems.j1j2(4, 0.5, total_sz=None), False, id="j1j2-4x4-full"),
    pytest.param(lambda: nfv.systems.j1j2(4, 0.5), True, id="j1j2-4x4-marshall"),
    pytest.param(
        lambda: nfv.systems.j1j2(4, 0.3, Ly=6, total_sz=None), True, id="j1j2-4x6-full-marshall"
    ),
    pytest.param(lambda: nfv.systems.shastry_sutherland(4, 0.4), False, id="shastry-4x4-sz0"),
    pytest.param(
        lambda: nfv.systems.shastry_sutherland(4, 0.6, total_sz=None), False, id="shastry-4x4-full"
    ),
]


@pytest.mark.parametrize("make_system, marshall_sign", CASES)
def test_equal_to_netket_on_random_configurations(make_system, marshall_sign):
    system = make_system()
    ours, theirs = _pair(system, marshall_sign)
    model = _small_vit(system.lattice_shape)
    variables = _random_variables(model, system.n_sites, seed=3)
    sigma = np.array(system.hilbert.random_state(jax.random.key(7), 64))
    if system.total_sz is None:
        sigma[0] = 1  # all up: no connection at all, the diagonal alone
    netket_kernel = jax.jit(local_value_kernel, static_argnums=0)
    expected = netket_kernel(model.apply, variables, sigma, theirs.get_conn_padded(sigma))
    args = bond_arguments(sigma, ours.bonds, ours.diagonal_elements, ours.exchange_elements)
    for chunk_size in (None, 300):
        our_kernel = jax.jit(local_energies, static_argnums=0, static_argnames="chunk_size")
        got = our_kernel(model.apply, variables, sigma, args, chunk_size=chunk_size)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale)
    assert scale > 1 and np.abs(expected.imag).max() > 1e-3  # a test that could fail


def test_padding_and_buckets():
    assert [bucket_size(n) for n in (0, 1, 31, 32, 33, 1000)] == [1, 1, 31, 32, 34, 1024]
    counts = np.arange(1, 200_000, 7)
    buckets = np.array([bucket_size(int(n)) for n in counts])
    assert (buckets >= counts).all() and (buckets <= counts * (1 + 1 / 16)).all()
    # 16 to 32 buckets per doubling: from 16,000 to 20,000 connections, 8 compilations at most
    assert len({bucket_size(n) for n in range(16_000, 20_000)}) <= 8

    system = nfv.systems.j1j2(4, 0.5)
    ours, _ = _pair(system)
    sigma = system.hilbert.random_state(jax.random.key(0), 50)
    args = bond_arguments(sigma, ours.bonds, ours.diagonal_elements, ours.exchange_elements)
    antiparallel = np.asarray(sigma)[:, ours.bonds[:, 0]] != np.asarray(sigma)[:, ours.bonds[:, 1]]
    n = int(args.n_pairs)
    assert n == antiparallel.sum() and args.pair_sample.shape == (bucket_size(n),)
    np.testing.assert_array_equal(antiparallel[args.pair_sample[:n], args.pair_bond[:n]], True)
    assert (np.diff(np.asarray(args.pair_sample)) >= 0).all()  # sorted for the segment sum


@pytest.fixture(scope="module")
def sampled_state():
    system = nfv.systems.j1j2(4, 0.5)
    model = _small_vit((4, 4))
    sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
    vstate = nk.vqs.MCState(sampler, model, n_samples=128, seed=1, sampler_seed=2)
    vstate.parameters = _random_variables(model, 16, seed=5)["params"]
    vstate.sample()
    return system, vstate


def test_dispatch_picks_our_kernel(sampled_state):
    system, vstate = sampled_state
    ours, _ = _pair(system)
    assert nk.vqs.get_local_kernel(vstate, ours) is local_energies
    assert nk.vqs.get_local_kernel(vstate, ours, 32) is local_energies


@pytest.mark.parametrize(
    "chunk_size", [pytest.param(None, id="unchunked"), pytest.param(64, id="chunk=64")]
)
def test_mcstate_expect_and_grad_equal_to_netket(sampled_state, chunk_size):
    system, vstate = sampled_state
    ours, theirs = _pair(system)
    vstate.chunk_size = chunk_size
    try:
        local_ours = vstate.local_estimators(ours).data
        local_theirs = vstate.local_estimators(theirs).data
        scale = np.abs(local_theirs).max()
        np.testing.assert_allclose(local_ours, local_theirs, rtol=0, atol=1e-12 * scale)

        e_ours, g_ours = vstate.expect_and_grad(ours)
        e_theirs, g_theirs = vstate.expect_and_grad(theirs)
        assert abs(e_ours.mean - e_theirs.mean) < 1e-12 * abs(e_theirs.mean)
        assert abs(e_ours.variance - e_theirs.variance) < 1e-12 * e_theirs.variance
        assert abs(vstate.expect(ours).mean - e_theirs.mean) < 1e-12 * abs(e_theirs.mean)
        for a, b in zip(
            jax.tree_util.tree_leaves(g_ours), jax.tree_util.tree_leaves(g_theirs), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max() + 1e-15)
    finally:
        vstate.chunk_size = None


def test_full_sum_state_equals_exact_matrix():
    system = nfv.systems.j1j2(4, 0.5)
    ours, theirs = _pair(system, marshall_sign=True)
    model = _small_vit((4, 4))
    variables = _random_variables(model, 16, seed=2)
    state = nk.vqs.FullSumState(system.hilbert, model, variables=variables)
    psi = state.to_array()
    exact = np.vdot(psi, theirs.to_sparse() @ psi)
    assert state.expect(ours).mean == pytest.approx(exact, abs=1e-12)
    assert abs(exact.imag) < 1e-12 and abs(exact) > 0.1


def test_netket_driver_steps_equal_with_either_operator():
    """Two SGD steps of NetKet's VMC from the same state and seeds give the same parameters."""
    system = nfv.systems.j1j2(4, 0.5)
    ours, theirs = _pair(system)
    results = []
    for operator in (ours, theirs):
        sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
        vstate = nk.vqs.MCState(sampler, _small_vit((4, 4)), n_samples=64, seed=4, sampler_seed=5)
        driver = nk.driver.VMC(operator, optax.sgd(0.05), variational_state=vstate)
        driver.run(2, show_progress=False)
        results.append(vstate.parameters)
    for a, b in zip(*(jax.tree_util.tree_leaves(r) for r in results), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-11)


def test_mismatched_hilbert_is_refused(sampled_state):
    _, vstate = sampled_state
    other = nk.hilbert.Spin(0.5, 16)  # no Sz constraint
    operator = HeisenbergBonds(other, [(0, 1)], 1.0)
    with pytest.raises(ValueError, match="acts on Spin.*but the variational state on"):
        vstate.expect(operator)

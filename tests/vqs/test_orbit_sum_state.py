"""The exact orbit-sum state against NetKet's FullSumState on the whole basis.

Energy, gradient and the driver's SR and minSR updates must agree to 1e-10 (relative to
the largest entry), for the bare and the projected ViT with each attention, with and
without the spin flip; orbit counts are those of the 4x4 Sz = 0 sector.
"""

import jax
import netket as nk
import numpy as np
import optax
import pytest

import netket_factored_vit as nfv

TOLERANCE = 1e-10


@pytest.fixture(scope="module")
def system():
    jax.clear_caches()  # the compiled programs of earlier test files are not needed here
    return nfv.systems.j1j2(4, J2=0.5)


def _vit(attention="factored", **kwargs):
    return nfv.models.ViT(
        lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1, attention=attention, **kwargs
    )


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.max(np.abs(b)), 1.0)
    assert np.max(np.abs(a - b)) <= TOLERANCE * scale, np.max(np.abs(a - b)) / scale


def _update(hamiltonian, state, use_ntk):
    driver = nfv.driver.VMC_SR(
        hamiltonian,
        optax.sgd(0.01),
        variational_state=state,
        diag_shift=1e-3,
        use_ntk=use_ntk,
        momentum=0.5,
    )
    _, dp = driver.compute_loss_and_update()
    return _flat(dp)


BARE_FLIP = {"translations": "none", "point_group": False, "spin_flip": True}


@pytest.mark.parametrize(
    "attention, projection, orbits",
    [
        pytest.param("factored", None, 3270, id="factored-bare"),
        pytest.param("factored", BARE_FLIP, 1731, id="factored-bare-flip"),
        pytest.param("factored", {"translations": "none"}, 538, id="factored-c4v"),
        pytest.param("t5", None, 3270, id="t5-bare"),
        pytest.param("t5", {"translations": "none", "spin_flip": True}, 298, id="t5-c4v-flip"),
        pytest.param("decoupled", BARE_FLIP, 1731, id="decoupled-bare-flip"),
        pytest.param("decoupled", {"translations": "none"}, 538, id="decoupled-c4v"),
    ],
)
def test_equal_to_full_sum(system, attention, projection, orbits):
    vit = _vit(attention)
    model = vit if projection is None else nfv.models.Symmetrized(model=vit, **projection)
    exact = nfv.vqs.OrbitSumState(system.hilbert, model, seed=1)
    assert exact.n_orbits == orbits
    full = nk.vqs.FullSumState(system.hilbert, model, variables=exact.variables)
    H = system.hamiltonian

    (e1, g1), (e2, g2) = exact.expect_and_grad(H), full.expect_and_grad(H)
    assert abs(e1.mean - e2.mean) <= TOLERANCE * abs(e2.mean)
    assert abs(e1.variance - e2.variance) <= TOLERANCE * max(abs(e2.variance), 1.0)
    _close(_flat(g1), _flat(g2))
    _close(exact.to_array(), full.to_array())

    reference = _update(H, full, use_ntk=False)
    _close(_update(H, exact, use_ntk=False), reference)
    _close(_update(H, exact, use_ntk=True), reference)  # minSR: the push-through identity


@pytest.mark.parametrize(
    "projection, orbits",
    [
        pytest.param({"translations": "patch"}, 153, id="c4v-every-translation"),
        pytest.param({"translations": "patch", "spin_flip": True}, 107, id="and-spin-flip"),
        pytest.param({"translations": "none", "spin_flip": True}, 298, id="c4v-and-spin-flip"),
    ],
)
def test_orbit_counts_of_larger_groups(system, projection, orbits):
    model = nfv.models.Symmetrized(model=_vit(), **projection)
    state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)
    assert state.n_orbits == orbits
    assert int(np.sum(state.orbits.sizes)) == system.hilbert.n_states
    # the representatives' images cover the whole basis exactly once per orbit
    group = state.symmetry_group
    images = {
        tuple(group.apply(r, k))
        for r in np.asarray(state.representatives)
        for k in range(len(group))
    }
    assert len(images) == system.hilbert.n_states


def test_a_model_without_a_group_sums_over_the_whole_basis(system):
    vit = _vit(attention=nfv.models.FactoredAttention(translation_invariant=False))
    state = nfv.vqs.OrbitSumState(system.hilbert, vit, seed=0)
    assert len(state.symmetry_group) == 1
    assert state.n_orbits == system.hilbert.n_states
    full = nk.vqs.FullSumState(system.hilbert, vit, variables=state.variables)
    e1, e2 = state.expect(system.hamiltonian), full.expect(system.hamiltonian)
    assert abs(e1.mean - e2.mean) <= TOLERANCE * abs(e2.mean)


def test_operators_that_break_the_group_are_still_exact(system):
    """One bond, and NetKet's LocalOperator: the sum over cosets keeps them exact."""
    model = nfv.models.Symmetrized(model=_vit(), translations="none", spin_flip=True)
    state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=2)
    full = nk.vqs.FullSumState(system.hilbert, model, variables=state.variables)
    hi = system.hilbert
    one_bond = nfv.systems.HeisenbergBonds(hi, [(0, 1)], 1.0)
    local = nk.operator.spin.sigmaz(hi, 0) * nk.operator.spin.sigmaz(hi, 5) + 0.3 * (
        nk.operator.spin.sigmap(hi, 2) * nk.operator.spin.sigmam(hi, 3)
        + nk.operator.spin.sigmam(hi, 2) * nk.operator.spin.sigmap(hi, 3)
    )
    for op in (one_bond, local):
        orbit_op = state.orbit_operator(op)
        assert orbit_op.commuting_elements < len(state.symmetry_group)
        (e1, g1), (e2, g2) = state.expect_and_grad(op), full.expect_and_grad(op)
        assert abs(e1.mean - e2.mean) <= TOLERANCE
        assert abs(e1.variance - e2.variance) <= TOLERANCE
        _close(_flat(g1), _flat(g2))
    # the J1-J2 Hamiltonian commutes with every element: one row of connections
    assert len(state.orbit_operator(system.hamiltonian).cosets) == 1


def test_shastry_sutherland_with_a_group_the_dimers_break():
    system = nfv.systems.shastry_sutherland(4, 0.5, 1.0)
    model = nfv.models.Symmetrized(model=_vit(), translations="none")
    state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)
    orbit_op = state.orbit_operator(system.hamiltonian)
    assert 1 < len(orbit_op.cosets) < len(state.symmetry_group)
    full = nk.vqs.FullSumState(system.hilbert, model, variables=state.variables)
    (e1, g1), (e2, g2) = (
        state.expect_and_grad(system.hamiltonian),
        full.expect_and_grad(system.hamiltonian),
    )
    assert abs(e1.mean - e2.mean) <= TOLERANCE * abs(e2.mean)
    _close(_flat(g1), _flat(g2))


def test_a_group_the_model_does_not_have_is_refused(system):
    group = nfv.models.Symmetrized(model=_vit(), translations="none").symmetry_group
    with pytest.raises(ValueError, match="not invariant under 'mirror x'"):
        nfv.vqs.OrbitSumState(system.hilbert, _vit(), symmetry_group=group, seed=0)


def test_a_float32_projected_model_is_accepted_and_a_float32_bare_one_refused(system):
    # float32 rounding (~1e-7 in log psi) is not a broken symmetry, even when the model
    # returns log psi in complex128; a missing symmetry (changes of order 1) still is
    import jax.numpy as jnp

    vit = _vit(param_dtype=jnp.float32)
    model = nfv.models.Symmetrized(model=vit, translations="none")
    state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)
    assert jax.tree.leaves(state.parameters)[0].dtype == jnp.float32
    with pytest.raises(ValueError, match="not invariant under 'mirror x'"):
        nfv.vqs.OrbitSumState(system.hilbert, vit, symmetry_group=model.symmetry_group, seed=0)


def test_a_spin_flip_out_of_the_sector_is_refused():
    system = nfv.systems.j1j2(4, J2=0.5, total_sz=1.0)
    model = nfv.models.Symmetrized(model=_vit(), translations="none", spin_flip=True)
    with pytest.raises(ValueError, match="spin flip needs total_sz=0"):
        nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)


def test_a_sector_too_large_is_refused_before_anything_is_built():
    hi = nk.hilbert.Spin(0.5, 36, total_sz=0)  # 6x6: 9,075,135,300 states
    with pytest.raises(ValueError, match=r"9,075,135,300 basis states.*limit of 4,194,304"):
        nfv.vqs.OrbitSumState(hi, _vit())


def test_two_runs_are_bit_identical(system):
    def energies():
        model = nfv.models.Symmetrized(model=_vit(), translations="none")
        state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=4)
        driver = nfv.driver.VMC_SR(
            system.hamiltonian, optax.sgd(0.02), variational_state=state, diag_shift=1e-3
        )
        log = nk.logging.RuntimeLog()
        driver.run(4, out=log, show_progress=False)
        return np.asarray(log.data["Energy"]["Mean"])

    first, second = energies(), energies()
    assert np.all(np.diff(first.real) < 0.5)  # it trained
    assert np.array_equal(first, second)


def test_checkpoint_resume_continues_the_trajectory(system, tmp_path):
    def driver(resume):
        model = nfv.models.Symmetrized(model=_vit(), translations="none")
        state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=5)
        return nfv.driver.VMC_SR(
            system.hamiltonian, optax.sgd(0.02), variational_state=state, diag_shift=1e-3,
            momentum=0.8, checkpoint_path=tmp_path / "ckpt", checkpoint_every=2, resume=resume,
        )  # fmt: skip

    straight = driver(False)
    straight.run(4, show_progress=False)
    (tmp_path / "ckpt").unlink()
    for suffix in (".prev",):
        (tmp_path / f"ckpt{suffix}").unlink(missing_ok=True)
    first = driver(False)
    first.run(2, show_progress=False)
    resumed = driver(True)
    assert resumed.step_count == 2
    resumed.run(2, show_progress=False)
    assert np.array_equal(_flat(resumed.state.parameters), _flat(straight.state.parameters))


def test_marshall_signed_head_equal_to_full_sum(system):
    """Marshall's sign is invariant under every translation of the 4x4 lattice (it swaps
    the sublattices, and 8 up spins keep the parity) and the spin flip: the orbit sum of
    the projected marshall-signed ViT is exact."""
    vit = _vit(output="marshall-signed")
    model = nfv.models.Symmetrized(model=vit, translations="patch", spin_flip=True)
    exact = nfv.vqs.OrbitSumState(system.hilbert, model, seed=3)
    params = dict(exact.parameters)
    # a sign factor that changes sign on some configurations
    params["model"] = {**params["model"], "sign": {
        "kernel": jax.random.normal(jax.random.key(4), params["model"]["sign"]["kernel"].shape),
        "bias": params["model"]["sign"]["bias"] * 0.1,
    }}  # fmt: skip
    exact.parameters = params
    assert exact.n_orbits == 107
    full = nk.vqs.FullSumState(system.hilbert, model, variables=exact.variables)
    H = system.hamiltonian
    (e1, g1), (e2, g2) = exact.expect_and_grad(H), full.expect_and_grad(H)
    assert abs(e1.mean - e2.mean) <= TOLERANCE * abs(e2.mean)
    _close(_flat(g1), _flat(g2))
    _close(_update(H, exact, use_ntk=True), _update(H, full, use_ntk=False))

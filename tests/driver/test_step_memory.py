"""One Jacobian copy: chunked rows, in-place centring and kernel, their memory, float32."""

from functools import partial

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import optax
import pytest
from netket import jax as nkjax

import netket_factored_vit as nfv
from netket_factored_vit._src.distributed.collectives import LOCAL
from netket_factored_vit._src.driver import sr_solves, step_inputs
from netket_factored_vit.driver import centre_and_scale, gram


def _jacobian_inputs(mode, n_samples=23, n_params=9, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n_samples, 2, n_params) if mode == "complex" else (n_samples, n_params)
    eloc = rng.normal(size=n_samples) + (
        1j * rng.normal(size=n_samples) if mode == "complex" else 0
    )
    return (
        jnp.asarray(rng.normal(size=shape)),
        jnp.asarray(eloc),
        jnp.asarray(rng.random(n_samples)),
    )


@pytest.mark.parametrize("mode", ["real", "complex"])
@pytest.mark.parametrize(
    "weighted", [pytest.param(False, id="mc"), pytest.param(True, id="weights")]
)
@pytest.mark.parametrize("chunk_size", [1, 5, 23])
def test_centring_in_place_by_chunks_equals_at_once(mode, weighted, chunk_size):
    jac, eloc, weights = _jacobian_inputs(mode)
    w = weights if weighted else None
    X0, f0, e0 = jax.jit(partial(centre_and_scale, mode=mode))(jac, eloc, weights=w)
    X1, f1, e1 = jax.jit(partial(centre_and_scale, mode=mode, chunk_size=chunk_size))(
        jac, eloc, weights=w
    )
    np.testing.assert_allclose(X1, X0, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(f1, f0)
    np.testing.assert_array_equal(e1, e0)


@pytest.fixture(scope="module")
def rbm_on_chain():
    hi = nk.hilbert.Spin(0.5, 8, total_sz=0)
    model = nk.models.RBMModPhase(alpha=1)
    samples = hi.random_state(jax.random.key(0), 37).astype(jnp.float64)
    variables = model.init(jax.random.key(1), samples[:2])
    return model, variables["params"], samples


@pytest.mark.parametrize("chunk_size", [1, 8, 37])
def test_raw_jacobian_by_chunks_equals_netket(rbm_on_chain, chunk_size):
    model, params, samples = rbm_on_chain
    ours = jax.jit(
        partial(step_inputs.raw_jacobian, model.apply, mode="complex", chunk_size=chunk_size)
    )(params, {}, samples)
    ref = nkjax.jacobian(model.apply, params, samples, {}, mode="complex", dense=True)
    assert ours.shape == ref.shape == (37, 2, 144)
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(
    "n_rows, n_cols, panel",
    [
        pytest.param(96, 37, 8, id="panels-with-rest"),
        pytest.param(512, 70, 64, id="two-blocks"),
        pytest.param(768, 20, 512, id="three-blocks-one-panel"),
    ],
)
def test_gram_by_blocks_and_panels(n_rows, n_cols, panel):
    A = jnp.asarray(np.random.default_rng(2).normal(size=(n_rows, n_cols)))
    T = jax.jit(partial(gram, panel_columns=panel))(A)
    np.testing.assert_allclose(T, A @ A.T, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(T, T.T)


def test_minsr_step_memory_within_estimate():
    """XLA's memory analysis of both compiled parts of the minSR step: at most 1.2 x
    (2M P + (2M)^2) x 8 bytes, also when the state's chunk covers every sample."""
    model = nfv.models.vit_preset("small")
    system = nfv.systems.j1j2(4, J2=0.5)
    n_samples = 256
    samples = system.hilbert.random_state(jax.random.key(0), n_samples).astype(jnp.float64)
    params = model.init(jax.random.key(1), samples[:2])["params"]
    eloc = jnp.ones(n_samples, dtype=complex)
    args = (model.apply, params, {}, samples, eloc, None)
    kw = dict(mode="complex", chunk_size=n_samples, collectives=LOCAL)
    X, f = jax.eval_shape(lambda: step_inputs.jacobian_rows(*args, **kw))
    rows, n_params = X.shape
    estimate = (rows * n_params + rows**2) * 8

    def total(compiled):
        m = compiled.memory_analysis()
        return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes

    jac = total(step_inputs.jacobian_rows.lower(*args, **kw).compile())
    solve = total(sr_solves.solve_update.lower(X, f, 1e-3, None, None, use_ntk=True).compile())
    assert jac <= 1.2 * estimate, (jac, estimate)
    assert solve <= 1.2 * estimate, (solve, estimate)


def test_float32_parameters_are_solved_in_float64():
    hi = nk.hilbert.Spin(0.5, 8, total_sz=0)
    g = nk.graph.Chain(8)
    H = nk.operator.Heisenberg(hi, g)
    vs = nk.vqs.MCState(
        nk.sampler.MetropolisExchange(hi, graph=g, n_chains=8),
        nk.models.RBMModPhase(alpha=1, param_dtype=jnp.float32),
        n_samples=64,
        seed=1,
        sampler_seed=2,
    )
    drv = nfv.driver.VMC_SR(
        H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-2, momentum=0.5, use_ntk=True
    )
    X, f = drv.jacobian_and_rhs()
    assert X.dtype == f.dtype == jnp.float64
    _, dp = drv.compute_loss_and_update()
    assert {x.dtype for x in jax.tree.leaves(dp)} == {jnp.dtype(jnp.float32)}
    # The float64 solve of the float64 rows, rounded once to float32.
    expected, _, _ = sr_solves.minsr_update(X, f, diag_shift=1e-2)
    flat = jnp.concatenate([x.ravel() for x in jax.tree.leaves(dp)])
    order = jnp.concatenate([x.ravel() for x in jax.tree.leaves(drv._unravel(expected))])
    np.testing.assert_allclose(flat, order.astype(jnp.float32), rtol=1e-6, atol=1e-7)
    drv.run(2, show_progress=False)
    leaves = jax.tree.leaves(drv.state.parameters) + [drv._old_updates]
    assert {x.dtype for x in leaves} == {jnp.dtype(jnp.float32)}


def test_float32_exact_training_tracks_float64():
    # The same ViT trained exactly for a few SR steps in float32 and in float64, from the
    # same initial parameters: the energies agree to float32 accuracy, step by step.
    system = nfv.systems.j1j2(4, J2=0.5)
    kwargs = dict(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    p64 = nk.vqs.FullSumState(system.hilbert, nfv.models.ViT(**kwargs), seed=0).parameters
    energies = {}
    for dtype in (jnp.float64, jnp.float32):
        model = nfv.models.ViT(param_dtype=dtype, **kwargs)
        vs = nk.vqs.FullSumState(system.hilbert, model, seed=0)
        vs.parameters = jax.tree.map(partial(jnp.asarray, dtype=dtype), p64)
        drv = nfv.driver.VMC_SR(
            system.hamiltonian, optax.sgd(0.02), variational_state=vs, diag_shift=1e-2
        )
        log = nk.logging.RuntimeLog()
        drv.run(6, out=log, show_progress=False)
        energies[dtype] = np.asarray(log.data["Energy"]["Mean"].real)
        assert {x.dtype for x in jax.tree.leaves(vs.parameters)} == {jnp.dtype(dtype)}
    e64, e32 = energies[jnp.float64], energies[jnp.float32]
    assert e64[-1] < e64[0]  # the steps train
    np.testing.assert_allclose(e32, e64, rtol=1e-5)

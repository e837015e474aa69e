"""The driver against NetKet's VMC_SR, exact sums, schedules, logging and bad input."""

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import sr_solves, step_inputs

N_SITES = 8


@pytest.fixture(scope="module")
def chain():
    hi = nk.hilbert.Spin(0.5, N_SITES, total_sz=0)
    g = nk.graph.Chain(N_SITES)
    return hi, g, nk.operator.Heisenberg(hi, g)


MODELS = [
    pytest.param(lambda: nk.models.RBM(alpha=1), "real", id="real-rbm"),
    pytest.param(lambda: nk.models.RBMModPhase(alpha=1), "complex", id="complex-logpsi"),
    pytest.param(
        lambda: nk.models.RBM(alpha=1, param_dtype=complex), "complex", id="complex-params"
    ),
]


def _mcstate(chain, model, n_samples=64, seed=1):
    hi, g, _ = chain
    sampler = nk.sampler.MetropolisExchange(hi, graph=g, n_chains=8)
    return nk.vqs.MCState(
        sampler, model, n_samples=n_samples, chunk_size=32, seed=seed, sampler_seed=seed + 1
    )


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


@pytest.mark.parametrize("make_model,mode", MODELS)
def test_sr_equals_minsr_on_same_samples(chain, make_model, mode):
    vs = _mcstate(chain, make_model())
    vs.sample()
    H = chain[2]
    updates = {}
    for use_ntk in (False, True):
        drv = nfv.driver.VMC_SR(
            H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-3, use_ntk=use_ntk
        )
        assert drv.mode == mode
        updates[use_ntk] = _flat(drv.compute_loss_and_update()[1])
    scale = np.abs(updates[False]).max()
    np.testing.assert_allclose(updates[True], updates[False], rtol=0, atol=1e-8 * scale)


@pytest.mark.parametrize("make_model,mode", MODELS)
@pytest.mark.parametrize("use_ntk", [pytest.param(False, id="sr"), pytest.param(True, id="minsr")])
@pytest.mark.parametrize(
    "momentum", [pytest.param(None, id="plain"), pytest.param(0.8, id="spring")]
)
def test_update_equals_netket(chain, make_model, mode, use_ntk, momentum):
    vs = _mcstate(chain, make_model())
    vs.sample()
    H = chain[2]
    kw = dict(variational_state=vs, diag_shift=1e-3, use_ntk=use_ntk, momentum=momentum)
    ours = nfv.driver.VMC_SR(H, optax.sgd(0.01), **kw)
    ref = nk.driver.VMC_SR(H, optax.sgd(0.01), on_the_fly=False, **kw)
    # Twice on the same samples: the second call exercises the SPRING buffer.
    for _ in range(2 if momentum else 1):
        stats, dp = ours.compute_loss_and_update()
        ref_stats, ref_dp = ref.compute_loss_and_update()
        a, b = _flat(dp), _flat(ref_dp)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8 * np.abs(b).max())
        np.testing.assert_allclose(stats.mean, ref_stats.mean, rtol=1e-12)
        np.testing.assert_allclose(stats.error_of_mean, ref_stats.error_of_mean, rtol=1e-10)
        np.testing.assert_allclose(stats.R_hat, ref_stats.R_hat, rtol=1e-10)


@pytest.mark.parametrize("make_model,mode", MODELS)
def test_gradient_equals_exact_gradient_with_full_sum(chain, make_model, mode):
    """With a full sum over the Hilbert space, X^T f is the exact energy gradient."""
    hi, _, H = chain
    vs = nk.vqs.FullSumState(hi, make_model(), seed=3)
    drv = nfv.driver.VMC_SR(H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-3)
    X, f = drv.jacobian_and_rhs()
    grad = np.asarray(sr_solves.energy_gradient(X, f))

    H_dense = jnp.asarray(H.to_dense())
    states = hi.all_states()
    flat, unravel = ravel_pytree(vs.parameters)
    is_complex = jnp.iscomplexobj(flat)

    def energy(x):
        p = unravel(x[: flat.size] + 1j * x[flat.size :]) if is_complex else unravel(x)
        psi = jnp.exp(vs._apply_fun({"params": p, **vs.model_state}, states))
        return jnp.real(jnp.vdot(psi, H_dense @ psi) / jnp.vdot(psi, psi))

    x0 = jnp.concatenate([flat.real, flat.imag]) if is_complex else flat
    exact = np.asarray(jax.grad(energy)(x0))
    np.testing.assert_allclose(grad, exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())

    # The driver's energy is the exact one.
    stats, _ = drv.compute_loss_and_update()
    np.testing.assert_allclose(stats.mean.real, energy(x0), rtol=1e-12)


def test_automatic_choice_counts_real_rows(chain):
    H = chain[2]
    # RBMModPhase, alpha=1: 2 * (8 + 64) = 144 real parameters; complex log psi.
    vs = _mcstate(chain, nk.models.RBMModPhase(alpha=1), n_samples=64)
    drv = nfv.driver.VMC_SR(H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-3)
    assert drv.n_real_rows == 128 and drv.n_real_parameters == 144 and drv.use_ntk
    vs = _mcstate(chain, nk.models.RBMModPhase(alpha=1), n_samples=96)
    drv = nfv.driver.VMC_SR(H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-3)
    assert drv.n_real_rows == 192 and not drv.use_ntk
    forced = nfv.driver.VMC_SR(
        H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-3, use_ntk=True
    )
    assert forced.use_ntk


def test_run_logs_schedules_and_does_not_recompile(chain):
    H = chain[2]
    vs = _mcstate(chain, nk.models.RBMModPhase(alpha=1))
    shift = optax.exponential_decay(1e-2, transition_steps=1, decay_rate=0.5)
    lr = optax.linear_schedule(0.05, 0.01, transition_steps=4)
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)  # logs its learning rate
    drv = nfv.driver.VMC_SR(H, opt, variational_state=vs, diag_shift=shift, momentum=0.5)
    log = nk.logging.RuntimeLog()
    drv.run(1, out=log, show_progress=False)
    sizes = (step_inputs.jacobian_rows._cache_size(), sr_solves.solve_update._cache_size())
    drv.run(3, out=log, show_progress=False)
    assert (step_inputs.jacobian_rows._cache_size(), sr_solves.solve_update._cache_size()) == sizes

    data = log.data
    np.testing.assert_allclose(data["diag_shift"].value, [shift(i) for i in range(4)], rtol=1e-12)
    np.testing.assert_allclose(data["learning_rate"].value, [lr(i) for i in range(4)], rtol=1e-6)
    assert np.all(data["update_norm"].value > 0)
    for key in ("sampling", "local_energies", "jacobian", "solve", "total"):
        assert np.all(data["timing"][key].value >= 0)
    for key in ("Mean", "Sigma", "Variance", "R_hat"):
        assert key in data["Energy"]
    assert not np.any(data["solver_fallback"].value)


def test_logs_energy_per_site_and_relative_error():
    system = nfv.systems.j1j2(4, J2=0.5)
    sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
    vs = nk.vqs.MCState(sampler, nk.models.RBM(alpha=1), n_samples=64, seed=0, sampler_seed=0)
    drv = nfv.driver.VMC_SR(
        system.hamiltonian, optax.sgd(0.01), variational_state=vs, diag_shift=1e-2, system=system
    )
    log = nk.logging.RuntimeLog()
    drv.run(2, out=log, show_progress=False)
    e = log.data["Energy"]["Mean"].real
    np.testing.assert_allclose(log.data["energy_per_site"].value, e / 16, rtol=1e-12)
    ref = nfv.systems.exact_energy(system)
    np.testing.assert_allclose(
        log.data["relative_error"].value, np.abs((e / 16 - ref) / ref), rtol=1e-12
    )


def _nan_unless_large_shift(threshold):
    def solver(A, b):
        x, info = sr_solves.cholesky_with_fallback(A, b)
        bad = jnp.min(jnp.diag(A)) < threshold
        return jnp.where(bad, jnp.nan, x), info

    return solver


def test_non_finite_update_is_retried_with_larger_shift(chain, tmp_path):
    H = chain[2]
    vs = _mcstate(chain, nk.models.RBM(alpha=1))
    # NaN below a shift of 0.5: with 1e-3 x 10^k the third retry (1.0) succeeds.
    drv = nfv.driver.VMC_SR(
        H,
        optax.sgd(0.01),
        variational_state=vs,
        diag_shift=1e-3,
        linear_solver=_nan_unless_large_shift(0.5),
    )
    log = nk.logging.RuntimeLog()
    drv.run(1, out=log, show_progress=False)
    assert log.data["retries"].value[0] == 3
    np.testing.assert_allclose(log.data["diag_shift"].value[0], 1.0)
    assert np.all(np.isfinite(_flat(vs.parameters)))

    # Always NaN: a clear error, parameters untouched, the checkpoint left as it was.
    path = tmp_path / "ckpt.mpack"
    drv = nfv.driver.VMC_SR(
        H,
        optax.sgd(0.01),
        variational_state=vs,
        diag_shift=1e-3,
        linear_solver=_nan_unless_large_shift(np.inf),
        checkpoint_path=path,
    )
    drv.save_checkpoint()
    before = path.read_bytes()
    params = _flat(vs.parameters)
    with pytest.raises(nfv.driver.NonFiniteUpdateError, match="not finite after 3 retries"):
        drv.run(2, show_progress=False)
    np.testing.assert_array_equal(_flat(vs.parameters), params)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "kwargs,match",
    [
        pytest.param(dict(diag_shift=-1e-3), "non-negative", id="negative-shift"),
        pytest.param(dict(diag_shift=float("nan")), "finite", id="nan-shift"),
        pytest.param(dict(diag_shift=lambda step: -1.0), "at step 0", id="bad-schedule"),
        pytest.param(dict(diag_shift=1e-3, momentum=1.5), r"\[0, 1\]", id="momentum-above-one"),
        pytest.param(dict(diag_shift=1e-3, momentum=-0.1), r"\[0, 1\]", id="momentum-negative"),
        pytest.param(dict(diag_shift=1e-3, chunk_size_bwd=0), "chunk_size_bwd", id="chunk"),
        pytest.param(dict(diag_shift=1e-3, checkpoint_every=5), "checkpoint_path", id="no-path"),
    ],
)
def test_bad_input(chain, kwargs, match):
    vs = _mcstate(chain, nk.models.RBM(alpha=1))
    with pytest.raises(ValueError, match=match):
        nfv.driver.VMC_SR(chain[2], optax.sgd(0.01), variational_state=vs, **kwargs)
    assert vs._samples is None  # refused before sampling


def test_hilbert_mismatch_is_refused(chain):
    vs = _mcstate(chain, nk.models.RBM(alpha=1))
    other = nk.hilbert.Spin(0.5, N_SITES + 2, total_sz=0)
    H = nk.operator.Heisenberg(other, nk.graph.Chain(N_SITES + 2))
    with pytest.raises(ValueError, match="same Hilbert space"):
        nfv.driver.VMC_SR(H, optax.sgd(0.01), variational_state=vs, diag_shift=1e-3)


def test_schedule_turning_bad_stops_before_the_step(chain):
    vs = _mcstate(chain, nk.models.RBM(alpha=1))
    drv = nfv.driver.VMC_SR(
        chain[2],
        optax.sgd(0.01),
        variational_state=vs,
        diag_shift=lambda step: 1e-3 if step < 1 else -1.0,
    )
    with pytest.raises(ValueError, match="at step 1"):
        drv.run(2, show_progress=False)
    assert drv.step_count == 1

"""The SR / minSR algebra as pure functions: identities, distributed form, solver."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from netket_factored_vit.distributed import Collectives
from netket_factored_vit.driver import (
    centre_and_scale,
    cholesky_with_fallback,
    energy_gradient,
    gram,
    minsr_update,
    sr_update,
)


class AxisCollectives(Collectives):
    """Simulated ranks: collectives over a named ``jax.vmap`` axis."""

    def __init__(self, size: int, axis: str = "ranks"):
        self.size = size
        self.axis = axis

    @property
    def rank(self):
        return jax.lax.axis_index(self.axis)

    def sum(self, x):
        return jax.tree.map(lambda a: jax.lax.psum(a, self.axis), x)

    def all_to_all(self, x):
        return jax.lax.all_to_all(x, self.axis, 0, 0)

    def all_gather(self, x):
        return jax.tree.map(lambda a: jax.lax.all_gather(a, self.axis), x)

    def bcast(self, x, root: int = 0):
        return jax.tree.map(lambda a: jax.lax.all_gather(a, self.axis)[root], x)


def _random_inputs(n_samples, n_params, mode, seed=0):
    rng = np.random.default_rng(seed)
    if mode == "complex":
        jac = rng.normal(size=(n_samples, 2, n_params))
        eloc = rng.normal(size=n_samples) + 1j * rng.normal(size=n_samples)
    else:
        jac = rng.normal(size=(n_samples, n_params))
        eloc = rng.normal(size=n_samples)
    return jnp.asarray(jac), jnp.asarray(eloc)


@pytest.mark.parametrize(
    "mode", [pytest.param("real", id="real"), pytest.param("complex", id="complex")]
)
@pytest.mark.parametrize(
    "n_samples,n_params",
    [pytest.param(12, 30, id="wide"), pytest.param(40, 7, id="tall")],
)
@pytest.mark.parametrize(
    "momentum", [pytest.param(None, id="plain"), pytest.param(0.7, id="spring")]
)
def test_sr_equals_minsr(mode, n_samples, n_params, momentum):
    jac, eloc = _random_inputs(n_samples, n_params, mode)
    X, f, _ = centre_and_scale(jac, eloc, mode=mode)
    old = jnp.asarray(np.random.default_rng(1).normal(size=n_params)) if momentum else None
    kw = dict(diag_shift=1e-2, momentum=momentum, old_updates=old)
    d_sr, old_sr, _ = jax.jit(partial(sr_update, **kw))(X, f)
    d_min, old_min, _ = jax.jit(partial(minsr_update, **kw))(X, f)
    np.testing.assert_allclose(d_sr, d_min, rtol=0, atol=1e-8 * np.abs(d_sr).max())
    if momentum:
        np.testing.assert_allclose(old_sr, d_sr)
        np.testing.assert_allclose(old_min, d_min)


def test_centre_and_scale_centres_and_scales():
    jac, eloc = _random_inputs(16, 5, "complex")
    X, f, mean = jax.jit(partial(centre_and_scale, mode="complex"))(jac, eloc)
    assert X.shape == (32, 5) and f.shape == (32,)
    np.testing.assert_allclose(mean, eloc.mean())
    # Rows interleave (Re, Im) of each sample; each part sums to zero once centred.
    np.testing.assert_allclose(X[0::2].sum(0), 0, atol=1e-12)
    np.testing.assert_allclose(X[1::2].sum(0), 0, atol=1e-12)
    O = jac[:, 0] + 1j * jac[:, 1]
    dO = O - O.mean(0)
    expected_grad = 2 * np.real(dO.conj().T @ (eloc - eloc.mean())) / 16
    np.testing.assert_allclose(energy_gradient(X, f), expected_grad, rtol=1e-12)
    # Uniform weights are the same as no weights.
    Xw, fw, _ = centre_and_scale(jac, eloc, mode="complex", weights=jnp.full(16, 3.0))
    np.testing.assert_allclose(Xw, X, rtol=1e-12)
    np.testing.assert_allclose(fw, f, rtol=1e-12)


@pytest.mark.parametrize("use_ntk", [pytest.param(True, id="minsr"), pytest.param(False, id="sr")])
@pytest.mark.parametrize(
    "n_ranks,n_params",
    [pytest.param(2, 10, id="2ranks-even"), pytest.param(3, 10, id="3ranks-padded")],
)
def test_simulated_ranks_equal_single_process(use_ntk, n_ranks, n_params):
    """The distributed form (all-to-all, column blocks, gather) on simulated ranks."""
    n_per_rank = 4
    jac, eloc = _random_inputs(n_ranks * n_per_rank, n_params, "complex", seed=3)
    old = jnp.asarray(np.random.default_rng(4).normal(size=n_params))
    X, f, _ = centre_and_scale(jac, eloc, mode="complex")
    update = minsr_update if use_ntk else sr_update
    kw = dict(diag_shift=1e-3, momentum=0.5, old_updates=old)
    expected, _, _ = jax.jit(partial(update, **kw))(X, f)

    coll = AxisCollectives(n_ranks)

    def per_rank(jac_r, eloc_r):
        X_r, f_r, _ = centre_and_scale(jac_r, eloc_r, mode="complex", collectives=coll)
        d, _, _ = update(X_r, f_r, **kw, collectives=coll)
        return d

    shape = (n_ranks, n_per_rank)
    got = jax.jit(jax.vmap(per_rank, axis_name="ranks"))(
        jac.reshape(*shape, *jac.shape[1:]), eloc.reshape(shape)
    )
    for r in range(n_ranks):
        np.testing.assert_allclose(got[r], expected, rtol=1e-10, atol=1e-12)


def test_cholesky_fallback_on_indefinite_matrix():
    rng = np.random.default_rng(0)
    V = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    w = np.array([3.0, 2.0, 1.0, 0.5, 0.0, -1e-3])  # not positive definite
    A = jnp.asarray(V @ np.diag(w) @ V.T)
    b = jnp.asarray(V[:, :4] @ rng.normal(size=4))  # in the well-conditioned range
    x, info = cholesky_with_fallback(A, b)
    assert bool(info["solver_fallback"])
    np.testing.assert_allclose(x, np.linalg.pinv(A, rcond=1e-8) @ b, rtol=1e-10, atol=1e-12)

    A_pd = A + 2 * jnp.eye(6)
    x, info = cholesky_with_fallback(A_pd, b)
    assert not bool(info["solver_fallback"])
    np.testing.assert_allclose(A_pd @ x, b, atol=1e-12)


@pytest.mark.parametrize(
    "n_rows", [pytest.param(100, id="one-block"), pytest.param(1000, id="uneven-blocks")]
)
def test_block_symmetric_gram(n_rows):
    A = jnp.asarray(np.random.default_rng(5).normal(size=(n_rows, 37)))
    T = jax.jit(gram)(A)
    np.testing.assert_allclose(T, A @ A.T, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(T, T.T)

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit.models import T5Attention, ViT


def _configs(n_samples, n_sites, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.choice([-1.0, 1.0], size=(n_samples, n_sites)))


def _model(attention, shape=(4, 4), layers=2):
    return ViT(lattice_shape=shape, d_model=8, num_heads=2, num_layers=layers, attention=attention)


class ScaledT5Attention(T5Attention):
    """T5 weights times a constant: the same input dependence by scale-freeness."""

    scale: float = 1.0

    def attention_weights(self, x):
        return self.scale * super().attention_weights(x)


def _reference(alpha):
    """The docstring's formula written directly on the (L, B, H, n, n) maps."""
    alpha = np.asarray(alpha)
    spread = alpha.std(axis=1).sum(axis=(-2, -1))
    size = np.abs(alpha).mean(axis=1).sum(axis=(-2, -1))
    return spread / size


def test_factored_is_exactly_zero():
    model = _model("factored", shape=(4, 6))
    x = _configs(20, 24)
    params = model.init(jax.random.key(0), x)
    dependence = nfv.analysis.input_dependence(model, params, x, chunk_size=7)
    assert dependence.shape == (2, 2) and dependence.dtype == np.float64
    np.testing.assert_array_equal(dependence, 0.0)


@pytest.mark.parametrize("attention", ["t5", "decoupled"])
def test_query_key_attention_depends_on_input_and_matches_formula(attention):
    model = _model(attention, shape=(4, 6), layers=3)
    x = _configs(20, 24)
    params = model.init(jax.random.key(0), x)
    dependence = nfv.analysis.input_dependence(model, params, x, chunk_size=7)
    assert dependence.shape == (3, 2)
    assert np.all(dependence > 1e-3)
    expected = _reference(nfv.analysis.attention_maps(model, params, x))
    np.testing.assert_allclose(dependence, expected, rtol=1e-10)
    # chains of samples, as in vstate.samples, are merged
    chains = nfv.analysis.input_dependence(model, params, x.reshape(4, 5, 24), chunk_size=7)
    np.testing.assert_array_equal(chains, dependence)


def test_scale_free():
    # one layer: scaling its weights changes what later layers would see
    x = _configs(16, 16)
    one = _model(ScaledT5Attention(scale=1.0), layers=1)
    params = one.init(jax.random.key(3), x)
    three = _model(ScaledT5Attention(scale=-3.0), layers=1)
    d_one = nfv.analysis.input_dependence(one, params, x)
    d_three = nfv.analysis.input_dependence(three, params, x)
    assert np.all(d_one > 1e-3)
    np.testing.assert_allclose(d_three, d_one, rtol=1e-12)


def test_invariant_under_patch_translation_of_the_configurations():
    # alpha(T sigma) is alpha(sigma) with its tokens permuted; the measure sums over pairs
    model = _model("decoupled")
    x = _configs(16, 16)
    params = model.init(jax.random.key(2), x)
    shifted = np.roll(np.asarray(x).reshape(-1, 4, 4), (2, 2), axis=(1, 2)).reshape(-1, 16)
    np.testing.assert_allclose(
        nfv.analysis.input_dependence(model, params, shifted),
        nfv.analysis.input_dependence(model, params, x),
        rtol=1e-10,
    )


def test_needs_two_configurations():
    model = _model("t5")
    x = _configs(1, 16)
    params = model.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="at least 2 configurations"):
        nfv.analysis.input_dependence(model, params, x)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        nfv.analysis.input_dependence(model, params, _configs(4, 16), chunk_size=0)


def test_content_position_split_of_decoupled_attention():
    model = _model("decoupled", shape=(4, 6))
    x = _configs(12, 24)
    params = model.init(jax.random.key(0), x)["params"]
    split = nfv.analysis.content_position_split(model, params, x, chunk_size=5)
    assert set(split) == {"content", "position"}
    assert split["content"].shape == split["position"].shape == (2, 2)
    np.testing.assert_allclose(split["content"] + split["position"], 1.0, rtol=1e-14)
    assert np.all((split["content"] > 0) & (split["content"] < 1))

    # without queries and keys the softmax is uniform, 1/n, with Frobenius norm 1
    blank = jax.tree_util.tree_map_with_path(
        lambda path, p: (
            jnp.zeros_like(p)
            if any(getattr(k, "key", None) in ("query", "key") for k in path)
            else p
        ),
        params,
    )
    split = nfv.analysis.content_position_split(model, blank, x)
    for layer in range(2):
        table = np.asarray(params[f"block_{layer}"]["attention"]["positional_table"])
        # each displacement occurs n = 6 times in the n x n matrix
        position_norm = np.sqrt(6 * (table**2).sum(axis=-1))
        np.testing.assert_allclose(split["content"][layer], 1 / (1 + position_norm), rtol=1e-12)


@pytest.mark.parametrize("attention", ["factored", "t5"])
def test_content_position_split_refuses_other_attentions(attention):
    model = _model(attention)
    x = _configs(2, 16)
    params = model.init(jax.random.key(0), x)
    name = {"factored": "FactoredAttention", "t5": "T5Attention"}[attention]
    with pytest.raises(ValueError, match=f"DecoupledAttention.*uses {name}"):
        nfv.analysis.content_position_split(model, params, x)


def test_is_input_dependent():
    assert not nfv.analysis.is_input_dependent("factored")
    assert nfv.analysis.is_input_dependent("t5")
    assert nfv.analysis.is_input_dependent(nfv.models.DecoupledAttention())

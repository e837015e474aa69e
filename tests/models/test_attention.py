import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit.models import DecoupledAttention, FactoredAttention, T5Attention

PATCH_GRID = (2, 3)
N_TOKENS = 6
D_MODEL = 8
NUM_HEADS = 2


def _displacement_reference(px, py):
    """Positional index by explicit loops over token pairs."""
    n = px * py
    out = np.zeros((n, n), dtype=int)
    for i, j in itertools.product(range(n), range(n)):
        xi, yi = divmod(i, py)
        xj, yj = divmod(j, py)
        out[i, j] = ((xj - xi) % px) * py + (yj - yi) % py
    return out


def _build(cls, **kwargs):
    module = cls(d_model=D_MODEL, num_heads=NUM_HEADS, patch_grid=PATCH_GRID, **kwargs)
    x = jax.random.normal(jax.random.key(1), (3, N_TOKENS, D_MODEL))
    variables = module.init(jax.random.key(0), x)
    return module, variables, x


def _weights(module, variables, x):
    return module.apply(variables, x, method=type(module).attention_weights)


def _positional_reference(table):
    d = _displacement_reference(*PATCH_GRID)
    return np.asarray(table)[:, d]


def test_displacement_index_matches_loops():
    np.testing.assert_array_equal(
        nfv.models.displacement_index((3, 4)), _displacement_reference(3, 4)
    )


@pytest.mark.parametrize(
    "translation_invariant", [pytest.param(True, id="ti"), pytest.param(False, id="general")]
)
def test_factored_weights_are_input_independent(translation_invariant):
    module, variables, x = _build(FactoredAttention, translation_invariant=translation_invariant)
    x2 = jax.random.normal(jax.random.key(7), x.shape)
    a1 = _weights(module, variables, x)
    a2 = _weights(module, variables, x2)
    np.testing.assert_array_equal(a1, a2)
    table = variables["params"]["positional_table"]
    if translation_invariant:
        assert table.shape == (NUM_HEADS, N_TOKENS)
        np.testing.assert_array_equal(a1, _positional_reference(table))
    else:
        assert table.shape == (NUM_HEADS, N_TOKENS, N_TOKENS)
        np.testing.assert_array_equal(a1, table)


@pytest.mark.parametrize(
    "cls", [pytest.param(T5Attention, id="t5"), pytest.param(DecoupledAttention, id="decoupled")]
)
def test_query_key_weights_depend_on_input(cls):
    module, variables, x = _build(cls)
    a = _weights(module, variables, x)
    assert a.shape == (3, NUM_HEADS, N_TOKENS, N_TOKENS)
    assert np.max(np.abs(a[0] - a[1])) > 1e-3


def _zero_query_key(variables):
    params = dict(variables["params"])
    for name in ("query", "key"):
        params[name] = jax.tree.map(jnp.zeros_like, params[name])
    return {"params": params}


def test_t5_without_queries_and_keys_is_softmax_of_table():
    module, variables, x = _build(T5Attention)
    variables = _zero_query_key(variables)
    a = _weights(module, variables, x)
    logits = _positional_reference(variables["params"]["positional_table"])
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(a, np.broadcast_to(expected, a.shape), rtol=1e-14, atol=1e-15)


def test_decoupled_without_queries_and_keys_is_table_plus_uniform():
    module, variables, x = _build(DecoupledAttention)
    variables = _zero_query_key(variables)
    a = _weights(module, variables, x)
    expected = _positional_reference(variables["params"]["positional_table"]) + 1 / N_TOKENS
    np.testing.assert_allclose(a, np.broadcast_to(expected, a.shape), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(
    "cls",
    [
        pytest.param(FactoredAttention, id="factored"),
        pytest.param(T5Attention, id="t5"),
        pytest.param(DecoupledAttention, id="decoupled"),
    ],
)
def test_output_is_weighted_sum_of_values(cls):
    module, variables, x = _build(cls)
    y = module.apply(variables, x)
    p = variables["params"]
    a = np.asarray(_weights(module, variables, x))
    a = np.broadcast_to(a, (x.shape[0], *a.shape[-3:]))
    v = np.asarray(x) @ np.asarray(p["value"]["kernel"]) + np.asarray(p["value"]["bias"])
    dh = D_MODEL // NUM_HEADS
    heads = [a[:, mu] @ v[..., mu * dh : (mu + 1) * dh] for mu in range(NUM_HEADS)]
    expected = np.concatenate(heads, axis=-1) @ np.asarray(p["output"]["kernel"])
    expected = expected + np.asarray(p["output"]["bias"])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_standalone_attention_without_geometry_fails():
    x = jnp.ones((1, 4, 8))
    with pytest.raises(ValueError, match="patch_grid"):
        FactoredAttention(d_model=8, num_heads=2).init(jax.random.key(0), x)

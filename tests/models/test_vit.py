import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import pytest
from flax import linen as nn

import netket_factored_vit as nfv
from netket_factored_vit.models import FactoredAttention, T5Attention, ViT

ATTENTIONS = [
    pytest.param("factored", id="factored"),
    pytest.param("t5", id="t5"),
    pytest.param("decoupled", id="decoupled"),
]


def _configs(n_samples, n_sites, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.choice([-1.0, 1.0], size=(n_samples, n_sites)))


def _count(variables):
    return sum(int(np.size(leaf)) for leaf in jax.tree.leaves(variables["params"]))


def _formula(d, h, n_layers, n, attention, *, general=False):
    """The closed parameter-count formula, written out independently of the code."""
    table = h * n * n if general else h * n
    block = 10 * d**2 + 11 * d + table
    if attention != "factored":
        block += 2 * d**2 + 2 * d
    return 13 * d + 2 * d**2 + n_layers * block


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize(
    "shape, d, h, layers",
    [
        pytest.param((4, 4), 16, 2, 2, id="4x4-small"),
        pytest.param((6, 4), 12, 3, 1, id="6x4"),
    ],
)
def test_parameter_count_matches_formula(attention, shape, d, h, layers):
    model = ViT(lattice_shape=shape, d_model=d, num_heads=h, num_layers=layers, attention=attention)
    variables = model.init(jax.random.key(0), _configs(2, shape[0] * shape[1]))
    n = shape[0] * shape[1] // 4
    assert model.num_parameters == _formula(d, h, layers, n, attention)
    assert _count(variables) == model.num_parameters


def test_parameter_count_general_factored():
    attention = FactoredAttention(translation_invariant=False)
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=2, attention=attention)
    variables = model.init(jax.random.key(0), _configs(2, 16))
    assert model.num_parameters == _formula(8, 2, 2, 4, "factored", general=True)
    assert _count(variables) == model.num_parameters


def test_published_preset_has_published_size():
    model = nfv.models.vit_preset("published_10x10")
    assert (model.d_model, model.num_heads, model.num_layers, model.patch_size) == (72, 12, 8, 2)
    assert model.num_parameters == 434_760
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 100)))
    assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes)) == 434_760


def test_small_preset_and_overrides():
    model = nfv.models.vit_preset("small")
    assert model.num_parameters == 6_208
    t5 = nfv.models.vit_preset("small", lattice_shape=(6, 6), attention="t5")
    assert t5.lattice_shape == (6, 6)
    assert t5.num_parameters == _formula(16, 2, 2, 9, "t5")


def test_unknown_preset_lists_names():
    with pytest.raises(ValueError, match="published_10x10"):
        nfv.models.vit_preset("huge")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"lattice_shape": (6, 5)}, r"\(6, 5\)", id="lattice-not-multiple"),
        pytest.param({"lattice_shape": (4, 4), "patch_size": 3}, "patch_size=3", id="patch"),
        pytest.param({"d_model": 10, "num_heads": 3}, "d_model=10", id="heads"),
        pytest.param({"attention": "linear"}, "factored", id="attention-name"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViT(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"num_heads": 0}, "num_heads must be a positive integer, got 0", id="h0"),
        pytest.param({"d_model": 0, "num_heads": 1}, "d_model must be a positive", id="d0"),
        pytest.param({"num_heads": -2}, "num_heads must be a positive integer, got -2", id="h-2"),
        pytest.param({"num_layers": -1}, "num_layers must be a positive integer", id="l-1"),
        pytest.param({"num_layers": 0}, "num_layers must be a positive integer", id="l0"),
        pytest.param({"mlp_ratio": 0}, "mlp_ratio must be a positive integer", id="mlp0"),
        pytest.param({"patch_size": 0}, "patch_size must be a positive integer", id="b0"),
        pytest.param({"d_model": 8.0}, "d_model must be a positive integer, got 8.0", id="float"),
        pytest.param({"lattice_shape": (0, 4)}, r"lattice_shape must be two positive", id="L0"),
        pytest.param({"lattice_shape": (4, 4, 4)}, r"got \(4, 4, 4\)", id="3d"),
    ],
)
def test_every_size_is_checked_by_the_model(kwargs, message):
    """They gave a ZeroDivisionError, an MLIRError, or (num_layers=-1) a model whose
    num_parameters was -2024."""
    with pytest.raises(ValueError, match=message):
        ViT(**kwargs)


@pytest.mark.parametrize("fields", [dict(num_heads=0), dict(d_model=-4), dict(patch_grid=(0, 2))])
def test_an_attention_layer_on_its_own_checks_its_sizes(fields):
    layer = FactoredAttention(**{"d_model": 8, "num_heads": 2, "patch_grid": (2, 2), **fields})
    with pytest.raises(ValueError, match="must be"):
        layer.init(jax.random.key(0), jnp.ones((1, 4, 8)))


def test_no_deprecated_netket_names():
    """netket.nn.log_cosh is deprecated in favour of netket.nn.activation.log_cosh."""
    import subprocess
    import sys
    from pathlib import Path

    env = {"PYTHONPATH": str(Path(__file__).parents[2]), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", "import netket_factored_vit"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "netket_factored_vit" not in proc.stderr, proc.stderr


def test_the_spin_convention_is_documented():
    """0/1 occupations give other amplitudes without an error: the models say so."""
    for model in (ViT, nfv.models.Symmetrized):
        assert "0/1" in model.__doc__ and "2 * n - 1" in model.__doc__


def test_bad_input_length():
    model = ViT(lattice_shape=(4, 4))
    with pytest.raises(ValueError, match="length 9"):
        model.init(jax.random.key(0), jnp.ones((2, 9)))


def test_user_attention_instance_gets_parameters_per_layer():
    attention = T5Attention(translation_invariant=False)
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=2, attention=attention)
    params = model.init(jax.random.key(0), _configs(2, 16))["params"]
    t0 = params["block_0"]["attention"]["positional_table"]
    t1 = params["block_1"]["attention"]["positional_table"]
    assert t0.shape == t1.shape == (2, 4, 4)
    assert not np.allclose(t0, t1)
    q0 = params["block_0"]["attention"]["query"]["kernel"]
    q1 = params["block_1"]["attention"]["query"]["kernel"]
    assert not np.allclose(q0, q1)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_jit_vmap_chunks_and_batch_shapes(attention):
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1, attention=attention)
    x = _configs(5, 16)
    params = model.init(jax.random.key(0), x)
    out = model.apply(params, x)
    assert out.shape == (5,)
    assert jnp.iscomplexobj(out)
    np.testing.assert_allclose(jax.jit(model.apply)(params, x), out, rtol=1e-12)
    single = jax.vmap(lambda s: model.apply(params, s))(x)
    np.testing.assert_allclose(single, out, rtol=1e-12)
    np.testing.assert_allclose(model.apply(params, x.reshape(5, 1, 16)), out[:, None], rtol=1e-12)
    chunked = jax.jit(nk.jax.apply_chunked(model.apply, in_axes=(None, 0), chunk_size=2))
    np.testing.assert_allclose(chunked(params, x), out, rtol=1e-12)
    assert all(not jnp.iscomplexobj(p) for p in jax.tree.leaves(params))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_float32_agrees_with_float64(attention):
    kwargs = dict(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=2, attention=attention)
    m64 = ViT(**kwargs)
    m32 = ViT(param_dtype=jnp.float32, **kwargs)
    x = _configs(16, 16)
    p64 = m64.init(jax.random.key(0), x)
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), p64)
    shapes32 = jax.eval_shape(m32.init, jax.random.key(0), x)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(shapes32))
    out32 = jax.jit(m32.apply)(p32, x)
    assert out32.dtype == jnp.complex64
    out64 = jax.jit(m64.apply)(p64, x)
    np.testing.assert_allclose(out32, out64, rtol=2e-5, atol=2e-5)


@pytest.mark.slow
def test_chunked_mcstate_gradient_equals_unchunked():
    hi = nk.hilbert.Spin(0.5, 16, total_sz=0)
    graph = nk.graph.Grid(extent=[4, 4], pbc=True, max_neighbor_order=2)
    ham = nk.operator.Heisenberg(hi, graph, J=[0.25, 0.125], sign_rule=[False, False])
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1, attention="t5")
    sampler = nk.sampler.MetropolisExchange(hi, graph=graph, n_chains=8)
    vs = nk.vqs.MCState(sampler, model, n_samples=64, seed=0, sampler_seed=1)
    samples = vs.samples
    e_full, g_full = vs.expect_and_grad(ham)
    vs.chunk_size = 8
    np.testing.assert_array_equal(vs.samples, samples)
    e_chunk, g_chunk = vs.expect_and_grad(ham)
    np.testing.assert_allclose(e_chunk.mean, e_full.mean, rtol=1e-12)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), g_chunk, g_full
    )


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_attention_maps(attention):
    model = ViT(lattice_shape=(4, 6), d_model=8, num_heads=2, num_layers=3, attention=attention)
    x = _configs(4, 24)
    variables = model.init(jax.random.key(0), x)
    maps = nfv.models.attention_maps(model, variables, x)
    assert maps.shape == (3, 4, 2, 6, 6)
    # the same with the bare parameter tree, as in vstate.parameters
    np.testing.assert_array_equal(nfv.models.attention_maps(model, variables["params"], x), maps)
    table = np.asarray(variables["params"]["block_2"]["attention"]["positional_table"])
    d = nfv.models.displacement_index((2, 3))
    if attention == "factored":
        np.testing.assert_array_equal(maps[2], np.broadcast_to(table[:, d], maps[2].shape))
    else:
        assert np.max(np.abs(maps[2, 0] - maps[2, 1])) > 0
        if attention == "t5":
            np.testing.assert_allclose(maps.sum(-1), 1.0, rtol=1e-12)


def test_vit_initializers_reach_the_attention_layers():
    """A ViT built with an attention name hands its initializers to every layer; an
    attention instance keeps its own."""
    zeros = nn.initializers.zeros
    ones = nn.initializers.ones
    x = jnp.ones((1, 16))
    model = ViT(lattice_shape=(4, 4), kernel_init=zeros, positional_init=ones)
    params = model.init(jax.random.key(0), x)["params"]
    attention = params["block_0"]["attention"]
    assert np.all(attention["value"]["kernel"] == 0)
    assert np.all(attention["positional_table"] == 1)

    own = nfv.models.FactoredAttention(positional_init=zeros)
    params = ViT(lattice_shape=(4, 4), attention=own, positional_init=ones).init(
        jax.random.key(0), x
    )["params"]
    assert np.all(params["block_1"]["attention"]["positional_table"] == 0)
    assert np.any(params["block_1"]["attention"]["value"]["kernel"] != 0)


@pytest.mark.parametrize("name", ["xavier", "lecun"])
def test_named_initializations_set_the_vit_initializers(name):
    x = jnp.ones((1, 16))
    fields = nfv.models.INITIALIZATIONS[name]
    expected = ViT(lattice_shape=(4, 4), d_model=16, num_heads=2, num_layers=2, **fields)
    built = nfv.models.vit_preset("small", initialization=name)
    a = built.init(jax.random.key(3), x)
    b = expected.init(jax.random.key(3), x)
    assert jax.tree.all(jax.tree.map(lambda u, v: bool(np.array_equal(u, v)), a, b))


def test_unknown_initialization_lists_names():
    with pytest.raises(ValueError, match="xavier"):
        nfv.models.vit_preset("small", initialization="orthogonal")


def _marshall(states, lattice_shape):
    """Marshall's sign, written out: (-1)^(up spins on the sites of even x + y)."""
    lx, ly = lattice_shape
    on_a = [(i // ly + i % ly) % 2 == 0 for i in range(lx * ly)]
    return np.array([(-1) ** int(np.sum(np.asarray(s)[on_a] > 0)) for s in states])


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_marshall_signed_head_parameter_count(attention):
    model = ViT(lattice_shape=(4, 4), attention=attention, output="marshall-signed")
    variables = model.init(jax.random.key(0), _configs(2, 16))
    assert _count(variables) == model.num_parameters
    d = model.d_model
    assert ViT(lattice_shape=(4, 4), attention=attention).num_parameters - model.num_parameters == (
        d * d + 2 * d - 1
    )


def test_marshall_signed_head_starts_on_marshalls_sign_and_can_leave_it():
    """Real amplitudes, Marshall's sign at initialisation, and the sign factor s changing
    it: psi = M(sigma) s exp(sum log cosh v), checked against the formula."""
    shape = (4, 4)
    states = nk.hilbert.Spin(0.5, 16, total_sz=0).all_states()
    model = ViT(lattice_shape=shape, d_model=8, num_heads=2, num_layers=1, output="marshall-signed")
    variables = model.init(jax.random.key(1), states[:2])
    psi = np.exp(np.asarray(model.apply(variables, states)))
    marshall = _marshall(states, shape)
    assert np.max(np.abs(psi.imag)) <= 1e-12 * np.max(np.abs(psi))
    np.testing.assert_array_equal(np.sign(psi.real), marshall)

    params = jax.tree.map(lambda x: x, variables["params"])
    kernel = jax.random.normal(jax.random.key(2), params["sign"]["kernel"].shape)
    params["sign"] = {"kernel": kernel, "bias": jnp.asarray([0.1])}
    psi = np.exp(np.asarray(model.apply({"params": params}, states))).real
    z, v = _pooled_and_amplitude_features(model, params, states)
    s = z @ np.asarray(kernel)[:, 0] + 0.1
    expected = marshall * s * np.exp(np.sum(np.log(np.cosh(v)), axis=-1))
    np.testing.assert_allclose(psi, expected, rtol=1e-10)
    flipped = np.mean(np.sign(psi) != marshall)
    assert 0.05 < flipped < 0.95


def _pooled_and_amplitude_features(model, params, states):
    """``z`` and ``v`` of the marshall-signed head, captured from the model's own layers."""
    _, inter = model.apply(
        {"params": params}, states, capture_intermediates=True, mutable=["intermediates"]
    )
    inter = inter["intermediates"]
    z = np.asarray(inter["norm_pool"]["__call__"][0])
    v = np.asarray(inter["norm_real"]["__call__"][0])
    return z, v


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"output": "cosh"}, "'log-cosh', 'marshall-signed'", id="unknown"),
        pytest.param(
            {"output": "marshall-signed", "lattice_shape": (6, 3), "patch_size": 3},
            r"both sides even; lattice_shape=\(6, 3\)",
            id="odd-side",
        ),
    ],
)
def test_bad_output(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ViT(**kwargs)

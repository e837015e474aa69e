import jax
import jax.numpy as jnp
import numpy as np
import pytest

from netket_factored_vit.models import FactoredAttention, Symmetrized, ViT


def _configs(n_samples, shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(n_samples, shape[0] * shape[1]))


def _on_lattice(op, x, shape):
    """Apply a numpy operation on the (Lx, Ly) grid of every configuration."""
    grid = x.reshape(-1, *shape)
    return np.stack([op(g) for g in grid]).reshape(x.shape)


def _translation(dx, dy):
    return lambda g: np.roll(g, (dx, dy), axis=(0, 1))


SQUARE_POINT_GROUP = {
    "rot90": lambda g: np.rot90(g, 1),
    "rot180": lambda g: np.rot90(g, 2),
    "rot270": lambda g: np.rot90(g, 3),
    "mirror-x": lambda g: g[::-1, :],
    "mirror-y": lambda g: g[:, ::-1],
    "diagonal": lambda g: g.T,
    "antidiagonal": lambda g: np.rot90(g, 2).T,
}
RECTANGLE_POINT_GROUP = {k: SQUARE_POINT_GROUP[k] for k in ("rot180", "mirror-x", "mirror-y")}

MODELS = [
    pytest.param("factored", id="factored"),
    pytest.param("t5", id="t5"),
    pytest.param("decoupled", id="decoupled"),
    pytest.param(FactoredAttention(translation_invariant=False), id="factored-general"),
]


def _model(shape, attention):
    return ViT(lattice_shape=shape, d_model=8, num_heads=2, num_layers=2, attention=attention)


@pytest.mark.parametrize("attention", MODELS[:3])
def test_invariant_under_patch_translations(attention):
    shape = (4, 6)
    model = _model(shape, attention)
    x = _configs(8, shape)
    params = model.init(jax.random.key(0), jnp.asarray(x))
    ref = np.asarray(model.apply(params, jnp.asarray(x)))
    for dx, dy in [(2, 0), (0, 2), (2, 4), (0, 4)]:
        y = _on_lattice(_translation(dx, dy), x, shape)
        np.testing.assert_allclose(model.apply(params, jnp.asarray(y)), ref, rtol=0, atol=1e-10)
    # a single-site shift is not a symmetry of the bare network
    y = _on_lattice(_translation(1, 0), x, shape)
    assert np.max(np.abs(np.asarray(model.apply(params, jnp.asarray(y))) - ref)) > 1e-4


def test_general_factored_is_not_translation_invariant():
    shape = (4, 4)
    model = _model(shape, MODELS[3].values[0])
    x = _configs(8, shape)
    params = model.init(jax.random.key(0), jnp.asarray(x))
    ref = np.asarray(model.apply(params, jnp.asarray(x)))
    y = _on_lattice(_translation(2, 0), x, shape)
    assert np.max(np.abs(np.asarray(model.apply(params, jnp.asarray(y))) - ref)) > 1e-4


def _jitted_projection(sym, params):
    """``sym.apply`` with the wrapped model's ``params``, jitted."""
    sym_params = {"params": {"model": params["params"]}}
    return jax.jit(lambda s: sym.apply(sym_params, s))


def _max_change(fn, x, op, shape):
    ref = np.asarray(fn(jnp.asarray(x)))
    out = np.asarray(fn(jnp.asarray(_on_lattice(op, x, shape))))
    return np.max(np.abs(out - ref))


@pytest.mark.parametrize("attention", MODELS[:3])
def test_symmetrized_square_is_space_group_invariant(attention):
    shape = (4, 4)
    model = _model(shape, attention)
    sym = Symmetrized(model=model)
    assert sym.permutations.shape == (32, 16)
    x = _configs(6, shape)
    params = model.init(jax.random.key(0), jnp.asarray(x))
    bare = jax.jit(lambda s: model.apply(params, s))
    projected = _jitted_projection(sym, params)

    ops = {f"shift-{dx}{dy}": _translation(dx, dy) for dx in range(4) for dy in range(4)}
    ops.update(SQUARE_POINT_GROUP)
    ops["rot90-shift"] = lambda g: np.rot90(np.roll(g, (1, 3), axis=(0, 1)))
    for name, op in ops.items():
        assert _max_change(projected, x, op, shape) < 1e-10, name
    for name in ("shift-10", "shift-01", "rot90", "mirror-x", "diagonal"):
        assert _max_change(bare, x, SQUARE_POINT_GROUP.get(name, ops[name]), shape) > 1e-4, name


def test_symmetrized_rectangle_and_all_translations():
    shape = (4, 6)
    model = _model(shape, FactoredAttention(translation_invariant=False))
    sym = Symmetrized(model=model, translations="all")
    assert sym.permutations.shape == (4 * 24, 24)
    x = _configs(4, shape)
    params = model.init(jax.random.key(0), jnp.asarray(x))
    projected = _jitted_projection(sym, params)

    ops = {f"shift-{dx}{dy}": _translation(dx, dy) for dx in range(4) for dy in range(6)}
    ops.update(RECTANGLE_POINT_GROUP)
    for name, op in ops.items():
        assert _max_change(projected, x, op, shape) < 1e-10, name


@pytest.mark.parametrize(
    "shape, rotations, mirrors",
    [
        pytest.param((4, 4), ("rot90", "rot180", "rot270"), ("mirror-x", "diagonal"), id="square"),
        pytest.param((4, 6), ("rot180",), ("mirror-x", "mirror-y"), id="rectangle"),
    ],
)
def test_symmetrized_rotations_only(shape, rotations, mirrors):
    model = _model(shape, "factored")
    sym = Symmetrized(model=model, rotations_only=True)
    full = Symmetrized(model=model)
    # half the point group, a subset of its permutations
    assert 2 * sym.permutations.shape[0] == full.permutations.shape[0]
    assert {tuple(p) for p in sym.permutations} <= {tuple(p) for p in full.permutations}
    x = _configs(6, shape)
    params = model.init(jax.random.key(0), jnp.asarray(x))
    projected = _jitted_projection(sym, params)

    ops = {name: SQUARE_POINT_GROUP[name] for name in rotations}
    ops.update({f"shift-{dx}{dy}": _translation(dx, dy) for dx in range(2) for dy in range(2)})
    for name, op in ops.items():
        assert _max_change(projected, x, op, shape) < 1e-10, name
    for name in mirrors:
        assert _max_change(projected, x, SQUARE_POINT_GROUP[name], shape) > 1e-4, name


def test_symmetrized_is_the_group_average():
    shape = (4, 4)
    model = _model(shape, "t5")
    sym = Symmetrized(model=model, spin_flip=True, parity=-1)
    x = _configs(3, shape)
    params = model.init(jax.random.key(0), jnp.asarray(x))
    out = np.asarray(sym.apply({"params": {"model": params["params"]}}, jnp.asarray(x)))
    images = []
    for op in [lambda g: g, *SQUARE_POINT_GROUP.values()]:
        for dx in range(2):
            for dy in range(2):
                images.append(
                    _on_lattice(lambda g, op=op, s=(dx, dy): op(np.roll(g, s, (0, 1))), x, shape)
                )
    apply = jax.jit(model.apply)
    psi = np.stack([np.exp(np.asarray(apply(params, jnp.asarray(y)))) for y in images])
    psi_flip = np.stack([np.exp(np.asarray(apply(params, jnp.asarray(-y)))) for y in images])
    expected = (psi.sum(0) - psi_flip.sum(0)) / 64
    np.testing.assert_allclose(np.exp(out), expected, rtol=1e-10)
    # odd parity under the spin flip
    np.testing.assert_allclose(
        np.exp(np.asarray(sym.apply({"params": {"model": params["params"]}}, jnp.asarray(-x)))),
        -expected,
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"translations": "some"}, "some", id="translations"),
        pytest.param({"parity": 2}, "parity=2", id="parity"),
    ],
)
def test_symmetrized_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Symmetrized(model=_model((4, 4), "factored"), **kwargs)

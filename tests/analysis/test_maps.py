import jax
import jax.numpy as jnp
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit.models import Symmetrized, ViT


def _configs(n_samples, n_sites, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.choice([-1.0, 1.0], size=(n_samples, n_sites)))


def test_one_home_reexported_in_models():
    assert nfv.models.attention_maps is nfv.analysis.attention_maps


def test_symmetrized_model_is_read_through_the_model_it_wraps():
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=2, attention="t5")
    x = _configs(3, 16)
    params = model.init(jax.random.key(1), x)["params"]
    direct = nfv.analysis.attention_maps(model, params, x)
    sym = Symmetrized(model=model)
    wrapped = nfv.analysis.attention_maps(sym, {"params": {"model": params}}, x)
    assert wrapped.shape == (2, 3, 2, 4, 4)
    np.testing.assert_array_equal(wrapped, direct)


@pytest.mark.parametrize(
    "sigma", [pytest.param(np.ones(16), id="1d"), pytest.param(np.ones((1, 2, 16)), id="3d")]
)
def test_bad_configuration_shape_is_named(sigma):
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    params = model.init(jax.random.key(0), _configs(1, 16))
    with pytest.raises(ValueError, match=r"shape \(B, N\)"):
        nfv.analysis.attention_maps(model, params, sigma)


@pytest.mark.parametrize(
    "measure",
    [
        pytest.param(lambda m, v, s: nfv.analysis.attention_maps(m, v, s), id="attention_maps"),
        pytest.param(lambda m, v, s: nfv.analysis.input_dependence(m, v, s), id="input_dep"),
        pytest.param(lambda m, v, s: nfv.analysis.positional_profile(m, v, s), id="positional"),
        pytest.param(
            lambda m, v, s: nfv.analysis.non_marshall_fraction(m, v, s, (4, 4)), id="marshall"
        ),
    ],
)
def test_configurations_of_zeros_and_ones_are_refused(measure):
    """NetKet's Spin(0.5) is -1/+1; 0/1 occupations gave other amplitudes, and
    non_marshall_fraction 0.375, without an error."""
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    spins = _configs(8, 16)
    params = model.init(jax.random.key(0), spins)
    measure(model, params, spins)  # accepted
    with pytest.raises(ValueError, match=r"spins -1 and \+1 .* got the values 0, 1;"):
        measure(model, params, (spins + 1) / 2)

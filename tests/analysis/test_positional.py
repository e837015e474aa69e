import jax
import jax.numpy as jnp
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit.models import FactoredAttention, ViT


def _configs(n_samples, n_sites, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.choice([-1.0, 1.0], size=(n_samples, n_sites)))


def test_factored_profile_is_the_learned_table():
    # patch grid 2 x 3: a rectangle tells dx from dy
    model = ViT(lattice_shape=(4, 6), d_model=8, num_heads=2, num_layers=2)
    x = _configs(3, 24)
    params = model.init(jax.random.key(0), x)["params"]
    profile = nfv.analysis.positional_profile(model, params, x)
    assert profile.shape == (2, 2, 2, 3)
    for layer in range(2):
        table = np.asarray(params[f"block_{layer}"]["attention"]["positional_table"])
        np.testing.assert_allclose(profile[layer], table.reshape(2, 2, 3), rtol=1e-14)


@pytest.mark.parametrize(
    "attention",
    [
        pytest.param("t5", id="t5"),
        pytest.param("decoupled", id="decoupled"),
        pytest.param(FactoredAttention(translation_invariant=False), id="factored-general"),
    ],
)
def test_profile_matches_a_direct_average(attention):
    model = ViT(lattice_shape=(4, 6), d_model=8, num_heads=2, num_layers=2, attention=attention)
    x = _configs(5, 24)
    params = model.init(jax.random.key(1), x)
    profile = nfv.analysis.positional_profile(model, params, x, chunk_size=2)
    alpha = np.asarray(nfv.analysis.attention_maps(model, params, x)).mean(axis=1)
    expected = np.zeros((2, 2, 2, 3))
    for i in range(6):
        xi, yi = divmod(i, 3)
        for dx in range(2):
            for dy in range(3):
                j = ((xi + dx) % 2) * 3 + (yi + dy) % 3
                expected[:, :, dx, dy] += alpha[:, :, i, j] / 6
    np.testing.assert_allclose(profile, expected, rtol=1e-12, atol=1e-15)
    if attention == "t5":
        # softmax rows sum to one, so does the profile
        np.testing.assert_allclose(profile.sum(axis=(-2, -1)), 1.0, rtol=1e-12)

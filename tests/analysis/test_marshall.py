"""Marshall's sign rule: the exact weight against it and its Monte Carlo estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import netket_factored_vit as nfv
from netket_factored_vit.analysis import marshall_signs, non_marshall_fraction, non_marshall_weight
from netket_factored_vit.models import ViT


class MarshallWithFlips(nn.Module):
    """Marshall's sign times -1 where sites 0 and 1 are equal, a global phase, and
    random-looking moduli."""

    @nn.compact
    def __call__(self, x):
        on_a = jnp.asarray([(i // 4 + i % 4) % 2 == 0 for i in range(16)])
        up_on_a = jnp.sum((x > 0) & on_a, axis=-1)
        flipped = x[..., 0] == x[..., 1]
        modulus = 0.3 * jnp.sin(jnp.sum(x * jnp.arange(16), axis=-1))
        return modulus + 1j * (jnp.pi * (up_on_a + flipped) + 0.7)


def test_non_marshall_weight_is_the_weight_against_marshalls_sign():
    rng = np.random.default_rng(2)
    marshall = rng.choice([-1.0, 1.0], size=64)
    amplitudes = rng.uniform(0.1, 1.0, 64)
    against = rng.random(64) < 0.2
    psi = np.exp(-1.2j) * amplitudes * marshall * np.where(against, -1.0, 1.0)
    expected = np.sum(amplitudes[against] ** 2) / np.sum(amplitudes**2)
    assert 0 < expected < 0.5
    assert non_marshall_weight(psi, marshall) == pytest.approx(expected, rel=1e-12)
    assert non_marshall_weight(2j * marshall, marshall) == 0


def test_marshall_signs_count_up_spins_on_the_even_sublattice():
    up_on_a = np.array([[1, -1, -1, 1] + [-1] * 12])  # sites 0 (0,0) and 3 (0,3): A, B
    assert marshall_signs(up_on_a, (4, 4))[0] == -1
    assert marshall_signs(np.ones((1, 16)), (4, 4))[0] == 1  # 8 up spins on A
    assert marshall_signs(np.ones((1, 12)), (4, 3)) is None


def test_fraction_counts_the_samples_against_marshalls_sign():
    rng = np.random.default_rng(0)
    sigma = rng.choice([-1.0, 1.0], size=(500, 16))
    flipped = np.mean(sigma[:, 0] == sigma[:, 1])
    assert 0.3 < flipped < 0.5  # the aligned global phase is then Marshall's
    fraction = non_marshall_fraction(MarshallWithFlips(), {}, sigma, (4, 4))
    assert fraction == pytest.approx(flipped, abs=1e-12)
    unflipped = sigma[sigma[:, 0] != sigma[:, 1]]
    assert non_marshall_fraction(MarshallWithFlips(), {}, unflipped, (4, 4)) == 0


def test_fraction_of_exact_samples_estimates_the_exact_weight():
    system = nfv.systems.j1j2(4, 0.5)
    states = np.asarray(system.hilbert.all_states())
    model = ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    variables = model.init(jax.random.key(3), jnp.ones((1, 16)))
    log_psi = np.asarray(model.apply(variables, states))
    psi = np.exp(log_psi - log_psi.real.max())
    exact = non_marshall_weight(psi, marshall_signs(states, (4, 4)))
    probabilities = np.abs(psi) ** 2 / np.sum(np.abs(psi) ** 2)
    n = 20_000
    sigma = states[np.random.default_rng(1).choice(len(states), size=n, p=probabilities)]
    estimate = non_marshall_fraction(model, variables, sigma, (4, 4))
    assert 0.05 < exact < 0.5
    assert estimate == pytest.approx(exact, abs=5 * np.sqrt(exact * (1 - exact) / n))


@pytest.mark.parametrize(
    "sigma, lattice_shape, match",
    [
        (np.ones((4, 12)), (4, 3), r"both sides even; got lattice_shape=\(4, 3\)"),
        (np.ones((4, 12)), (4, 4), "configurations have 12 sites, but lattice_shape=.4, 4. has 16"),
        (np.ones(16), (4, 4), r"sigma must have shape \(\.\.\., N\), got shape \(16,\)"),
    ],
)
def test_fraction_refuses_bad_input(sigma, lattice_shape, match):
    with pytest.raises(ValueError, match=match):
        non_marshall_fraction(MarshallWithFlips(), {}, sigma, lattice_shape)

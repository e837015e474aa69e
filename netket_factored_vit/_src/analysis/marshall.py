r"""How far the sign of a state is from Marshall's sign rule.

On a bipartite lattice (both sides even, periodic) Marshall's rule gives the sign of
the ground state of the unfrustrated Heisenberg model,

.. math::

    s_M(\sigma) = (-1)^{N_\uparrow^A(\sigma)},

with :math:`N_\uparrow^A` the up spins on sublattice A (sites with :math:`x + y` even).
A frustrating coupling (:math:`J_2` of the J1-J2 model) moves weight onto configurations
of the other sign: 1.27% of the weight of the 4x4 ground state at :math:`J_2 = 0.5`.
A trained state that carries almost none of it has learned Marshall's sign and little
else, and the energy gives SR no first-order push out of such a real state.

The measure is the weight of the state on configurations whose sign, once the global
phase :math:`e^{i\theta}` is aligned with Marshall's sign, is the other one:

.. math::

    w = \frac{\sum_\sigma |\psi(\sigma)|^2\,
        \Theta\big(-s_M(\sigma)\,\mathrm{Re}[e^{-i\theta}\psi(\sigma)]\big)}
        {\sum_\sigma |\psi(\sigma)|^2},
    \qquad
    e^{i\theta} \propto \sum_\sigma |\psi(\sigma)|^2\, s_M(\sigma)\,
        \frac{\psi(\sigma)}{|\psi(\sigma)|}.

:func:`non_marshall_weight` computes it from the amplitudes on every basis state;
:func:`non_marshall_fraction` estimates it from samples of :math:`|\psi|^2`, where the
sums become means over the samples, so it works on lattices of any size.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
from flax import linen as nn

from netket_factored_vit._src.analysis.maps import check_configurations
from netket_factored_vit._src.systems.lattices import marshall_sublattice


def marshall_signs(states: np.ndarray, lattice_shape: tuple[int, int]) -> np.ndarray | None:
    r"""Marshall's sign :math:`(-1)^{N_\uparrow^A(\sigma)}` of each configuration, with
    :math:`N_\uparrow^A` the up spins on sublattice A (sites with :math:`x + y` even).

    None when a side is odd: the periodic lattice is then not bipartite.
    """
    lx, ly = lattice_shape
    if lx % 2 or ly % 2:
        return None
    on_a = marshall_sublattice(lx, ly)
    return np.where(np.sum(np.asarray(states)[:, on_a] > 0, axis=1) % 2, -1.0, 1.0)


def _weight_against(phases: np.ndarray, marshall: np.ndarray, weights: np.ndarray) -> float:
    """The weight, among ``weights``, of the unit ``phases`` that point against
    ``marshall`` once their common phase is aligned with it."""
    aligned_sum = np.sum(weights * marshall * phases)
    phase = aligned_sum / abs(aligned_sum) if abs(aligned_sum) > 0 else 1.0
    against = (phases / phase).real * marshall < 0
    return float(np.sum(weights[against]) / np.sum(weights))


def non_marshall_weight(psi: np.ndarray, marshall: np.ndarray) -> float:
    """The weight of the amplitudes ``psi`` (every basis state) against Marshall's
    signs ``marshall`` (see the module's formula)."""
    psi = np.asarray(psi)
    # exp(i arg psi), not psi / |psi|, which overflows for subnormal amplitudes
    return _weight_against(np.exp(1j * np.angle(psi)), np.asarray(marshall), np.abs(psi) ** 2)


@functools.lru_cache(maxsize=8)
def _jitted_apply(model: nn.Module):
    """``model.apply`` compiled once per model, so that a call every step costs no trace."""
    return jax.jit(model.apply)


def non_marshall_fraction(
    model: nn.Module,
    variables: Any,
    sigma: Any,
    lattice_shape: tuple[int, int],
    *,
    sampling_power: float = 2.0,
) -> float:
    r"""Monte Carlo estimate of the weight of a state against Marshall's sign.

    With ``sigma`` drawn from :math:`|\psi|^2` (the samples of a
    :class:`netket.vqs.MCState`), this is the fraction of the samples whose sign, after
    the global phase is aligned with Marshall's sign, is not Marshall's: an estimate of
    :math:`w` in the module's formula with a statistical error of about
    :math:`\sqrt{w / M}` for :math:`M` independent samples. Samples of
    :math:`|\psi|^p` (``sampling_power``, NetKet's ``machine_pow``) are reweighted by
    :math:`|\psi|^{2-p}`.

    Args:
        model: a module that returns complex log-amplitudes.
        variables: its variables (``vstate.variables``).
        sigma: configurations of shape ``(..., N)`` with values in :math:`\{-1, +1\}`;
            other values (0/1 occupations) are refused.
        lattice_shape: ``(Lx, Ly)``, both even.
        sampling_power: the power :math:`p` of :math:`|\psi|^p` that ``sigma`` was
            drawn from.

    Returns:
        The fraction, in :math:`[0, 1]`.

    Raises:
        ValueError: a bipartite lattice is needed, or ``sigma`` has the wrong shape or
            values other than :math:`\pm 1`.
    """
    lx, ly = lattice_shape
    if lx % 2 or ly % 2:
        raise ValueError(
            f"non_marshall_fraction: Marshall's sign needs a bipartite lattice, both sides "
            f"even; got lattice_shape={tuple(lattice_shape)}."
        )
    sigma = check_configurations(sigma, caller="non_marshall_fraction", flatten=True)
    if sigma.shape[1] != lx * ly:
        raise ValueError(
            f"non_marshall_fraction: configurations have {sigma.shape[1]} sites, but "
            f"lattice_shape={tuple(lattice_shape)} has {lx * ly}."
        )
    log_psi = np.asarray(_jitted_apply(model)(variables, sigma))
    phases = np.exp(1j * np.imag(log_psi))
    sigma = np.asarray(sigma)
    log_w = (2.0 - sampling_power) * np.real(log_psi)
    weights = np.exp(log_w - np.max(log_w))
    return _weight_against(phases, marshall_signs(sigma, lattice_shape), weights)

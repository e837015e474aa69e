r"""Exact diagnostics of a variational state on lattices small enough for Lanczos.

The state is evaluated on every basis state of the (possibly constrained) Hilbert
space and normalised there, then compared with the lowest eigenstates of the
Hamiltonian and measured with lattice symmetries and the total spin.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import netket as nk
import numpy as np
from flax import linen as nn

from netket_factored_vit._src.analysis.basis_permutations import (
    BasisIndex,
    c4_rotation,
    expectation,
    total_spin_squared,
    translation,
)
from netket_factored_vit._src.analysis.marshall import marshall_signs, non_marshall_weight
from netket_factored_vit._src.systems.references import MAX_EXACT_STATES, hilbert_dimension
from netket_factored_vit._src.systems.system import LatticeSystem

_DENSE_LIMIT = 512
"""Below this dimension the spectrum is found by dense diagonalisation instead of Lanczos."""

_DEGENERACY_TOLERANCE = 1e-7
"""Eigenvalues (total energies) closer than this form one degenerate level."""


def is_exact_feasible(system: LatticeSystem) -> bool:
    """Whether :func:`exact_diagnostics` accepts ``system``.

    True when the Hilbert space has at most
    :data:`~netket_factored_vit.systems.MAX_EXACT_STATES` states (about 20 spins in the
    :math:`S^z = 0` sector), the limit of the package's exact energies.
    """
    return hilbert_dimension(system) <= MAX_EXACT_STATES


def normalized_amplitudes(
    model: nn.Module, variables: Any, states: np.ndarray, *, chunk_size: int = 4096
) -> np.ndarray:
    r"""The normalised wave function :math:`\psi(\sigma) / \lVert\psi\rVert` on ``states``.

    The norm is the sum of :math:`|\psi(\sigma)|^2` over all of ``states`` (the whole
    Hilbert space when ``states = hilbert.all_states()``). The log-amplitudes are
    shifted by their largest real part before exponentiation, so large networks do not
    overflow.
    """
    if "params" not in variables:
        variables = {"params": variables}
    apply = jax.jit(model.apply)
    states = np.asarray(states)
    log_psi = []
    for start in range(0, len(states), chunk_size):
        batch = states[start : start + chunk_size]
        size = len(batch)
        if size < chunk_size and len(states) > chunk_size:
            # pad to one shape: a single compilation
            batch = np.concatenate([batch, states[: chunk_size - size]])
        log_psi.append(np.asarray(apply(variables, batch))[:size])
    log_psi = np.concatenate(log_psi).astype(np.complex128)
    largest = log_psi.real.max()
    if not np.isfinite(largest):
        raise ValueError(
            f"The state has no finite amplitude to normalise: the largest log-amplitude "
            f"over the {len(states)} basis states is {largest}."
        )
    psi = np.exp(log_psi - largest)
    return psi / np.linalg.norm(psi)


def _lowest_eigenpairs(hamiltonian, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` lowest eigenvalues (ascending) and eigenvectors (columns)."""
    dimension = hamiltonian.hilbert.n_states
    if dimension <= _DENSE_LIMIT or k >= dimension - 1:
        energies, vectors = np.linalg.eigh(np.asarray(hamiltonian.to_dense()))
    else:
        energies, vectors = nk.exact.lanczos_ed(hamiltonian, k=k, compute_eigenvectors=True)
    order = np.argsort(energies)[:k]
    return np.asarray(energies)[order], np.asarray(vectors)[:, order]


def _levels(energies: np.ndarray, overlaps: np.ndarray) -> tuple[list, list, list]:
    """Group degenerate eigenvalues; sum the overlaps within each level."""
    level_energies, degeneracies, level_overlaps = [], [], []
    for energy, overlap in zip(energies, overlaps, strict=True):
        if level_energies and abs(energy - level_energies[-1]) < _DEGENERACY_TOLERANCE:
            degeneracies[-1] += 1
            level_overlaps[-1] += overlap
        else:
            level_energies.append(energy)
            degeneracies.append(1)
            level_overlaps.append(overlap)
    return level_energies, degeneracies, level_overlaps


def _floats(values) -> list[float]:
    return [float(v) for v in np.asarray(values).ravel()]


def _check_n_states(n_states, dimension: int) -> int:
    if isinstance(n_states, bool) or not isinstance(n_states, numbers.Integral):
        raise ValueError(f"n_states must be a positive integer, got {n_states!r}.")
    if not 1 <= n_states <= dimension:
        raise ValueError(
            f"n_states={n_states} must be between 1 and the Hilbert-space dimension {dimension}."
        )
    return int(n_states)


def _check_lattice(system: LatticeSystem, model: nn.Module) -> None:
    shape = getattr(model, "lattice_shape", None)
    if shape is None and hasattr(model, "model"):
        shape = getattr(model.model, "lattice_shape", None)
    if shape is not None and tuple(shape) != tuple(system.lattice_shape):
        raise ValueError(
            f"The model is built for lattice_shape={tuple(shape)}, but {system.name} has "
            f"lattice_shape={tuple(system.lattice_shape)}."
        )


def variational_energy(system: LatticeSystem, model: nn.Module, variables: Any) -> dict:
    r"""The exact energy of the network's state, summed over the whole Hilbert space.

    No sampling: :math:`E = \langle\psi|H|\psi\rangle / \langle\psi|\psi\rangle` with
    :math:`\psi` evaluated on every basis state of ``system.hilbert``, and the variance
    :math:`\langle H^2\rangle - E^2`. Cheap where :func:`exact_diagnostics` is
    feasible (the 4x4 sector :math:`S^z = 0` has 12,870 states), with no eigensolver.

    Returns:
        ``{"energy_per_site": E / N, "energy_variance": ...}``.

    Raises:
        ValueError: as :func:`exact_diagnostics`, for a Hilbert space above
            :data:`~netket_factored_vit.systems.MAX_EXACT_STATES` states or a model built
            for another lattice.
    """
    energy, variance, _, _ = _energy_and_state(
        system, model, variables, caller="variational_energy"
    )
    return {"energy_per_site": energy / system.n_sites, "energy_variance": variance}


def _energy_and_state(system, model, variables, *, caller: str):
    dimension = hilbert_dimension(system)
    if dimension > MAX_EXACT_STATES:
        raise ValueError(
            f"{caller} refuses {system.name}: its Hilbert space has {dimension:,} "
            f"states, more than the limit of {MAX_EXACT_STATES:,} (about 20 spins in the "
            "Sz=0 sector)."
        )
    _check_lattice(system, model)
    states = np.asarray(system.hilbert.all_states())
    psi = normalized_amplitudes(model, variables, states)
    h_psi = system.hamiltonian.to_sparse() @ psi
    energy = float(np.vdot(psi, h_psi).real)
    variance = float(max(np.vdot(h_psi, h_psi).real - energy**2, 0.0))
    return energy, variance, states, psi


def _wrong_sign_weight(psi: np.ndarray, ground: np.ndarray) -> float:
    """The ground state's weight where ``psi``, phase-aligned with the real ``ground``,
    has the other sign (see :func:`exact_diagnostics`)."""
    overlap = np.vdot(ground, psi)
    phase = overlap / abs(overlap) if abs(overlap) > 0 else 1.0
    aligned = (psi / phase).real * ground.real
    return float(np.sum(np.abs(ground[aligned < 0]) ** 2) / np.sum(np.abs(ground) ** 2))


def exact_diagnostics(
    system: LatticeSystem, model: nn.Module, variables: Any, *, n_states: int = 6
) -> dict[str, Any]:
    r"""Compare a variational state with the exact low-energy spectrum of ``system``.

    The model is evaluated on every basis state of ``system.hilbert`` (the
    :math:`S^z` sector when the system has one) and normalised there, giving the exact
    state :math:`|\psi\rangle` of the network, without sampling. Then

    - its energy per site :math:`\langle\psi|H|\psi\rangle / N` and the variance
      :math:`\langle H^2\rangle - \langle H\rangle^2`;
    - the ``n_states`` lowest eigenvalues :math:`E_k / N` of :math:`H` (Lanczos) and the
      overlaps :math:`|\langle E_k|\psi\rangle|^2`; within a degenerate level only the sum
      of the overlaps is independent of the basis chosen for the level, so the levels
      are given too (the last one may be cut by ``n_states``);
    - the expectation values of a rotation :math:`C_4` by :math:`\pi/2` about site
      ``(0, 0)``, of the translation :math:`T_x` by one site along :math:`x`
      (:math:`(\hat g\psi)(\sigma) = \psi(g\sigma)`: site ``(x, y)`` of
      :math:`C_4\sigma` holds the spin of site ``(-y, x)``, of :math:`T_x\sigma` that of
      ``(x + 1, y)``), and of
      :math:`\mathbf{S}^2 = (\sum_i \mathbf{S}_i)^2` (spin 1/2, :math:`S(S+1)`), for the
      state and, to label the eigenstates with their quantum numbers, for each
      eigenvector. For instance a state in the ground state's sector of the 4x4 J1-J2
      model has :math:`\langle C_4\rangle = \langle T_x\rangle = 1` and
      :math:`\langle\mathbf{S}^2\rangle = 0`; a :math:`B_1` admixture lowers
      :math:`\langle C_4\rangle`;
    - the weight of the ground state :math:`g` on the configurations where the state has
      the other sign once its global phase :math:`\phi = \arg\langle g|\psi\rangle` is
      removed,
      :math:`w = \sum_{\sigma:\, \mathrm{Re}[e^{-i\phi}\psi(\sigma)]\, g(\sigma) < 0}
      g(\sigma)^2` (None when the lowest level is degenerate, so that :math:`g` is not
      unique). On the 4x4 J1-J2 model at :math:`J_2 = 0.5` trained states near a relative
      error of 2.5e-3 have :math:`w \approx 0.25\%`, states near 5e-3 about 1%: they are
      caught in a wrong sign structure;
    - the weight of the state on the configurations where it has the other sign than
      Marshall's rule :math:`M(\sigma) = (-1)^{N_\uparrow^A(\sigma)}` (up spins on the
      sublattice of even :math:`x + y`), its global phase
      :math:`\phi = \arg \sum_\sigma M(\sigma)\,\psi(\sigma)\,|\psi(\sigma)|` removed:
      :math:`\sum_{\sigma:\, \mathrm{Re}[e^{-i\phi}\psi(\sigma)]\, M(\sigma) < 0}
      |\psi(\sigma)|^2`, and the same for the ground state (None on a lattice with an odd
      side). Marshall's rule is exact at :math:`J_2 = 0`; at :math:`J_2 = 0.5` on 4x4 the
      ground state has 1.27% of its weight against it. A trained state with about
      :math:`10^{-6}` or less there follows Marshall's rule and misses the corrections.

    Args:
        system: a system of :mod:`netket_factored_vit.systems`, e.g. ``j1j2(4, J2=0.5)``.
        model: the wave function (a ViT, a :class:`~netket_factored_vit.models.Symmetrized`
            model, or any module returning log-amplitudes).
        variables: ``{"params": ...}`` or the bare parameter tree.
        n_states: number of eigenstates to compare with.

    Returns:
        A JSON-serialisable dict of floats, ints, lists and None:
        ``n_sites``, ``hilbert_dimension``, ``energy_per_site``, ``energy_variance``,
        ``relative_error`` (against the lowest eigenvalue), ``eigen_energies_per_site``,
        ``overlaps``, ``level_energies_per_site``, ``level_degeneracies``,
        ``level_overlaps``, ``c4_rotation`` and ``c4_rotation_imag`` (None on a
        rectangle), ``translation_x`` and ``translation_x_imag``, ``s2``, and per
        eigenvector ``eigen_c4_rotation`` (None on a rectangle), ``eigen_translation_x``
        and ``eigen_s2`` (real parts: the eigenvectors are real), and
        ``wrong_sign_weight``, ``non_marshall_weight`` and ``ground_non_marshall_weight``.

    Raises:
        ValueError: if the Hilbert space has more than
            :data:`~netket_factored_vit.systems.MAX_EXACT_STATES` states (see
            :func:`is_exact_feasible`), if ``n_states`` is not between 1 and its dimension,
            or if the model is built for another lattice.
    """
    dimension = hilbert_dimension(system)
    if dimension <= MAX_EXACT_STATES:
        n_states = _check_n_states(n_states, dimension)
    energy, variance, states, psi = _energy_and_state(
        system, model, variables, caller="exact_diagnostics"
    )
    n = system.n_sites

    eigen_energies, eigen_vectors = _lowest_eigenpairs(system.hamiltonian, n_states)
    overlaps = np.abs(eigen_vectors.conj().T @ psi) ** 2
    level_energies, degeneracies, level_overlaps = _levels(eigen_energies, overlaps)

    basis = BasisIndex(states)
    vectors = np.concatenate([psi[:, None], eigen_vectors.astype(np.complex128)], axis=1)
    t_x = expectation(vectors, basis.permuted(translation(system.lattice_shape, 1, 0)))
    square = system.lattice_shape[0] == system.lattice_shape[1]
    c4 = expectation(vectors, basis.permuted(c4_rotation(system.lattice_shape))) if square else None
    s2 = total_spin_squared(vectors, basis)

    ground = float(eigen_energies[0])
    marshall = marshall_signs(states, system.lattice_shape)
    return {
        "n_sites": int(n),
        "hilbert_dimension": int(dimension),
        "energy_per_site": energy / n,
        "energy_variance": variance,
        "relative_error": abs(energy - ground) / abs(ground) if ground != 0 else None,
        "eigen_energies_per_site": _floats(eigen_energies / n),
        "overlaps": _floats(overlaps),
        "level_energies_per_site": _floats(np.asarray(level_energies) / n),
        "level_degeneracies": [int(d) for d in degeneracies],
        "level_overlaps": _floats(level_overlaps),
        "c4_rotation": None if c4 is None else float(c4[0].real),
        "c4_rotation_imag": None if c4 is None else float(c4[0].imag),
        "translation_x": float(t_x[0].real),
        "translation_x_imag": float(t_x[0].imag),
        "s2": float(s2[0]),
        "eigen_c4_rotation": None if c4 is None else _floats(c4[1:].real),
        "eigen_translation_x": _floats(t_x[1:].real),
        "eigen_s2": _floats(s2[1:]),
        "wrong_sign_weight": (
            _wrong_sign_weight(psi, eigen_vectors[:, 0].real) if degeneracies[0] == 1 else None
        ),
        "non_marshall_weight": (None if marshall is None else non_marshall_weight(psi, marshall)),
        "ground_non_marshall_weight": (
            None
            if marshall is None or degeneracies[0] != 1
            else non_marshall_weight(eigen_vectors[:, 0], marshall)
        ),
    }

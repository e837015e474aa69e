"""Exact energies by Lanczos (small lattices) and published reference energies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import netket as nk
import numpy as np

from netket_factored_vit._src.systems.system import LatticeSystem

MAX_EXACT_STATES = 1_000_000
"""Largest Hilbert-space dimension :func:`exact_energy` accepts (a 20-site Sz=0 sector
has 184,756 states; 24 sites have 2.7 million and are refused)."""


@dataclass(frozen=True)
class ReferenceEnergy:
    """A published ground-state energy per site, in S.S units."""

    energy: float
    """Energy per site."""
    error: float | None
    """Quoted uncertainty of the last digits, or None for exact results."""
    method: str
    """How it was obtained (exact diagonalization, quantum Monte Carlo, variational)."""
    source: str
    """Citation."""


_SCHULZ = "Schulz, Ziman, Poilblanc, J. Phys. I 6, 675 (1996)"
_ED = "exact diagonalization"

# (Lx, Ly, J2/J1) -> best published energy per site at J1 = 1, periodic boundaries.
_J1J2_REFERENCES: dict[tuple[int, int, float], ReferenceEnergy] = {
    (4, 4, 0.0): ReferenceEnergy(
        -0.7017802,
        None,
        "exact diagonalization",
        "Schulz, Ziman, Poilblanc, J. Phys. I 6, 675 (1996)",
    ),
    (4, 4, 0.5): ReferenceEnergy(
        -0.52862021,
        None,
        "exact diagonalization",
        "Schulz, Ziman, Poilblanc, J. Phys. I 6, 675 (1996)",
    ),
    (6, 6, 0.0): ReferenceEnergy(
        -0.67887215,
        None,
        "exact diagonalization",
        "Schulz, Ziman, Poilblanc, J. Phys. I 6, 675 (1996)",
    ),
    (6, 6, 0.5): ReferenceEnergy(
        -0.50380965,
        None,
        "exact diagonalization",
        "Schulz, Ziman, Poilblanc, J. Phys. I 6, 675 (1996)",
    ),
    (10, 10, 0.0): ReferenceEnergy(
        -0.671549,
        4e-6,
        "quantum Monte Carlo (stochastic series expansion)",
        "Sandvik, Phys. Rev. B 56, 11678 (1997)",
    ),
    (10, 10, 0.5): ReferenceEnergy(
        -0.4976921,
        4e-7,
        "variational: deep ResNet + minSR",
        "Chen & Heyl, Nat. Phys. 20, 1476 (2024)",
    ),
}


DIMER_PHASE_MAX_RATIO = 0.6
"""Largest ``J/J'`` at which :func:`reference_energy` takes the dimer product state as the
Shastry-Sutherland ground state. The dimer phase extends to ``J/J' = 0.675(2)`` in the
thermodynamic limit (Corboz & Mila, Phys. Rev. B 87, 115144 (2013)); the margin keeps
finite tori well inside it."""


def reference_energy(system: LatticeSystem) -> ReferenceEnergy | None:
    """Best published ground-state energy per site of ``system``, or None if unknown.

    Known: periodic J1-J2 with ``J2/J1`` in {0, 0.5} on 4x4, 6x6 and 10x10, and the
    periodic Shastry-Sutherland model inside its dimer phase (``0 <= J/J' <=``
    :data:`DIMER_PHASE_MAX_RATIO`), where the product of singlets on the dimers is the
    ground state with :math:`E/N = -3J'/8` exactly; in the ``total_sz=0`` sector or the
    full space (the ground state has Sz=0). J1-J2 energies are scaled by ``J1``.
    """
    if not system.pbc or system.total_sz not in (0.0, None):
        return None
    if system.kind == "shastry_sutherland":
        J, J_prime = system.coupling("J"), system.coupling("J_prime")
        if J_prime <= 0 or not 0 <= J / J_prime <= DIMER_PHASE_MAX_RATIO:
            return None
        return ReferenceEnergy(
            energy=-3 * J_prime / 8,
            error=None,
            method="exact: product of dimer singlets",
            source="Shastry & Sutherland, Physica B+C 108, 1069 (1981)",
        )
    if system.kind != "j1j2":
        return None
    J1, J2 = system.coupling("J1"), system.coupling("J2")
    if J1 <= 0:
        return None
    ref = _J1J2_REFERENCES.get((*system.lattice_shape, round(J2 / J1, 12)))
    if ref is None:
        return None
    return ReferenceEnergy(
        energy=ref.energy * J1,
        error=None if ref.error is None else ref.error * J1,
        method=ref.method,
        source=ref.source,
    )


def hilbert_dimension(system: LatticeSystem) -> int:
    """Number of basis states of ``system.hilbert``, by counting (never by enumeration)."""
    N = system.n_sites
    if system.total_sz is None:
        return 2**N
    return math.comb(N, round(N / 2 + system.total_sz))


def exact_energy(system: LatticeSystem) -> float:
    """Ground-state energy per site of ``system`` by Lanczos, cached per process.

    Raises:
        ValueError: if the Hilbert space has more than :data:`MAX_EXACT_STATES` states.
    """
    n_states = hilbert_dimension(system)
    if n_states > MAX_EXACT_STATES:
        raise ValueError(
            f"exact_energy refuses {system.name}: its Hilbert space has {n_states:,} states, "
            f"more than the limit of {MAX_EXACT_STATES:,} (about 20 spins in the Sz=0 sector). "
            f"Use reference_energy(system) for larger lattices."
        )
    energy = _EXACT_CACHE.get(system.key)
    if energy is None:
        e0 = nk.exact.lanczos_ed(system.hamiltonian, k=1)
        energy = float(np.asarray(e0).ravel()[0]) / system.n_sites
        if not math.isfinite(energy):  # pragma: no cover - Lanczos failure
            raise RuntimeError(f"Lanczos returned a non-finite energy for {system.name}.")
        _EXACT_CACHE[system.key] = energy
    return energy


_EXACT_CACHE: dict[tuple, float] = {}
"""Exact energies per site computed in this process, keyed by ``LatticeSystem.key``."""


def best_known_energy(system: LatticeSystem) -> float | None:
    """Ground-state energy per site to measure a run against, or None.

    The exact energy (:func:`exact_energy`) where the Hilbert space is small enough,
    otherwise the published one (:func:`reference_energy`), otherwise None.
    """
    if hilbert_dimension(system) <= MAX_EXACT_STATES:
        return exact_energy(system)
    ref = reference_energy(system)
    return None if ref is None else ref.energy

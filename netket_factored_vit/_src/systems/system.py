"""The object every system constructor returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import netket as nk


@dataclass(frozen=True, eq=False)
class LatticeSystem:
    """A spin-1/2 model on a square lattice, ready for NetKet.

    The Hamiltonian is written in :math:`\\mathbf{S}_i\\cdot\\mathbf{S}_j` units
    (:math:`\\mathbf{S} = \\boldsymbol{\\sigma}/2`), as in the literature: energies
    of this package are 1/4 of those of ``nk.operator.Heisenberg`` with the same
    couplings. It is a :class:`~netket_factored_vit.systems.HeisenbergBonds`, whose
    local energies skip the bonds with parallel spins.
    """

    kind: str
    """Model family: ``"j1j2"`` or ``"shastry_sutherland"``."""
    lattice_shape: tuple[int, int]
    """``(Lx, Ly)``; site ``i = x * Ly + y`` (NetKet's ``Grid`` ordering)."""
    couplings: tuple[tuple[str, float], ...]
    """Coupling constants as ``(name, value)`` pairs, e.g. ``(("J1", 1.0), ("J2", 0.5))``."""
    pbc: bool
    """Periodic boundary conditions."""
    total_sz: float | None
    """Magnetisation sector of the Hilbert space, or None for all sectors."""
    hilbert: nk.hilbert.Spin = field(repr=False)
    """The Hilbert space, ``Spin(0.5, N, total_sz=total_sz)``."""
    graph: nk.graph.AbstractGraph = field(repr=False)
    """The lattice graph; edge colour ``c`` carries the ``c``-th coupling."""
    hamiltonian: nk.operator.DiscreteOperator = field(repr=False)
    """The Hamiltonian in S.S units (a ``HeisenbergBonds``)."""

    @property
    def n_sites(self) -> int:
        """Number of spins, ``Lx * Ly``."""
        return self.lattice_shape[0] * self.lattice_shape[1]

    @property
    def name(self) -> str:
        """A readable, unique name, e.g. ``"j1j2_4x4_J1=1_J2=0.5_pbc"``."""
        Lx, Ly = self.lattice_shape
        c = "_".join(f"{k}={v:g}" for k, v in self.couplings)
        return f"{self.kind}_{Lx}x{Ly}_{c}_{'pbc' if self.pbc else 'obc'}"

    @property
    def key(self) -> tuple:
        """Hashable identity of the physics (used for caches and checkpoint validation)."""
        return (self.kind, self.lattice_shape, self.couplings, self.pbc, self.total_sz)

    def coupling(self, name: str) -> float:
        """Value of the coupling called ``name``."""
        return dict(self.couplings)[name]

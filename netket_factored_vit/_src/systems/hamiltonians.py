r"""J1-J2 and Shastry-Sutherland Hamiltonians in :math:`\mathbf{S}\cdot\mathbf{S}` units.

The Hamiltonians are :class:`~netket_factored_vit._src.operator.HeisenbergBonds`:
the same matrix as NetKet's ``nk.operator.Heisenberg`` with every coupling divided
by 4 (NetKet writes
:math:`J\,\boldsymbol{\sigma}_i\cdot\boldsymbol{\sigma}_j = 4J\,\mathbf{S}_i\cdot\mathbf{S}_j`
with Pauli matrices), with local energies that evaluate the network only on the
configurations a sample is connected to.
"""

from __future__ import annotations

import netket as nk

from netket_factored_vit._src.operator import HeisenbergBonds
from netket_factored_vit._src.systems.lattices import j1j2_graph, shastry_sutherland_graph
from netket_factored_vit._src.systems.system import LatticeSystem
from netket_factored_vit._src.systems.validation import check_coupling, check_side


def _hilbert(n_sites: int, total_sz) -> nk.hilbert.Spin:
    if total_sz is not None:
        total_sz = check_coupling("total_sz", total_sz)
        # 2 * total_sz must have the parity of N for the sector to exist.
        if (round(2 * total_sz) - n_sites) % 2 or abs(total_sz) > n_sites / 2:
            raise ValueError(
                f"total_sz={total_sz:g} is not a magnetisation sector of {n_sites} spins 1/2: "
                f"allowed are -N/2, -N/2+1, ..., N/2, or None."
            )
    return nk.hilbert.Spin(s=0.5, N=n_sites, total_sz=total_sz)


def j1j2(
    L: int,
    J2: float = 0.5,
    *,
    Ly: int | None = None,
    J1: float = 1.0,
    pbc: bool = True,
    total_sz: float | None = 0,
    marshall_sign: bool = False,
) -> LatticeSystem:
    r"""The :math:`J_1`-:math:`J_2` Heisenberg model on an ``L x Ly`` square lattice.

    .. math::

        H = J_1 \sum_{\langle ij\rangle} \mathbf{S}_i\cdot\mathbf{S}_j
          + J_2 \sum_{\langle\langle ij\rangle\rangle} \mathbf{S}_i\cdot\mathbf{S}_j

    Args:
        L: Number of sites along x (and along y unless ``Ly`` is given).
        J2: Next-nearest-neighbour (diagonal) coupling.
        Ly: Number of sites along y; defaults to ``L``.
        J1: Nearest-neighbour coupling.
        pbc: Periodic boundary conditions.
        total_sz: Magnetisation sector (0 by default), or None for the full space.
        marshall_sign: Rotate the basis by Marshall's sign rule on the J1 bonds
            (requires a bipartite J1 lattice). Off by default: the network learns signs.
    """
    Lx = check_side("L", L, minimum=3 if pbc else 2)
    Ly = Lx if Ly is None else check_side("Ly", Ly, minimum=3 if pbc else 2)
    J1 = check_coupling("J1", J1)
    J2 = check_coupling("J2", J2)
    if marshall_sign and pbc and (Lx % 2 or Ly % 2):
        raise ValueError(
            f"marshall_sign=True needs a bipartite lattice: both sides even with pbc, "
            f"got {Lx}x{Ly}."
        )
    graph = j1j2_graph(Lx, Ly, pbc=pbc)
    hilbert = _hilbert(Lx * Ly, total_sz)
    hamiltonian = HeisenbergBonds.from_graph(
        hilbert, graph, [J1, J2], sign_rule=[bool(marshall_sign), False]
    )
    return LatticeSystem(
        kind="j1j2",
        lattice_shape=(Lx, Ly),
        couplings=(("J1", J1), ("J2", J2)),
        pbc=bool(pbc),
        total_sz=None if total_sz is None else float(total_sz),
        hilbert=hilbert,
        graph=graph,
        hamiltonian=hamiltonian,
    )


def shastry_sutherland(
    L: int,
    J: float = 0.5,
    J_prime: float = 1.0,
    *,
    Ly: int | None = None,
    total_sz: float | None = 0,
) -> LatticeSystem:
    r"""The Shastry-Sutherland model on a periodic ``L x Ly`` square lattice.

    .. math::

        H = J \sum_{\langle ij\rangle} \mathbf{S}_i\cdot\mathbf{S}_j
          + J' \sum_{(ij)\in\text{dimers}} \mathbf{S}_i\cdot\mathbf{S}_j

    The dimers are diagonals of every other plaquette with alternating
    orientation (see :func:`~netket_factored_vit.systems.shastry_sutherland_dimers`),
    so each site belongs to exactly one dimer. The product of dimer singlets is
    an exact eigenstate with :math:`E/N = -3J'/8` for every ``J``; it is the
    ground state for :math:`J/J' \lesssim 0.675`.

    Args:
        L: Number of sites along x (even, at least 4).
        J: Nearest-neighbour (square-lattice) coupling.
        J_prime: Dimer coupling.
        Ly: Number of sites along y (even, at least 4); defaults to ``L``.
        total_sz: Magnetisation sector (0 by default), or None for the full space.
    """
    Lx = check_side("L", L, even=True, minimum=4)
    Ly = Lx if Ly is None else check_side("Ly", Ly, even=True, minimum=4)
    J = check_coupling("J", J)
    J_prime = check_coupling("J_prime", J_prime)
    graph = shastry_sutherland_graph(Lx, Ly)
    hilbert = _hilbert(Lx * Ly, total_sz)
    hamiltonian = HeisenbergBonds.from_graph(hilbert, graph, [J, J_prime])
    return LatticeSystem(
        kind="shastry_sutherland",
        lattice_shape=(Lx, Ly),
        couplings=(("J", J), ("J_prime", J_prime)),
        pbc=True,
        total_sz=None if total_sz is None else float(total_sz),
        hilbert=hilbert,
        graph=graph,
        hamiltonian=hamiltonian,
    )

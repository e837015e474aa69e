"""Square-lattice graphs of the study, with coloured edges (colour = coupling index)."""

from __future__ import annotations

import netket as nk
import numpy as np


def site_index(x: int, y: int, Lx: int, Ly: int) -> int:
    """Index of site ``(x, y)`` (periodic wrap), NetKet's ``Grid`` ordering ``x * Ly + y``."""
    return (x % Lx) * Ly + (y % Ly)


def marshall_sublattice(Lx: int, Ly: int) -> np.ndarray:
    """Whether each site (NetKet's ``Grid`` ordering) is on sublattice A of Marshall's sign
    rule, the sites with ``x + y`` even."""
    x, y = np.divmod(np.arange(Lx * Ly), Ly)
    return (x + y) % 2 == 0


def j1j2_graph(Lx: int, Ly: int, *, pbc: bool = True) -> nk.graph.Lattice:
    """Square lattice with nearest-neighbour (colour 0) and diagonal (colour 1) bonds."""
    return nk.graph.Grid(extent=[Lx, Ly], pbc=pbc, max_neighbor_order=2)


def shastry_sutherland_dimers(Lx: int, Ly: int) -> list[tuple[int, int]]:
    r"""The orthogonal dimers of the Shastry-Sutherland lattice on a periodic ``Lx x Ly`` torus.

    Plaquette ``(x, y)`` spans sites ``(x, y)`` to ``(x+1, y+1)``. Plaquettes with
    ``x, y`` both even carry the diagonal ``(x, y)-(x+1, y+1)``; plaquettes with
    ``x, y`` both odd carry the anti-diagonal ``(x+1, y)-(x, y+1)``. Every site
    belongs to exactly one dimer (both sides must be even).
    """
    dimers = []
    for x in range(0, Lx, 2):
        for y in range(0, Ly, 2):
            dimers.append((site_index(x, y, Lx, Ly), site_index(x + 1, y + 1, Lx, Ly)))
    for x in range(1, Lx, 2):
        for y in range(1, Ly, 2):
            dimers.append((site_index(x + 1, y, Lx, Ly), site_index(x, y + 1, Lx, Ly)))
    return dimers


def shastry_sutherland_graph(Lx: int, Ly: int) -> nk.graph.Graph:
    """Periodic square lattice: nearest-neighbour bonds colour 0, dimer bonds colour 1."""
    square = nk.graph.Grid(extent=[Lx, Ly], pbc=True)
    edges = [(i, j, 0) for i, j in square.edges()]
    edges += [(i, j, 1) for i, j in shastry_sutherland_dimers(Lx, Ly)]
    return nk.graph.Graph(edges=edges)

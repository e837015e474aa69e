r"""Site permutations acting on states given in a computational basis.

A permutation :math:`p` of the sites acts on a wave function as
:math:`(\hat g\psi)(\sigma) = \psi(\sigma_{p})`, where :math:`\sigma_p` is the
configuration gathered as ``sigma[p]``. On a vector indexed by the basis states of a
Hilbert space (in the order of ``hilbert.all_states()``) this is a gather with the
indices computed by :meth:`BasisIndex.permuted`. Permutations keep the magnetisation,
so a constrained (fixed :math:`S^z`) space is mapped onto itself.
"""

from __future__ import annotations

import numpy as np


class BasisIndex:
    """Finds the position of any configuration among the basis states of a Hilbert space.

    Configurations are encoded as integers (bit ``i`` set where spin ``i`` is up), which
    are sorted once; a look-up is a binary search.
    """

    def __init__(self, states: np.ndarray):
        """Args:
        states: the basis states, shape ``(D, N)`` with entries of either sign.
        """
        states = np.asarray(states)
        if states.shape[1] > 62:
            raise ValueError(f"BasisIndex encodes at most 62 sites, got {states.shape[1]}.")
        self.bits = (states > 0).astype(np.int64)
        self.weights = np.left_shift(np.int64(1), np.arange(states.shape[1], dtype=np.int64))
        self.codes = self.bits @ self.weights
        self._order = np.argsort(self.codes, kind="stable")
        self._sorted = self.codes[self._order]

    @property
    def n_sites(self) -> int:
        """Number of sites :math:`N`."""
        return self.bits.shape[1]

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Positions of the encoded configurations ``codes`` among the basis states."""
        pos = np.searchsorted(self._sorted, codes)
        pos = np.minimum(pos, len(self._sorted) - 1)
        if not np.array_equal(self._sorted[pos], codes):
            raise ValueError("A permuted configuration is not a basis state of this space.")
        return self._order[pos]

    def permuted(self, perm: np.ndarray) -> np.ndarray:
        r"""Indices ``idx`` with ``states[idx[k]] == states[k][perm]``."""
        perm = np.asarray(perm)
        if sorted(perm.tolist()) != list(range(self.n_sites)):
            raise ValueError(f"{perm!r} is not a permutation of {self.n_sites} sites.")
        return self.lookup(self.bits[:, perm] @ self.weights)

    def swapped(self, i: int, j: int) -> np.ndarray:
        """Indices of the basis states with the spins of sites ``i`` and ``j`` exchanged."""
        bi, bj = self.bits[:, i], self.bits[:, j]
        codes = self.codes + (bj - bi) * self.weights[i] + (bi - bj) * self.weights[j]
        return self.lookup(codes)


def expectation(vectors: np.ndarray, idx: np.ndarray) -> np.ndarray:
    r""":math:`\langle v|\hat g|v\rangle = \sum_\sigma v(\sigma)^* v(\sigma_p)` per column.

    Args:
        vectors: normalised states as columns, shape ``(D, K)``.
        idx: gather indices of the permutation (from :class:`BasisIndex`).

    Returns:
        The ``K`` (complex) expectation values.
    """
    return np.einsum("dk,dk->k", vectors.conj(), vectors[idx])


def total_spin_squared(vectors: np.ndarray, basis: BasisIndex) -> np.ndarray:
    r"""Expectation value of :math:`\mathbf{S}^2 = (\sum_i \mathbf{S}_i)^2` per column, spin 1/2.

    By Dirac's identity :math:`\mathbf{S}_i\cdot\mathbf{S}_j = \tfrac12 P_{ij} - \tfrac14`,
    with :math:`P_{ij}` the exchange of sites :math:`i` and :math:`j`,

    .. math::

        \mathbf{S}^2 = \frac{3N}{4} - \frac{N(N-1)}{4} + \sum_{i<j} P_{ij},

    so :math:`\langle\mathbf{S}^2\rangle = S(S+1)` is 0 for a singlet and
    :math:`\frac{N}{2}(\frac{N}{2}+1)` for the fully polarised state.

    Args:
        vectors: normalised states as columns, shape ``(D, K)``.
        basis: the index of the basis the vectors are written in.
    """
    n = basis.n_sites
    exchange = np.zeros(vectors.shape[1], dtype=vectors.dtype)
    for i in range(n):
        for j in range(i + 1, n):
            exchange = exchange + expectation(vectors, basis.swapped(i, j))
    return (3 * n / 4 - n * (n - 1) / 4 + exchange).real


def c4_rotation(lattice_shape: tuple[int, int]) -> np.ndarray:
    r"""Site permutation of the rotation by :math:`\pi/2` about site ``(0, 0)``.

    Site ``(x, y)`` reads site ``(-y, x)`` (periodic); only a square lattice has it.
    """
    lx, ly = lattice_shape
    if lx != ly:
        raise ValueError(f"A C4 rotation needs a square lattice, got {lx}x{ly}.")
    x, y = np.divmod(np.arange(lx * ly), ly)
    return ((-y) % lx) * ly + x % ly


def translation(lattice_shape: tuple[int, int], dx: int = 1, dy: int = 0) -> np.ndarray:
    """Site permutation of the translation by ``(dx, dy)``.

    Site ``(x, y)`` reads site ``(x + dx, y + dy)`` (periodic).
    """
    lx, ly = lattice_shape
    x, y = np.divmod(np.arange(lx * ly), ly)
    return ((x + dx) % lx) * ly + (y + dy) % ly

r"""Connected configurations of a bond Hamiltonian, on the host (NumPy).

This is what NetKet's generic machinery asks a
:class:`~netket.operator.DiscreteOperator` for: ``to_sparse``, exact
diagonalisation, samplers that move along the Hamiltonian. Local energies on a
:class:`~netket.vqs.MCState` take the faster path of
:mod:`~netket_factored_vit._src.operator.local_energy` instead.
"""

from __future__ import annotations

import numpy as np


def antiparallel_mask(x: np.ndarray, bonds: np.ndarray, exchange: np.ndarray) -> np.ndarray:
    """``(..., n_bonds)``: True where the bond's spins are antiparallel and its exchange
    element is non-zero, i.e. where the bond connects ``x`` to another configuration."""
    return (x[..., bonds[:, 0]] != x[..., bonds[:, 1]]) & (exchange != 0)


def connected_configurations(
    x: np.ndarray,
    bonds: np.ndarray,
    zz: np.ndarray,
    exchange: np.ndarray,
    *,
    pad_to: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Connected configurations and matrix elements of a batch ``x`` of shape ``(n, N)``.

    For every row: first ``x`` itself with the diagonal element
    :math:`\sum_b zz_b\,\sigma_i\sigma_j`, then one configuration per connecting bond
    (both spins flipped) with its exchange element. With ``pad_to``, every row is
    padded to that many entries by copies of ``x`` with element 0.

    Returns:
        ``(x_primes, mels, counts)``: configurations flattened over rows, their
        elements, and the number of entries of each row.
    """
    n, n_sites = x.shape
    diagonal = (x[:, bonds[:, 0]] * x[:, bonds[:, 1]]) @ zz
    mask = antiparallel_mask(x, bonds, exchange)
    rows, which = np.nonzero(mask)
    flipped = x[rows].copy()
    flipped[np.arange(len(rows)), bonds[which, 0]] *= -1
    flipped[np.arange(len(rows)), bonds[which, 1]] *= -1

    counts = 1 + mask.sum(axis=1)
    width = counts if pad_to is None else np.full(n, pad_to)
    starts = np.cumsum(width) - width
    total = int(width.sum())

    x_primes = np.repeat(x, width, axis=0)  # padding entries are copies of x
    mels = np.zeros(total, dtype=np.result_type(zz.dtype, exchange.dtype))
    mels[starts] = diagonal
    # Position of each flip inside its row: 1, 2, ... after the diagonal.
    first_flip = np.cumsum(counts - 1) - (counts - 1)
    rank_in_row = np.arange(len(rows)) - first_flip[rows]
    positions = starts[rows] + 1 + rank_in_row
    x_primes[positions] = flipped
    mels[positions] = exchange[which]
    return x_primes.reshape(total, n_sites), mels, width.astype(np.int32)

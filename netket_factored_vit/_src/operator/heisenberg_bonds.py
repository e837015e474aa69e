r"""A spin-1/2 Heisenberg Hamiltonian given by its list of bonds, in S.S units."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import netket as nk
import numpy as np

from netket_factored_vit._src.operator.connections import (
    antiparallel_mask,
    connected_configurations,
)


class HeisenbergBonds(nk.operator.DiscreteOperator):
    r"""Heisenberg exchange on a list of bonds, in :math:`\mathbf{S}\cdot\mathbf{S}` units.

    .. math::

        H = \sum_{b=(i,j)} J_b \left[ S^z_i S^z_j
            + s_b \left( S^x_i S^x_j + S^y_i S^y_j \right) \right],
        \qquad \mathbf{S} = \boldsymbol{\sigma}/2,

    with :math:`s_b = -1` on the bonds rotated by Marshall's sign rule and
    :math:`s_b = +1` elsewhere. In the :math:`\sigma^z` basis (spins :math:`\pm 1`)
    the diagonal element is :math:`\sum_b J_b \sigma_i\sigma_j / 4` and a bond
    connects :math:`\sigma` to the configuration with both spins flipped, with
    element :math:`s_b J_b / 2`, only when its spins are antiparallel.

    Behaves as any NetKet :class:`~netket.operator.DiscreteOperator` (``to_sparse``,
    ``to_dense``, :func:`netket.exact.lanczos_ed`, :class:`~netket.vqs.FullSumState`,
    sums and products with scalars); on a :class:`~netket.vqs.MCState` its local
    energies evaluate :math:`\log\psi` only on the configurations that exist (see
    :func:`~netket_factored_vit._src.operator.local_energy.local_energies`).
    Energies are 1/4 of those of ``nk.operator.Heisenberg`` with the same couplings,
    which is written with Pauli matrices.

    Args:
        hilbert: A spin-1/2 :class:`~netket.hilbert.Spin` space (any ``total_sz``).
        bonds: Pairs of distinct sites ``(i, j)``; a pair listed twice has its
            couplings added.
        couplings: One coupling :math:`J_b` per bond, or one number for all.
        sign_rule: Marshall's sign rule per bond (``True`` makes :math:`s_b = -1`),
            or one bool for all; ``False`` by default.

    Example:

    >>> import netket as nk
    >>> import netket_factored_vit as nfv
    >>> hi = nk.hilbert.Spin(0.5, 4, total_sz=0)
    >>> H = nfv.systems.HeisenbergBonds(hi, [(0, 1), (1, 2), (2, 3), (3, 0)], 1.0)
    >>> round(float(nk.exact.lanczos_ed(H)[0]), 6)  # 4-site ring: -2 J
    -2.0
    """

    def __init__(self, hilbert, bonds, couplings, *, sign_rule=False):
        _check_spin_half(hilbert)
        super().__init__(hilbert)
        bonds = _check_bonds(bonds, hilbert.size)
        couplings = _per_bond("couplings", couplings, len(bonds), float)
        signs = np.where(_per_bond("sign_rule", sign_rule, len(bonds), bool), -1.0, 1.0)
        self._bonds, self._zz, self._exchange = _merge_bonds(
            bonds, couplings / 4, signs * couplings / 2
        )

    @classmethod
    def from_graph(
        cls,
        hilbert,
        graph: nk.graph.AbstractGraph,
        couplings: float | Sequence[float],
        *,
        sign_rule: bool | Sequence[bool] = False,
    ) -> HeisenbergBonds:
        """Bonds from the edges of ``graph``: edges of colour ``c`` carry ``couplings[c]``
        and ``sign_rule[c]`` (or the single value given for all colours)."""
        edges = graph.edges(return_color=True)
        n_colours = max((c for _, _, c in edges), default=-1) + 1
        couplings = _per_bond("couplings", couplings, n_colours, float, what="edge colour")
        sign_rule = _per_bond("sign_rule", sign_rule, n_colours, bool, what="edge colour")
        colours = np.array([c for _, _, c in edges], dtype=int)
        return cls(
            hilbert,
            [(i, j) for i, j, _ in edges],
            couplings[colours],
            sign_rule=sign_rule[colours],
        )

    @classmethod
    def _from_elements(cls, hilbert, bonds, zz, exchange) -> HeisenbergBonds:
        new = cls.__new__(cls)
        nk.operator.DiscreteOperator.__init__(new, hilbert)
        new._bonds, new._zz, new._exchange = _merge_bonds(bonds, zz, exchange)
        return new

    @property
    def bonds(self) -> np.ndarray:
        """``(n_bonds, 2)`` site pairs ``i < j``, each pair once."""
        return self._bonds.copy()

    @property
    def diagonal_elements(self) -> np.ndarray:
        r"""Per bond, the diagonal element :math:`J_b/4` multiplying :math:`\sigma_i\sigma_j`."""
        return self._zz.copy()

    @property
    def exchange_elements(self) -> np.ndarray:
        r"""Per bond, the element :math:`s_b J_b/2` between configurations that differ by
        flipping its two (antiparallel) spins."""
        return self._exchange.copy()

    @property
    def dtype(self):
        return np.float64

    @property
    def is_hermitian(self) -> bool:
        return True

    @property
    def max_conn_size(self) -> int:
        """The diagonal plus one flip per bond with a non-zero exchange element."""
        return 1 + int(np.count_nonzero(self._exchange))

    def get_conn_flattened(self, x, sections, pad: bool = False):
        x = np.asarray(x)
        x_primes, mels, counts = connected_configurations(
            x, self._bonds, self._zz, self._exchange, pad_to=self.max_conn_size if pad else None
        )
        sections[:] = np.cumsum(counts)
        return x_primes, mels

    def n_conn(self, x, out=None) -> np.ndarray:
        x = np.asarray(x)
        counts = 1 + antiparallel_mask(x, self._bonds, self._exchange).sum(axis=-1)
        if out is None:
            return counts.astype(np.int32)
        out[:] = counts
        return out

    def to_sparse(self):
        # NetKet's column indices can be a read-only view; a copy owns writable arrays,
        # so that sums and differences of the matrix work.
        return super().to_sparse().copy()

    def transpose(self, *, concrete=False):
        return self  # real symmetric

    def conjugate(self, *, concrete=False):
        return self  # real

    def __mul__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return self._from_elements(
                self.hilbert, self._bonds, other * self._zz, other * self._exchange
            )
        return super().__mul__(other)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __truediv__(self, other):
        if isinstance(other, numbers.Real) and not isinstance(other, bool) and other != 0:
            return self * (1 / other)
        return NotImplemented

    def __neg__(self):
        return self * -1.0

    def __add__(self, other):
        if isinstance(other, HeisenbergBonds) and other.hilbert == self.hilbert:
            return self._from_elements(
                self.hilbert,
                np.concatenate([self._bonds, other._bonds]),
                np.concatenate([self._zz, other._zz]),
                np.concatenate([self._exchange, other._exchange]),
            )
        if isinstance(other, nk.operator.DiscreteOperator):
            return self.to_local_operator() + other
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, nk.operator.DiscreteOperator):
            return other + self.to_local_operator()
        return NotImplemented

    def to_local_operator(self) -> nk.operator.LocalOperator:
        """The same Hamiltonian as a NetKet :class:`~netket.operator.LocalOperator`
        (one 4x4 matrix per bond), for sums with NetKet's operators."""
        # In the basis (up up, up down, down up, down down) of the two sites, or the
        # reverse order: both spins flipped maps it onto itself, so either ordering works.
        sz_sz = np.diag([1.0, -1.0, -1.0, 1.0])
        exchange = np.zeros((4, 4))
        exchange[1, 2] = exchange[2, 1] = 1.0
        operator = nk.operator.LocalOperator(self.hilbert, dtype=np.float64)
        for (i, j), zz, flip in zip(self._bonds, self._zz, self._exchange, strict=True):
            operator += nk.operator.LocalOperator(
                self.hilbert, zz * sz_sz + flip * exchange, [int(i), int(j)]
            )
        return operator

    def __sub__(self, other):
        if isinstance(other, HeisenbergBonds):
            return self + (-other)
        return super().__sub__(other)

    def __repr__(self):
        return (
            f"HeisenbergBonds(hilbert={self.hilbert}, n_bonds={len(self._bonds)}, "
            f"max_conn_size={self.max_conn_size})"
        )


def _check_spin_half(hilbert) -> None:
    if not (
        isinstance(hilbert, nk.hilbert.Spin)
        and hilbert.local_size == 2
        and set(np.asarray(hilbert.local_states).tolist()) == {-1.0, 1.0}
    ):
        raise ValueError(
            f"HeisenbergBonds acts on spins 1/2 with values +-1, i.e. "
            f"nk.hilbert.Spin(s=0.5, N=...), got {hilbert}."
        )


def _check_bonds(bonds, n_sites: int) -> np.ndarray:
    array = np.asarray(bonds)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(
            f"bonds must be a non-empty list of site pairs (i, j), got an array of shape "
            f"{array.shape}."
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"bonds must hold integer site indices, got dtype {array.dtype}.")
    bad = (array < 0) | (array >= n_sites)
    if bad.any():
        raise ValueError(
            f"bond {tuple(array[bad.any(axis=1)][0].tolist())} has a site outside "
            f"0..{n_sites - 1} of the Hilbert space."
        )
    same = array[:, 0] == array[:, 1]
    if same.any():
        raise ValueError(
            f"bond {tuple(array[same][0].tolist())} joins a site to itself: a bond needs "
            f"two distinct sites."
        )
    return np.sort(array.astype(np.int64), axis=1)


def _per_bond(name, value, n, dtype, *, what="bond"):
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full(n, value)
    if array.shape != (n,):
        raise ValueError(
            f"{name} must be one value or one per {what} ({n}), got shape {array.shape}."
        )
    if dtype is bool:
        if array.dtype != np.bool_:
            raise ValueError(f"{name} must be True/False values, got {value!r}.")
        return array
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{name} must be real numbers, got {value!r}.")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return array


def _merge_bonds(bonds, zz, exchange):
    """Each unordered pair once (sorted), its elements summed."""
    pairs, inverse = np.unique(np.sort(bonds, axis=1), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    zz_sum = np.zeros(len(pairs))
    exchange_sum = np.zeros(len(pairs))
    np.add.at(zz_sum, inverse, zz)
    np.add.at(exchange_sum, inverse, exchange)
    return pairs, zz_sum, exchange_sum

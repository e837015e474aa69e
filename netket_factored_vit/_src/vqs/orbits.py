r"""Orbits of a computational basis under a symmetry group, and operators written on them.

For a wave function invariant under a group :math:`G`, :math:`\psi(g\sigma) = \psi(\sigma)`,
the basis falls into orbits :math:`[r] = \{g r\}` on which :math:`\psi` is constant. Any
operator's expectation value and gradient are sums over orbit representatives :math:`r`,
weighted by the orbit size :math:`|[r]|`, of the orbit-averaged local estimator

.. math::

    \bar O_\mathrm{loc}(r) = \frac{1}{|[r]|} \sum_{\sigma \in [r]}
        \sum_{\sigma'} O_{\sigma\sigma'} \frac{\psi(\sigma')}{\psi(\sigma)}
      = \frac{1}{[G:H]} \sum_{c \in H\backslash G} \sum_{[r']}
        \Big(\sum_{\sigma' \in [r']} O_{c r, \sigma'}\Big) \frac{\psi(r')}{\psi(r)},

where :math:`H \subseteq G` is the subgroup that commutes with :math:`O` and :math:`c` runs
over the representatives of its right cosets. This is exact for every operator: for a
Hamiltonian that commutes with the whole group (:math:`H = G`) only :math:`c = 1` is left,
and each representative needs only its own connections.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from netket_factored_vit._src.models.symmetry_group import SymmetryGroup

_CONNECTION_CHUNK = 8192
"""Representatives whose connections are computed at once."""

_COMMUTATION_STATES = 2048
"""Random basis states on which an operator's commutation with the group is checked (a
:class:`~netket_factored_vit.systems.HeisenbergBonds` is compared bond by bond)."""


def state_codes(states: np.ndarray) -> np.ndarray:
    """Configurations (±1) as integers, bit ``i`` set where spin ``i`` is up."""
    states = np.asarray(states)
    weights = np.left_shift(np.int64(1), np.arange(states.shape[-1], dtype=np.int64))
    return (states > 0).astype(np.int64) @ weights


def decode(codes: np.ndarray, n_sites: int, dtype=np.float64) -> np.ndarray:
    """The ±1 configurations of integer ``codes`` (the inverse of :func:`state_codes`)."""
    bits = (np.asarray(codes)[:, None] >> np.arange(n_sites, dtype=np.int64)) & 1
    return (2 * bits - 1).astype(dtype)


_ENUMERATED_SITES = 26
"""Spin-1/2 spaces of up to this many sites are enumerated by their codes here (NetKet's
``all_states`` of a constrained space is slow for millions of states)."""


def basis_codes(hilbert) -> np.ndarray:
    r"""The codes of every basis state of ``hilbert``, ascending.

    A spin-1/2 space (local states :math:`\pm 1`), unconstrained or with a fixed
    magnetisation, is enumerated directly; any other finite space through
    ``hilbert.all_states()``.
    """
    n = hilbert.size
    spin_half = sorted(np.asarray(hilbert.local_states).tolist()) == [-1, 1]
    total = getattr(hilbert.constraint, "sum_value", None) if hilbert.constrained else None
    if spin_half and n <= _ENUMERATED_SITES and (not hilbert.constrained or total is not None):
        codes = np.arange(2**n, dtype=np.int64)
        if hilbert.constrained:
            n_up = int(round((n + total) / 2))
            codes = codes[popcount(codes) == n_up]
        return codes
    return np.sort(state_codes(np.asarray(hilbert.all_states())))


def popcount(codes: np.ndarray) -> np.ndarray:
    """The number of set bits of each (non-negative) integer code."""
    c = codes.astype(np.uint64)
    c = c - ((c >> np.uint64(1)) & np.uint64(0x5555555555555555))
    c = (c & np.uint64(0x3333333333333333)) + ((c >> np.uint64(2)) & np.uint64(0x3333333333333333))
    c = (c + (c >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((c * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


def transformed_codes(codes: np.ndarray, group: SymmetryGroup, k: int) -> np.ndarray:
    """The codes of element ``k`` of ``group`` applied to the configurations ``codes``."""
    out = np.zeros_like(codes)
    for site, source in enumerate(group.permutations[k]):
        out |= ((codes >> np.int64(source)) & 1) << np.int64(site)
    if group.flips[k]:
        out ^= (np.int64(1) << np.int64(group.n_sites)) - 1
    return out


class Orbits:
    """The orbits of the basis states of a Hilbert space under a :class:`SymmetryGroup`.

    Each orbit is represented by its configuration of smallest code. Attributes:
    ``representatives`` (``(n_orbits, N)``, ±1), ``sizes`` (states per orbit), and
    :meth:`orbit_index`, the orbit of any basis configuration.
    """

    def __init__(self, codes: np.ndarray, group: SymmetryGroup, dtype=np.int8):
        """Args:
        codes: the codes of every basis state of the space (:func:`basis_codes`).
        group: a group that maps the basis onto itself.
        dtype: dtype of the representatives' configurations.

        Raises:
            ValueError: an element of the group maps a basis state out of the basis (a
                spin flip of a space with :math:`S^z \\neq 0`, say); the message names it.
        """
        if group.n_sites > 62:
            raise ValueError(f"Orbits encode at most 62 sites, got {group.n_sites}.")
        self.group = group
        self.n_sites = group.n_sites
        codes = np.asarray(codes, dtype=np.int64)
        self._sorted_codes = np.sort(codes)
        canonical = codes
        for k in range(1, len(group)):
            canonical = np.minimum(canonical, transformed_codes(codes, group, k))
        if group.has_spin_flip:
            # permutations keep the magnetisation; one flip decides for all of them
            k = int(np.argmax(group.flips))
            image = np.sort(transformed_codes(codes, group, k))
            if not np.array_equal(image, self._sorted_codes):
                raise ValueError(
                    f"The symmetry {group.names[k]!r} maps basis states out of the Hilbert "
                    "space: a spin flip needs total_sz=0 (or no constraint)."
                )
        self.representative_codes, orbit_of, self.sizes = np.unique(
            canonical, return_inverse=True, return_counts=True
        )
        self._orbit_of_sorted = orbit_of[np.argsort(codes)]
        self.representatives = decode(self.representative_codes, self.n_sites, dtype)
        self.n_states = int(len(codes))

    def __len__(self) -> int:
        return int(len(self.representative_codes))

    def orbit_index(self, codes: np.ndarray) -> np.ndarray:
        """The orbit of each basis configuration given by its code."""
        pos = np.searchsorted(self._sorted_codes, codes)
        pos = np.minimum(pos, len(self._sorted_codes) - 1)
        if not np.array_equal(self._sorted_codes[pos], codes):
            raise ValueError("A configuration is not a basis state of this space.")
        return self._orbit_of_sorted[pos]

    def expand(self, values: np.ndarray, states: np.ndarray) -> np.ndarray:
        """Values given per orbit, read on the basis configurations ``states``."""
        return np.asarray(values)[self.orbit_index(state_codes(states))]


def _connections(operator, configurations):
    """Connected configurations (codes) and matrix elements, both ``(n, K)``."""
    xp, mels = operator.get_conn_padded(np.asarray(configurations))
    return state_codes(xp), np.asarray(mels)


def commutes(operator, group: SymmetryGroup, k: int, states: np.ndarray) -> bool:
    r"""Whether element ``k`` of ``group`` commutes with ``operator``.

    For a :class:`~netket_factored_vit.systems.HeisenbergBonds` the bonds and their
    couplings are compared (exact). Otherwise the connections are compared on
    ``states``: :math:`O(g\sigma) = g\,O(\sigma)` connection by connection, matrix
    elements equal to 1e-12 relative.
    """
    from netket_factored_vit._src.operator.heisenberg_bonds import HeisenbergBonds

    if type(operator) is HeisenbergBonds:
        return _bonds_commute(operator, group.permutations[k])
    n = len(states)
    codes_a, mels_a = _connections(operator, group.apply(states, k))
    codes_b, mels_b = _connections(operator, states)
    codes_b = transformed_codes(codes_b.reshape(-1), group, k).reshape(codes_b.shape)
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], codes_a.shape)

    def summed(codes):
        keys = (rows << np.int64(group.n_sites)) | codes
        return np.unique(keys.reshape(-1), return_inverse=True)

    (ka, ia), (kb, ib) = summed(codes_a), summed(codes_b)
    ta = np.zeros(len(ka), dtype=np.complex128)
    tb = np.zeros(len(kb), dtype=np.complex128)
    np.add.at(ta, ia.reshape(-1), mels_a.reshape(-1))
    np.add.at(tb, ib.reshape(-1), mels_b.reshape(-1))
    scale = max(np.max(np.abs(ta), initial=0.0), 1.0)
    ka, ta = ka[np.abs(ta) > 1e-12 * scale], ta[np.abs(ta) > 1e-12 * scale]
    kb, tb = kb[np.abs(tb) > 1e-12 * scale], tb[np.abs(tb) > 1e-12 * scale]
    return np.array_equal(ka, kb) and bool(np.all(np.abs(ta - tb) <= 1e-12 * scale))


def _bonds_commute(operator, perm: np.ndarray) -> bool:
    """Whether the site permutation maps every bond onto a bond of the same couplings."""

    def table(bonds):
        bonds = np.sort(bonds, axis=1)
        values = np.stack([operator.diagonal_elements, operator.exchange_elements], axis=1)
        order = np.lexsort((bonds[:, 1], bonds[:, 0]))
        return bonds[order], values[order]

    bonds = np.asarray(operator.bonds)
    (b0, v0), (b1, v1) = table(bonds), table(np.asarray(perm)[bonds])
    return np.array_equal(b0, b1) and np.allclose(v0, v1, rtol=1e-12, atol=0.0)


def _test_states(orbits: Orbits, seed: int = 0) -> np.ndarray:
    """The basis states on which commutation is checked: a random subset, or all."""
    codes = orbits._sorted_codes
    if len(codes) > _COMMUTATION_STATES:
        rng = np.random.default_rng(seed)
        codes = rng.choice(codes, _COMMUTATION_STATES, replace=False)
    return decode(codes, orbits.n_sites, orbits.representatives.dtype)


def commuting_subgroup(operator, orbits: Orbits) -> np.ndarray:
    """Indices of the elements of ``orbits.group`` that commute with ``operator``."""
    group = orbits.group
    states = _test_states(orbits)
    return np.asarray(
        [k for k in range(len(group)) if k == 0 or commutes(operator, group, k, states)]
    )


def right_coset_representatives(group: SymmetryGroup, subgroup: np.ndarray) -> list[int]:
    """One element ``c`` of each right coset :math:`Hc` (``c`` applied first, then the
    elements of :math:`H`), element 0 first."""
    elements = zip(group.permutations, group.flips, strict=True)
    index = {(tuple(p), bool(f)): k for k, (p, f) in enumerate(elements)}
    covered = np.zeros(len(group), dtype=bool)
    representatives = []
    for c in range(len(group)):
        if covered[c]:
            continue
        representatives.append(c)
        pc, fc = group.permutations[c], group.flips[c]
        for h in subgroup:
            ph, fh = group.permutations[h], group.flips[h]
            covered[index[(tuple(pc[ph]), bool(fc) != bool(fh))]] = True
    return representatives


class OrbitOperator:
    r"""An operator written on the orbits: for each coset representative :math:`c`, the
    padded rows ``columns[c, r, :]`` (orbits :math:`[r']`) and ``elements[c, r, :]``
    (:math:`\sum_{\sigma' \in [r']} O_{c r, \sigma'}`), so that the local estimator of
    coset :math:`c` is ``sum(elements * psi[columns], -1) / psi``."""

    def __init__(self, operator, orbits: Orbits):
        subgroup = commuting_subgroup(operator, orbits)
        self.cosets = right_coset_representatives(orbits.group, subgroup)
        self.commuting_elements = len(subgroup)
        n = len(orbits)
        rows = []
        for c in self.cosets:
            coo_rows, coo_cols, coo_vals = [], [], []
            for start in range(0, n, _CONNECTION_CHUNK):
                reps = orbits.representatives[start : start + _CONNECTION_CHUNK]
                codes, mels = _connections(operator, orbits.group.apply(reps, c))
                keep = mels != 0
                coo_rows.append(np.nonzero(keep)[0] + start)
                coo_cols.append(orbits.orbit_index(codes[keep]))
                coo_vals.append(mels[keep])
            matrix = sp.coo_matrix(
                (np.concatenate(coo_vals), (np.concatenate(coo_rows), np.concatenate(coo_cols))),
                shape=(n, n),
            ).tocsr()
            matrix.sum_duplicates()
            rows.append(matrix)
        width = max(1, max(int(np.max(np.diff(m.indptr), initial=0)) for m in rows))
        dtype = np.result_type(*(m.dtype for m in rows))
        self.columns = np.zeros((len(rows), n, width), dtype=np.int32)
        self.elements = np.zeros((len(rows), n, width), dtype=dtype)
        for k, m in enumerate(rows):
            counts = np.diff(m.indptr)
            slot = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)
            row = np.repeat(np.arange(n), counts)
            self.columns[k, row, slot] = m.indices
            self.elements[k, row, slot] = m.data
            # padding points at the row itself with a zero element
            pad = np.arange(width)[None, :] >= counts[:, None]
            self.columns[k][pad] = np.broadcast_to(np.arange(n)[:, None], (n, width))[pad]

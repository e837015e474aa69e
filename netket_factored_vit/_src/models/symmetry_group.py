r"""The group of lattice operations under which a model's log-amplitude is invariant.

An element :math:`g` acts on a configuration by a site permutation :math:`p_g`,
optionally followed by the global spin flip:
:math:`g\sigma = \pm\,\sigma_{p_g}`, gathered as ``sigma[..., p_g]``. A model with
:math:`\log\psi(g\sigma) = \log\psi(\sigma)` for every :math:`g` declares the group as
its ``symmetry_group``; :class:`~netket_factored_vit.vqs.OrbitSumState` sums over the
orbits of that group instead of the whole basis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

IDENTITY = "identity"
"""The name of the identity element."""


@dataclass(frozen=True, eq=False)
class SymmetryGroup:
    r"""A finite group of site permutations, each optionally with the global spin flip.

    Element ``k`` maps :math:`\sigma` to ``s * sigma[..., permutations[k]]`` with
    ``s = -1`` where ``flips[k]`` and ``+1`` elsewhere. Element 0 is the identity.
    Build one with :meth:`generated_by`, which closes a list of generators under
    composition, or :meth:`trivial`.
    """

    permutations: np.ndarray
    """Site permutations, shape ``(|G|, N)``, integers; row 0 is the identity."""
    flips: np.ndarray
    """Whether element ``k`` also flips every spin, shape ``(|G|,)``, booleans."""
    names: tuple[str, ...]
    """A readable name of each element, as a product of the generators' names."""

    def __len__(self) -> int:
        return int(self.permutations.shape[0])

    @property
    def n_sites(self) -> int:
        """Number of sites :math:`N` the permutations act on."""
        return int(self.permutations.shape[1])

    @property
    def has_spin_flip(self) -> bool:
        """Whether some element flips the spins."""
        return bool(np.any(self.flips))

    @classmethod
    def trivial(cls, n_sites: int) -> SymmetryGroup:
        """The group of the identity alone."""
        return cls(
            np.arange(n_sites, dtype=np.int32)[None, :], np.zeros(1, dtype=bool), (IDENTITY,)
        )

    @classmethod
    def generated_by(
        cls, n_sites: int, generators: Iterable[tuple[np.ndarray, bool, str]]
    ) -> SymmetryGroup:
        """The closure of ``generators`` under composition.

        Args:
            n_sites: number of sites :math:`N`.
            generators: ``(permutation, flip, name)`` triples; a permutation gathers the
                sites, ``sigma[..., permutation]``.

        Raises:
            ValueError: a permutation is not one of ``n_sites`` sites.
        """
        identity = tuple(range(n_sites))
        gens = []
        for perm, flip, name in generators:
            perm = tuple(int(i) for i in np.asarray(perm).reshape(-1))
            if sorted(perm) != list(identity):
                raise ValueError(f"The generator {name!r} is not a permutation of {n_sites} sites.")
            if perm != identity or flip:
                gens.append((perm, bool(flip), name))
        elements = {(identity, False): IDENTITY}
        frontier = [(identity, False)]
        while frontier:  # breadth first: each element is named by a shortest word
            new = []
            for perm, flip in frontier:
                for gen_perm, gen_flip, gen_name in gens:
                    # apply the element, then the generator: sigma[perm][gen_perm]
                    key = (tuple(perm[i] for i in gen_perm), flip != gen_flip)
                    if key not in elements:
                        word = elements[(perm, flip)]
                        elements[key] = gen_name if word == IDENTITY else f"{gen_name} . {word}"
                        new.append(key)
            frontier = new
        keys = list(elements)
        return cls(
            np.asarray([k[0] for k in keys], dtype=np.int32).reshape(len(keys), n_sites),
            np.asarray([k[1] for k in keys], dtype=bool),
            tuple(elements[k] for k in keys),
        )

    def generators(self) -> list[tuple[np.ndarray, bool, str]]:
        """Every element as a ``(permutation, flip, name)`` triple, to combine groups with
        :meth:`generated_by`."""
        elements = zip(self.permutations, self.flips, self.names, strict=True)
        return [(p, bool(f), n) for p, f, n in elements]

    def apply(self, sigma: np.ndarray, k: int) -> np.ndarray:
        """Element ``k`` applied to configurations ``sigma`` of shape ``(..., N)`` (±1)."""
        image = np.asarray(sigma)[..., self.permutations[k]]
        return -image if self.flips[k] else image

    def __repr__(self) -> str:
        flip = ", with the spin flip" if self.has_spin_flip else ""
        return f"SymmetryGroup({len(self)} elements on {self.n_sites} sites{flip})"

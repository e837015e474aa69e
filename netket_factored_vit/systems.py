"""Lattice systems of the study: J1-J2 and Shastry-Sutherland, in S.S units."""

from netket_factored_vit._src.operator import HeisenbergBonds as HeisenbergBonds
from netket_factored_vit._src.systems.hamiltonians import (
    j1j2 as j1j2,
    shastry_sutherland as shastry_sutherland,
)
from netket_factored_vit._src.systems.lattices import (
    shastry_sutherland_dimers as shastry_sutherland_dimers,
)
from netket_factored_vit._src.systems.references import (
    MAX_EXACT_STATES as MAX_EXACT_STATES,
    ReferenceEnergy as ReferenceEnergy,
    best_known_energy as best_known_energy,
    exact_energy as exact_energy,
    reference_energy as reference_energy,
)
from netket_factored_vit._src.systems.system import LatticeSystem as LatticeSystem

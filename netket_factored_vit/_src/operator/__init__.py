"""Operators of our systems, with their fast local energies registered in NetKet."""

from netket_factored_vit._src.operator import dispatch as _dispatch  # registers the kernels
from netket_factored_vit._src.operator.heisenberg_bonds import HeisenbergBonds as HeisenbergBonds

"""Variational states: the exact sum over the orbits of a model's symmetry group.

See ``docs/driver.md`` (exact training) for a user guide.
"""

from netket_factored_vit._src.vqs import orbit_sum_expect as _orbit_sum_expect
from netket_factored_vit._src.vqs.orbit_sum_state import (
    MAX_ORBIT_SUM_STATES as MAX_ORBIT_SUM_STATES,
    OrbitSumState as OrbitSumState,
)
from netket_factored_vit._src.vqs.orbits import Orbits as Orbits

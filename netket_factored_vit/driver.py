"""Public driver API: the SR / minSR driver and its building blocks.

See ``docs/driver.md`` for a user guide.
"""

from netket_factored_vit._src.driver.callbacks import (
    EnergyProgressBarCallback as EnergyProgressBarCallback,
    SystemEnergyCallback as SystemEnergyCallback,
)
from netket_factored_vit._src.driver.checkpoint import (
    read_checkpoint as read_checkpoint,
    write_checkpoint as write_checkpoint,
)
from netket_factored_vit._src.driver.nonfinite_guard import (
    NonFiniteUpdateError as NonFiniteUpdateError,
)
from netket_factored_vit._src.driver.sr_solves import (
    centre_and_scale as centre_and_scale,
    cholesky_with_fallback as cholesky_with_fallback,
    energy_gradient as energy_gradient,
    gram as gram,
    minsr_update as minsr_update,
    rows_to_columns as rows_to_columns,
    sr_update as sr_update,
)
from netket_factored_vit._src.driver.vmc_sr import VMC_SR as VMC_SR

prepare_input = centre_and_scale
"""Former name of :func:`centre_and_scale`, kept for existing scripts."""

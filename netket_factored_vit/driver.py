"""Public driver API: the SR / minSR driver and its building blocks.

See ``docs/driver.md`` for a user guide.
"""

from netket_factored_vit._src.driver.checkpoint import (
    read_checkpoint as read_checkpoint,
    write_checkpoint as write_checkpoint,
)
from netket_factored_vit._src.driver.linear_algebra import (
    cholesky_with_fallback as cholesky_with_fallback,
    energy_gradient as energy_gradient,
    gram as gram,
    minsr_update as minsr_update,
    prepare_input as prepare_input,
    rows_to_columns as rows_to_columns,
    sr_update as sr_update,
)
from netket_factored_vit._src.driver.vmc_sr import (
    VMC_SR as VMC_SR,
    NonFiniteUpdateError as NonFiniteUpdateError,
)

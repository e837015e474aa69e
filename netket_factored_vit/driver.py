"""Public driver API: the SR / minSR driver and its building blocks.

See ``docs/driver.md`` for a user guide.
"""

from netket_factored_vit._src.driver.checkpoint import read_checkpoint as read_checkpoint
from netket_factored_vit._src.driver.checkpoint import write_checkpoint as write_checkpoint
from netket_factored_vit._src.driver.linear_algebra import (
    cholesky_with_fallback as cholesky_with_fallback,
)
from netket_factored_vit._src.driver.linear_algebra import energy_gradient as energy_gradient
from netket_factored_vit._src.driver.linear_algebra import gram as gram
from netket_factored_vit._src.driver.linear_algebra import minsr_update as minsr_update
from netket_factored_vit._src.driver.linear_algebra import prepare_input as prepare_input
from netket_factored_vit._src.driver.linear_algebra import rows_to_columns as rows_to_columns
from netket_factored_vit._src.driver.linear_algebra import sr_update as sr_update
from netket_factored_vit._src.driver.vmc_sr import VMC_SR as VMC_SR
from netket_factored_vit._src.driver.vmc_sr import NonFiniteUpdateError as NonFiniteUpdateError

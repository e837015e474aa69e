"""A few steps on one rank: the same under ``mpirun -np 1`` as in a plain run."""

import _common

import netket_factored_vit as nfv

driver = _common.small_driver(complex_logpsi=True, use_ntk=True)
driver.run(2, show_progress=False)
_common.write(
    0,
    {
        "collectives": type(driver.collectives).__name__,
        "launched_by_mpi": nfv.distributed.launched_by_mpi(),
        "params": _common.flat(driver.state.parameters).tolist(),
    },
)

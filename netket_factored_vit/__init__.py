"""Vision Transformer wave functions with factored, T5 and decoupled attention for NetKet.

.. code-block:: python

    import netket_factored_vit as nfv

    system = nfv.systems.j1j2(4, J2=0.5)
    model = nfv.models.ViT(lattice_shape=system.lattice_shape, ...)
"""

# Under an MPI launcher each rank must pick its GPU and its share of the CPU
# cores before JAX starts its backends, and importing NetKet starts them: bind
# first, import after.
from netket_factored_vit._src.distributed.launch import bind_gpu_on_import as _bind_gpu_on_import
from netket_factored_vit._src.distributed.threads import (
    limit_threads_on_import as _limit_threads_on_import,
)

_bind_gpu_on_import()
_limit_threads_on_import()

from netket_factored_vit import (
    analysis as analysis,
    distributed as distributed,
    driver as driver,
    models as models,
    systems as systems,
    vqs as vqs,
)
from netket_factored_vit._version import __version__ as __version__

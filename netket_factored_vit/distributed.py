"""Cross-rank communication: rank, size and the collectives the driver uses.

Run a script on ``R`` ranks with ``mpirun -np R python script.py``; see
``docs/distributed.md``. Without an MPI launcher, or without mpi4py/mpi4jax,
everything works as a single rank.
"""

from ._src.distributed.collectives import LOCAL as LOCAL
from ._src.distributed.collectives import Collectives as Collectives
from ._src.distributed.collectives import LocalCollectives as LocalCollectives
from ._src.distributed.launch import launched_by_mpi as launched_by_mpi
from ._src.distributed.launch import select_gpu_by_local_rank as select_gpu_by_local_rank
from ._src.distributed.mpi import MPICollectives as MPICollectives
from ._src.distributed.mpi import RankMismatchError as RankMismatchError
from ._src.distributed.mpi import check_consistency as check_consistency
from ._src.distributed.mpi import get_collectives as get_collectives
from ._src.distributed.mpi import is_root as is_root
from ._src.distributed.mpi import local_rank as local_rank
from ._src.distributed.mpi import rank as rank
from ._src.distributed.mpi import rank_seed as rank_seed
from ._src.distributed.mpi import size as size

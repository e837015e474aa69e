"""Cross-rank communication: rank, size and the collectives the driver uses.

Run a script on ``R`` ranks with ``mpirun -np R python script.py``; see
``docs/distributed.md``. Without an MPI launcher, or without mpi4py/mpi4jax,
everything works as a single rank.
"""

from ._src.distributed.collectives import (
    LOCAL as LOCAL,
    Collectives as Collectives,
    LocalCollectives as LocalCollectives,
)
from ._src.distributed.launch import (
    launched_by_mpi as launched_by_mpi,
    select_gpu_by_local_rank as select_gpu_by_local_rank,
)
from ._src.distributed.mpi import (
    MPICollectives as MPICollectives,
    RankMismatchError as RankMismatchError,
    check_consistency as check_consistency,
    get_collectives as get_collectives,
    is_root as is_root,
    local_rank as local_rank,
    rank as rank,
    rank_seed as rank_seed,
    size as size,
)
from ._src.distributed.threads import (
    ThreadPlan as ThreadPlan,
    limit_threads_on_import as limit_threads_on_import,
    plan_threads as plan_threads,
)

"""How many threads each rank may use, decided before JAX and BLAS start.

Under ``mpirun -np R`` on a node of ``C`` cores, every rank's XLA thread pool
and BLAS library start, by default, as many threads as the rank can run on: with
the cores left unbound (``--bind-to none``, ``srun`` without ``--cpu-bind``) that
is ``C`` threads per rank, ``R x C`` in all, and the ranks fight for the cores. A
dense factorisation is where it shows: a Cholesky of a 1024 x 1024 matrix took
1.3 s with 2 threads on 2 cores shared with other work, 25 ms with one.

Like the GPU binding (:mod:`.launch`), this module imports neither JAX nor
numpy: the package calls :func:`limit_threads_on_import` before NetKet starts
JAX's backends. Both libraries read their thread counts once, when they start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from netket_factored_vit._src.distributed.launch import _int_or_none, launch_info

THREADS_VARIABLE = "NFV_THREADS_PER_RANK"
"""Environment variable overriding the decision: a positive integer, or ``0`` / ``off``
to leave threads and core binding alone."""

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread counts read by OpenMP, OpenBLAS (numpy's and scipy's BLAS) and MKL."""

# Number of ranks on this node, as each launcher exports it.
_LOCAL_SIZE_VARS = (
    "OMPI_COMM_WORLD_LOCAL_SIZE",  # Open MPI
    "MPI_LOCALNRANKS",  # MPICH, Intel MPI
    "MV2_COMM_WORLD_LOCAL_SIZE",  # MVAPICH
)


class ThreadPlan(NamedTuple):
    """What each rank of a node should use."""

    threads: int
    """Threads for BLAS and for XLA's intra-op pool."""
    cores: tuple[int, ...]
    """The cores this rank should run on (its CPU affinity)."""


def local_size(environ: Mapping[str, str]) -> int | None:
    """Number of ranks on this node, as exported by the launcher, or ``None``."""
    for name in _LOCAL_SIZE_VARS:
        value = _int_or_none(environ.get(name))
        if value is not None:
            return value
    tasks = environ.get("SLURM_STEP_TASKS_PER_NODE")  # e.g. "4(x2)" or "4,3"
    if tasks:
        return _int_or_none(tasks.split("(")[0].split(",")[0])
    return None


def plan_threads(
    *,
    local_ranks: int | None,
    local_rank: int | None,
    cores: tuple[int, ...],
    override: str | None = None,
) -> ThreadPlan | None:
    """The threads and cores of one rank, or ``None`` to change nothing.

    A pure function of what the launcher and the system report, so that it can be
    tested without launching anything.

    Args:
        local_ranks: Ranks on this node (``None`` for a plain run).
        local_rank: This rank's index among them.
        cores: The cores this process may run on (its CPU affinity).
        override: The value of ``NFV_THREADS_PER_RANK``, if set: a positive number of
            threads, or ``0`` / ``off`` to change nothing.

    Returns:
        With an override of ``n``: ``n`` threads on the rank's ``n`` cores (the
        first ``n`` in a plain run; every core it may run on when there are fewer). Else,
        for several ranks on the node that may all run on the same cores: each gets
        an equal share of them, at least one. A plain run, a single rank, or ranks
        the launcher already bound to their own cores (``mpirun --bind-to core``)
        are left alone.

    Raises:
        ValueError: ``override`` is neither a non-negative integer nor ``off``.
    """
    if override is not None and override.strip() != "":
        text = override.strip().lower()
        if text in ("off", "false", "no"):
            return None
        try:
            threads = int(text)
        except ValueError:
            threads = -1
        if threads < 0:
            raise ValueError(
                f"{THREADS_VARIABLE}={override!r}: expected a positive number of threads "
                "per rank, or 0 / off to leave threads alone."
            )
        if threads == 0:
            return None
        return ThreadPlan(threads, _share(cores, local_rank, threads))
    if local_ranks is None or local_ranks <= 1 or local_rank is None:
        return None
    threads = max(1, len(cores) // local_ranks)
    if len(cores) <= threads:  # already bound to a share of the node's cores
        return None
    return ThreadPlan(threads, _share(cores, local_rank, threads))


def _share(cores: tuple[int, ...], local_rank: int | None, threads: int) -> tuple[int, ...]:
    """The ``local_rank``-th block of ``threads`` cores (the first without a rank),
    wrapping around when the ranks need more cores than there are."""
    if len(cores) <= threads:
        return tuple(cores)
    local_rank = 0 if local_rank is None else local_rank
    n_blocks = len(cores) // threads
    start = (local_rank % n_blocks) * threads
    return tuple(cores[start : start + threads])


def _affinity() -> tuple[int, ...]:
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return tuple(range(os.cpu_count() or 1))


def apply_plan(plan: ThreadPlan, environ=os.environ) -> None:
    """Set BLAS thread counts (unless already set), XLA's CPU thread options and the
    CPU affinity of this process according to ``plan``."""
    for name in BLAS_VARIABLES:
        environ.setdefault(name, str(plan.threads))
    # XLA has no flag for the size of its CPU thread pool: it follows the affinity set
    # below. A bare ``intra_op_parallelism_threads=N`` (a TensorFlow option) is not an
    # XLA flag, and as the first word of XLA_FLAGS it is read as a file name and aborts.
    flags = environ.get("XLA_FLAGS", "")
    if plan.threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    if hasattr(os, "sched_setaffinity") and set(plan.cores) != set(_affinity()):
        # XLA sizes its thread pool from the cores the process may run on.
        os.sched_setaffinity(0, plan.cores)


def limit_threads_on_import() -> ThreadPlan | None:
    """Share the node's cores among its ranks, before JAX or BLAS start threads.

    Called by ``netket_factored_vit/__init__.py``. Under an MPI launcher with
    several ranks per node that may all run on every core, each rank gets an
    equal share of the cores: it is bound to them and its BLAS and XLA thread
    counts are set to their number. ``NFV_THREADS_PER_RANK=n`` asks for ``n``
    threads per rank (also in a plain run); ``NFV_THREADS_PER_RANK=0`` changes
    nothing. Thread counts the user already set (``OMP_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) are kept.

    Returns:
        The plan that was applied, or ``None``.
    """
    info = launch_info()
    plan = plan_threads(
        local_ranks=None if info is None else local_size(os.environ),
        local_rank=None if info is None else info.local_rank,
        cores=_affinity(),
        override=os.environ.get(THREADS_VARIABLE),
    )
    if plan is not None:
        apply_plan(plan)
    return plan

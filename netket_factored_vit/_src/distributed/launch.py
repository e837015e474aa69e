"""What the MPI launcher tells a process, and binding each rank to a GPU.

This module imports neither JAX nor mpi4py, so that it can run before either
initialises: the GPU a rank uses must be chosen before JAX starts its
backends, and NetKet starts them as soon as it is imported. The package calls
:func:`bind_gpu_on_import` first thing when it is imported.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from typing import NamedTuple


class LaunchInfo(NamedTuple):
    """What an MPI launcher told this process through its environment."""

    launcher: str
    """Name of the launcher family the variables come from."""
    size: int | None
    """Number of ranks, if the launcher exports it."""
    rank: int | None
    """Rank of this process, if exported."""
    local_rank: int | None
    """Rank among the processes on this node, if exported."""


# (launcher, size variable, rank variable, node-local rank variable). The size
# variable is what marks a launch: SLURM_NTASKS is also set inside a batch
# script run without srun, so only the job-step variable counts for SLURM.
_LAUNCHER_VARS = (
    ("openmpi", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("mpich/intel-mpi", "PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"),
    ("mvapich", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_LOCAL_RANK"),
    ("slurm", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID"),
)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def launch_info(environ: Mapping[str, str] | None = None) -> LaunchInfo | None:
    """Read the launcher's variables from ``environ``; ``None`` for a plain run."""
    env = os.environ if environ is None else environ
    for launcher, size_var, rank_var, local_var in _LAUNCHER_VARS:
        size = _int_or_none(env.get(size_var))
        if size is not None:
            return LaunchInfo(
                launcher,
                size,
                _int_or_none(env.get(rank_var)),
                _int_or_none(env.get(local_var)),
            )
    # PMIx-only launches (e.g. ``srun --mpi=pmix`` on some sites) export the rank
    # but not the size; MPI itself will tell the size.
    if "PMIX_RANK" in env:
        return LaunchInfo("pmix", None, _int_or_none(env.get("PMIX_RANK")), None)
    return None


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (``mpirun``, ``mpiexec``, ``srun``) started this process.

    Decided from the environment only (``OMPI_COMM_WORLD_SIZE``, ``PMI_SIZE``,
    ``MV2_COMM_WORLD_SIZE``, ``SLURM_STEP_NUM_TASKS``, ``PMIX_RANK``), so it
    never initialises MPI.
    """
    return launch_info() is not None


def _visible_gpus() -> list[str] | None:
    """GPU ids this process may use, or ``None`` when there are no NVIDIA GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
        # "-1" or "" is the CUDA way to hide every device.
        return ids if ids and ids[0] != "-1" else None
    try:
        n = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return None
    return [str(i) for i in range(n)] if n else None


def _jax_backends_initialized() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):
        # Cannot tell: assume the worst, the binding can no longer change.
        return True


def _jax_has_gpu() -> bool:
    import jax

    return any(d.platform == "gpu" for d in jax.devices())


def select_gpu_by_local_rank(local_rank: int | None = None) -> str | None:
    """Bind this rank to one GPU, chosen by its node-local rank.

    Sets ``CUDA_VISIBLE_DEVICES`` to the ``local_rank % n``-th of the ``n``
    GPUs this process can see (those already listed in
    ``CUDA_VISIBLE_DEVICES``, else every NVIDIA GPU of the node), so that the
    ranks of a node spread over its GPUs, one each when there are as many
    ranks as GPUs. A rank that already sees a single GPU (``srun
    --gpus-per-task=1``) keeps it.

    JAX reads the variable once, when it initialises its backends, which
    NetKet does as soon as it is imported. ``import netket_factored_vit`` calls
    this function before importing NetKet (see :func:`bind_gpu_on_import`), so
    scripts need not; a script that imports NetKet or uses JAX *before*
    importing this package must call it first itself.

    It does nothing and returns ``None`` when the process was not started by an
    MPI launcher (a plain run keeps every GPU), when there is no NVIDIA GPU,
    or when JAX has already initialised its backends (then it warns if JAX
    found a GPU, since the binding can no longer change).

    Args:
        local_rank: the node-local rank; defaults to the one the launcher
            exported (``OMPI_COMM_WORLD_LOCAL_RANK``, ``MPI_LOCALRANKID``,
            ``MV2_COMM_WORLD_LOCAL_RANK``, ``SLURM_LOCALID``).

    Returns:
        The device id written to ``CUDA_VISIBLE_DEVICES``, or ``None``.
    """
    info = launch_info()
    if info is None:
        return None
    if _jax_backends_initialized():
        if _jax_has_gpu():
            warnings.warn(
                "select_gpu_by_local_rank() was called after JAX initialised its GPU "
                "backend, so the rank -> GPU binding cannot change; call it (or import "
                "netket_factored_vit) before importing netket or using JAX.",
                stacklevel=2,
            )
        return None
    gpus = _visible_gpus()
    if gpus is None:
        return None
    if local_rank is None:
        local_rank = info.local_rank
    if local_rank is None:
        warnings.warn(
            f"The {info.launcher} launcher exports no node-local rank: GPUs are not bound "
            "to ranks. Set CUDA_VISIBLE_DEVICES per rank yourself.",
            stacklevel=2,
        )
        return None
    device = gpus[local_rank % len(gpus)]
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    return device


def bind_gpu_on_import() -> str | None:
    """Run :func:`select_gpu_by_local_rank` unless ``NFV_BIND_GPU=0`` is set.

    Called by ``netket_factored_vit/__init__.py`` before anything imports JAX's
    backends. Set ``NFV_BIND_GPU=0`` to manage ``CUDA_VISIBLE_DEVICES`` yourself.
    """
    if os.environ.get("NFV_BIND_GPU", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    return select_gpu_by_local_rank()

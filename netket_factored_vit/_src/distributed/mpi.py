"""MPI ranks and collectives over mpi4jax, with single-process fallbacks.

A script started by ``mpirun -np R`` (or ``srun``) runs as ``R`` processes. Each
one runs an ordinary single-process NetKet state; the driver does every
cross-rank reduction through the :class:`MPICollectives` returned by
:func:`get_collectives`.

Importing this module never imports :mod:`mpi4py`: importing it calls
``MPI_Init``, which must not happen in a plain ``python script.py`` run. MPI is
touched only when the environment shows that an MPI launcher started the
process (see :func:`launched_by_mpi`), and only when a function needs it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from netket_factored_vit._src.distributed.collectives import LOCAL, Collectives
from netket_factored_vit._src.distributed.launch import (
    _int_or_none,
    launch_info,
    launched_by_mpi,
    select_gpu_by_local_rank,
)

__all__ = [
    "INSTALL_HINT",
    "MPICollectives",
    "RankMismatchError",
    "check_consistency",
    "get_collectives",
    "is_root",
    "launched_by_mpi",
    "local_rank",
    "rank",
    "rank_seed",
    "select_gpu_by_local_rank",
    "size",
]

INSTALL_HINT = (
    'pip install "netket_factored_vit[mpi]"  (needs an MPI library such as OpenMPI with '
    "`mpicc` on PATH; for mpi4jax's GPU extension set CUDA_ROOT to the CUDA toolkit "
    "when installing, see docs/distributed.md)"
)
"""How to install the optional MPI dependencies, quoted in error messages."""

_MIN_MPI4JAX = (0, 8)
"""mpi4jax 0.8 dropped explicit tokens: its collectives return only the result."""


def _mpi_installed() -> bool:
    """Whether mpi4py and mpi4jax can be imported, without importing them."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("mpi4py", "mpi4jax"))
    except (ImportError, ValueError):
        return False


def _missing_mpi_error(reason: str) -> ImportError:
    return ImportError(
        f"{reason}, but mpi4py/mpi4jax are not installed. Install them with:\n  {INSTALL_HINT}"
    )


@functools.cache
def _world():
    """``MPI.COMM_WORLD`` when launched by MPI and mpi4py is installed, else ``None``."""
    if launch_info() is None or importlib.util.find_spec("mpi4py") is None:
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD


def rank() -> int:
    """Index of this process among all ranks; ``0`` in a plain (non-MPI) run."""
    return _current_rank()


def _current_rank() -> int:
    world = _world()
    if world is not None:
        return world.Get_rank()
    info = launch_info()
    return info.rank if info is not None and info.rank is not None else 0


def size() -> int:
    """Number of ranks; ``1`` in a plain (non-MPI) run."""
    world = _world()
    if world is not None:
        return world.Get_size()
    info = launch_info()
    return info.size if info is not None and info.size is not None else 1


@functools.cache
def _local_rank_from_mpi() -> int:
    from mpi4py import MPI

    node = _world().Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_rank()
    finally:
        node.Free()


def local_rank() -> int:
    """Rank of this process among the ranks on the same node; ``0`` in a plain run.

    Read from the launcher's environment (``OMPI_COMM_WORLD_LOCAL_RANK``,
    ``MPI_LOCALRANKID``, ``MV2_COMM_WORLD_LOCAL_RANK``, ``SLURM_LOCALID``), which
    does not initialise MPI. Only where the launcher exports none of these is it
    computed by splitting ``COMM_WORLD`` into shared-memory nodes, a collective
    call: then every rank must call this function.
    """
    info = launch_info()
    if info is None:
        return 0
    if info.local_rank is not None:
        return info.local_rank
    if _world() is None:
        return 0
    return _local_rank_from_mpi()


def is_root() -> bool:
    """Whether this is rank 0, the only rank that writes logs, checkpoints and plots."""
    return _current_rank() == 0


class MPICollectives(Collectives):
    """The :class:`Collectives` of an MPI communicator, implemented with mpi4jax.

    Every operation accepts an array or a pytree of arrays and can be used
    inside :func:`jax.jit`. Every rank must call the same operations in the
    same order, with arrays of the same shape and dtype.

    Args:
        comm: an ``mpi4py`` intracommunicator. The default is a private clone of
            ``MPI.COMM_WORLD``, so that these collectives never match messages of
            other code that uses ``COMM_WORLD`` directly. Cloning is collective:
            all ranks must construct the object together.
    """

    def __init__(self, comm=None):
        _import_mpi4jax("MPICollectives was constructed")
        from mpi4py import MPI

        if comm is None:
            comm = MPI.COMM_WORLD.Clone()
        self.comm = comm
        """The mpi4py communicator the operations run on."""
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._sum_op = MPI.SUM

    def __repr__(self):
        return f"MPICollectives(rank={self.rank}, size={self.size})"

    def sum(self, x):
        import mpi4jax

        return jax.tree_util.tree_map(
            lambda a: mpi4jax.allreduce(jnp.asarray(a), op=self._sum_op, comm=self.comm), x
        )

    def all_to_all(self, x):
        import mpi4jax

        def exchange(a):
            a = jnp.asarray(a)
            if a.ndim == 0 or a.shape[0] != self.size:
                raise ValueError(
                    f"all_to_all needs arrays of shape (size, ...) = ({self.size}, ...), "
                    f"got shape {a.shape}."
                )
            return mpi4jax.alltoall(a, comm=self.comm)

        return jax.tree_util.tree_map(exchange, x)

    def all_gather(self, x):
        import mpi4jax

        return jax.tree_util.tree_map(
            lambda a: mpi4jax.allgather(jnp.asarray(a), comm=self.comm), x
        )

    def bcast(self, x, root: int = 0):
        import mpi4jax

        if not 0 <= root < self.size:
            raise ValueError(f"bcast root must be a rank in [0, {self.size}), got {root}.")
        return jax.tree_util.tree_map(
            lambda a: mpi4jax.bcast(jnp.asarray(a), root, comm=self.comm), x
        )


def _import_mpi4jax(reason: str):
    if not _mpi_installed():
        raise _missing_mpi_error(reason)
    import mpi4jax

    version = tuple(_int_or_none(p) or 0 for p in mpi4jax.__version__.split(".")[:2])
    if version < _MIN_MPI4JAX:
        raise ImportError(
            f"mpi4jax {mpi4jax.__version__} is too old: netket_factored_vit needs mpi4jax >= "
            f"{'.'.join(map(str, _MIN_MPI4JAX))} (collectives without tokens). Upgrade with:\n"
            f"  {INSTALL_HINT}"
        )
    return mpi4jax


@functools.cache
def _world_collectives() -> MPICollectives:
    # Cached so that every caller shares one communicator clone and jitted
    # functions that close over the collectives are compiled once.
    return MPICollectives()


def get_collectives(require_mpi: bool = False) -> Collectives:
    """The collectives of this run: MPI ones under an MPI launcher, else the identity.

    Returns :data:`LOCAL` (single process) in a plain ``python script.py`` run
    and under a launcher with a single rank, so that ``mpirun -np 1`` is the same
    as a plain run. Returns a shared :class:`MPICollectives` over
    ``MPI.COMM_WORLD`` when more than one rank was launched; the first call is
    collective (every rank must make it).

    Args:
        require_mpi: raise if mpi4py/mpi4jax are not installed, even in a plain
            run. Without it, a plain run falls back to :data:`LOCAL`.

    Raises:
        ImportError: MPI was required, or more than one rank was launched, and
            mpi4py/mpi4jax are missing (the message gives the install command).
    """
    info = launch_info()
    if require_mpi and not _mpi_installed():
        raise _missing_mpi_error("MPI was requested (require_mpi=True)")
    if info is None or info.size == 1:
        return LOCAL
    if not _mpi_installed():
        ranks = f"{info.size} ranks" if info.size is not None else "several ranks"
        raise _missing_mpi_error(f"This script was launched by {info.launcher} with {ranks}")
    _import_mpi4jax("MPI collectives were requested")
    if size() == 1:
        return LOCAL
    return _world_collectives()


def rank_seed(seed: int, rank: int | None = None) -> int:
    r"""Seed of rank ``rank``'s sampler, derived from the user's ``seed``.

    The seeds of different ranks are statistically independent streams of
    :class:`numpy.random.SeedSequence` (spawn key ``(rank,)``), and depend
    only on ``(seed, rank)``: the same run repeated, or resumed, draws the same
    samples on every rank. Parameters must *not* use this seed: they are
    initialised from ``seed`` itself, identically on every rank.

    Args:
        seed: the user's seed, a non-negative integer.
        rank: the rank; defaults to :func:`rank`.

    Returns:
        A non-negative integer below :math:`2^{32}`.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if rank is None:
        rank = _current_rank()
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 0:
        raise ValueError(f"rank must be a non-negative integer, got {rank!r}.")
    sequence = np.random.SeedSequence(int(seed), spawn_key=(int(rank),))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


class RankMismatchError(RuntimeError):
    """The ranks of an MPI run hold different values where they must agree."""


def _leaf_bytes(leaf: Any) -> bytes:
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array | np.ndarray | np.generic):
        a = np.ascontiguousarray(np.asarray(leaf))
        return f"array:{a.dtype.str}:{a.shape}:".encode() + a.tobytes()
    text = repr(leaf)
    # A default object repr holds a memory address, different on every rank
    # even for equal objects: compare the type only.
    if " at 0x" in text:
        text = f"<{type(leaf).__module__}.{type(leaf).__qualname__}>"
    return f"{type(leaf).__name__}:{text}".encode()


def _path_name(path) -> str:
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts) if parts else "<root>"


def _leaf_digests(tree: Any) -> dict[str, str]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)
    return {
        _path_name(path): hashlib.blake2b(_leaf_bytes(leaf), digest_size=16).hexdigest()
        for path, leaf in leaves
    }


def _gather_bytes(payload: bytes, collectives: Collectives) -> list[bytes]:
    """Every rank's ``payload`` (any length), in rank order."""
    lengths = np.asarray(collectives.all_gather(jnp.asarray(len(payload), dtype=jnp.int32)))
    buffer = np.zeros(int(lengths.max()), dtype=np.uint8)
    buffer[: len(payload)] = np.frombuffer(payload, dtype=np.uint8)
    gathered = np.asarray(collectives.all_gather(jnp.asarray(buffer)))
    return [gathered[r, : lengths[r]].tobytes() for r in range(len(lengths))]


def check_consistency(
    tree: Any, collectives: Collectives | None = None, *, what: str = "parameters"
) -> None:
    """Check that every rank holds the same ``tree``; raise naming the ranks that differ.

    ``tree`` is a pytree (parameters, a sampler state) or a dict of settings
    (a run configuration). Each leaf is hashed on the host, arrays by their
    dtype, shape and bytes (so "the same" means bit-identical) and other values
    by their ``repr``. In the common case of agreement it costs one hash of the
    tree and one all-gather of 16 bytes; only on a mismatch are the per-leaf
    hashes exchanged to name what differs. Every rank must call it; every rank
    raises the same error, so an MPI run stops as a whole.

    Args:
        tree: the pytree or dict to compare across ranks.
        collectives: the collectives of the run; defaults to
            :func:`get_collectives`. A single process is trivially consistent.
        what: what ``tree`` is, for the error message (e.g. ``"configuration"``).

    Raises:
        RankMismatchError: some rank's ``tree`` differs from rank 0's. The
            message lists each such rank and the leaves (for a dict of
            settings: the field names) that differ, are missing or are extra.
    """
    if collectives is None:
        collectives = get_collectives()
    if collectives.size == 1:
        return
    digests = _leaf_digests(tree)
    overall = hashlib.blake2b(json.dumps(digests, sort_keys=True).encode(), digest_size=16).digest()
    all_overall = np.asarray(
        collectives.all_gather(jnp.asarray(np.frombuffer(overall, dtype=np.uint8)))
    )
    if (all_overall == all_overall[0]).all():
        return

    # All ranks saw the same gathered digests, so all take this branch together.
    per_rank = [
        json.loads(b.decode())
        for b in _gather_bytes(json.dumps(digests, sort_keys=True).encode(), collectives)
    ]
    reference = per_rank[0]
    lines = []
    for r, theirs in enumerate(per_rank[1:], start=1):
        if theirs == reference:
            continue
        differing = sorted(k for k in reference.keys() & theirs.keys() if reference[k] != theirs[k])
        missing = sorted(reference.keys() - theirs.keys())
        extra = sorted(theirs.keys() - reference.keys())
        details = []
        for label, names in (("differs in", differing), ("lacks", missing), ("has extra", extra)):
            if names:
                shown = ", ".join(repr(n) for n in names[:8])
                more = f" and {len(names) - 8} more" if len(names) > 8 else ""
                details.append(f"{label} {shown}{more}")
        lines.append(f"  rank {r} {'; '.join(details)}")
    bad = [r for r, theirs in enumerate(per_rank) if r > 0 and theirs != reference]
    raise RankMismatchError(
        f"Mismatch of the {what} across MPI ranks: rank(s) {bad} differ from rank 0.\n"
        + "\n".join(lines)
        + "\nEvery rank must start from the same settings and apply the same update."
    )

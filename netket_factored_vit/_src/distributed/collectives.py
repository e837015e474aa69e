"""The few cross-rank operations the driver needs, behind one small interface.

Every reduction over samples in the driver goes through a :class:`Collectives`
object. A single process uses :class:`LocalCollectives`, whose operations are
identities; the MPI implementation (``mpi.py``) replaces them with mpi4jax
calls. All methods are traceable, so they can be used inside ``jax.jit``.
"""

from __future__ import annotations

import jax


class Collectives:
    """Interface of the cross-rank operations used by the SR / minSR algebra.

    Conventions: ``size`` ranks, this one is ``rank``. Arrays are JAX arrays;
    :meth:`sum` also accepts pytrees.
    """

    rank: int = 0
    """Index of this process, ``0 <= rank < size``."""
    size: int = 1
    """Number of processes."""

    def sum(self, x):
        """Elementwise sum of ``x`` (array or pytree) over all ranks (allreduce)."""
        raise NotImplementedError

    def all_to_all(self, x):
        """Block exchange: ``x`` has shape ``(size, ...)``; block ``i`` goes to rank
        ``i``, and the result's block ``j`` is what rank ``j`` sent to this rank."""
        raise NotImplementedError

    def all_gather(self, x):
        """Stack ``x`` from every rank: result has shape ``(size, *x.shape)``."""
        raise NotImplementedError

    def bcast(self, x, root: int = 0):
        """``x`` as held by rank ``root``, on every rank."""
        raise NotImplementedError


class LocalCollectives(Collectives):
    """Single-process collectives: every operation is the identity."""

    rank = 0
    size = 1

    def sum(self, x):
        return x

    def all_to_all(self, x):
        return x

    def all_gather(self, x):
        return jax.tree_util.tree_map(lambda a: a[None], x)

    def bcast(self, x, root: int = 0):
        return x


LOCAL = LocalCollectives()
"""The single-process instance used by default."""

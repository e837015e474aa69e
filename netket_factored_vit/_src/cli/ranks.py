"""The few cross-rank steps of the command line: who writes, and waiting for each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ranks:
    """This process's place among the MPI ranks of a run."""

    rank: int = 0
    """Index of this process."""
    size: int = 1
    """Number of ranks."""

    @classmethod
    def world(cls) -> Ranks:
        """The ranks of this launch (one, without an MPI launcher)."""
        import netket_factored_vit as nfv

        return cls(rank=nfv.distributed.rank(), size=nfv.distributed.size())

    @property
    def is_root(self) -> bool:
        """Rank 0, the only one that writes files and prints."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank gets here (a no-op on one rank)."""
        if self.size > 1:
            import jax.numpy as jnp

            import netket_factored_vit as nfv

            nfv.distributed.get_collectives().all_gather(jnp.zeros(1, dtype=jnp.int32))

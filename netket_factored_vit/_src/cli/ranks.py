"""The few cross-rank steps of the command line: who writes, and waiting for each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from netket_factored_vit._src.cli.errors import UsageError

T = TypeVar("T")


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

    def on_root(self, action: Callable[[], T]) -> T | None:
        """Run ``action()`` on rank 0 only, and share whether it refused the request: if it
        raises a :class:`UsageError`, rank 0 raises it and every other rank raises one
        too (which only rank 0 prints). Returns what ``action`` returned (None off rank 0).
        """
        result, error = None, None
        if self.is_root:
            try:
                result = action()
            except UsageError as err:
                error = err
        refused = error is not None
        if self.size > 1:
            import jax.numpy as jnp
            import numpy as np

            import netket_factored_vit as nfv

            flag = jnp.asarray(refused, dtype=jnp.int32)
            refused = bool(np.asarray(nfv.distributed.get_collectives().bcast(flag)))
        if refused:
            raise error if error is not None else UsageError("refused on rank 0")
        return result

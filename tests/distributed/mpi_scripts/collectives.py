"""Every collective, inside jax.jit, on rank-dependent inputs the test can predict."""

import _common
import jax
import jax.numpy as jnp

import netket_factored_vit as nfv

coll = nfv.distributed.get_collectives()
r, R = coll.rank, coll.size


def inputs(rank):
    x = (jnp.arange(6.0).reshape(2, 3) + 1) * (rank + 1) + 1j * rank
    tree = {"a": jnp.full((2,), float(rank)), "b": (jnp.asarray(rank, dtype=jnp.int64),)}
    blocks = 100.0 * rank + 10.0 * jnp.arange(R)[:, None] + jnp.arange(4.0)[None, :]
    return x, tree, blocks


@jax.jit
def apply(x, tree, blocks):
    return {
        "sum": coll.sum(x),
        "sum_tree": coll.sum(tree),
        "all_to_all": coll.all_to_all(blocks),
        "all_gather": coll.all_gather(x),
        "bcast": coll.bcast(x, root=R - 1),
    }


out = apply(*inputs(r))
try:
    coll.all_to_all(jnp.zeros((R + 1, 2)))
    bad_shape = None
except ValueError as err:
    bad_shape = str(err)

_common.write(
    r,
    {
        "type": type(coll).__name__,
        "rank": nfv.distributed.rank(),
        "size": nfv.distributed.size(),
        "coll_rank": r,
        "coll_size": R,
        "local_rank": nfv.distributed.local_rank(),
        "is_root": nfv.distributed.is_root(),
        "launched_by_mpi": nfv.distributed.launched_by_mpi(),
        "rank_seed": nfv.distributed.rank_seed(1234),
        "sum": _common.split_complex(out["sum"]),
        "sum_tree_a": out["sum_tree"]["a"].tolist(),
        "sum_tree_b": int(out["sum_tree"]["b"][0]),
        "sum_tree_b_dtype": str(out["sum_tree"]["b"][0].dtype),
        "all_to_all": out["all_to_all"].tolist(),
        "all_gather": _common.split_complex(out["all_gather"]),
        "bcast": _common.split_complex(out["bcast"]),
        "bad_shape_error": bad_shape,
    },
)

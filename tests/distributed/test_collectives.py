"""The collectives under mpirun, inside jax.jit, against numpy expectations."""

import numpy as np
import pytest

import netket_factored_vit as nfv


def _inputs(rank, size):
    x = (np.arange(6.0).reshape(2, 3) + 1) * (rank + 1) + 1j * rank
    blocks = 100.0 * rank + 10.0 * np.arange(size)[:, None] + np.arange(4.0)[None, :]
    return x, blocks


def _complex(d):
    return np.asarray(d["re"]) + 1j * np.asarray(d["im"])


@pytest.mark.mpi
@pytest.mark.parametrize(
    "n",
    [pytest.param(1, id="1-rank"), pytest.param(2, id="2-ranks"), pytest.param(3, id="3-ranks")],
)
def test_collectives_match_numpy(mpirun, n):
    results = mpirun("collectives.py", n=n)
    xs = [_inputs(r, n)[0] for r in range(n)]
    blocks = [_inputs(r, n)[1] for r in range(n)]
    seeds = {res["rank_seed"] for res in results}
    assert len(seeds) == n, "every rank must get its own sampler seed"

    for r, res in enumerate(results):
        assert res["type"] == ("LocalCollectives" if n == 1 else "MPICollectives")
        assert (res["rank"], res["size"], res["coll_rank"], res["coll_size"]) == (r, n, r, n)
        assert res["local_rank"] == r  # all ranks on this one node
        assert res["is_root"] == (r == 0)
        assert res["launched_by_mpi"]
        assert res["rank_seed"] == nfv.distributed.rank_seed(1234, r)

        np.testing.assert_array_equal(_complex(res["sum"]), sum(xs))
        np.testing.assert_array_equal(res["sum_tree_a"], np.full(2, float(sum(range(n)))))
        assert res["sum_tree_b"] == sum(range(n))
        assert res["sum_tree_b_dtype"] == "int64"
        # Block j of the result is block r of what rank j sent.
        np.testing.assert_array_equal(res["all_to_all"], np.stack([blocks[j][r] for j in range(n)]))
        np.testing.assert_array_equal(_complex(res["all_gather"]), np.stack(xs))
        np.testing.assert_array_equal(_complex(res["bcast"]), xs[n - 1])
        if n > 1:
            assert "shape (size, ...)" in res["bad_shape_error"]

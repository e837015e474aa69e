"""Distributed SR / minSR and the rank consistency check, under mpirun -np 2."""

import pytest


@pytest.mark.mpi
def test_distributed_updates_equal_single_process(mpirun):
    results = mpirun("sr_algebra.py", n=2)
    for res in results:
        diffs = {k: v for k, v in res.items() if not k.endswith("/scale")}
        assert len(diffs) == 2 + 2 + 4 + 2
        for name, diff in diffs.items():
            scale = res.get(name + "/scale", 1.0)
            assert scale > 1e-3, name  # a non-trivial update
            assert diff <= 1e-10 * max(1.0, scale), f"{name}: {diff:.3e}"


@pytest.mark.mpi
def test_consistency_check_names_the_rank_and_field(mpirun):
    results = mpirun("consistency.py", n=2)
    for res in results:
        assert res["same_params"] is None
        assert res["same_config"] is None

        msg = res["desync_params"]
        assert msg is not None and "Mismatch of the parameters" in msg
        assert "rank(s) [1]" in msg and "'params/Dense_1/kernel'" in msg
        assert "Dense_0" not in msg and "Dense_1/bias" not in msg

        msg = res["different_field"]
        assert msg is not None and "Mismatch of the configuration" in msg
        assert "rank 1 differs in 'J2'" in msg and "n_samples" not in msg

        msg = res["missing_field"]
        assert msg is not None and "rank 1 lacks 'seed'" in msg
    # Every rank raises the same error, so the whole run stops.
    assert results[0] == results[1]

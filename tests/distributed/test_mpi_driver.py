"""The driver on 2 MPI ranks: equivalence, identical parameters, files, resume, checks."""

import numpy as np
import pytest
from conftest import run_mpi, run_plain

pytestmark = pytest.mark.mpi


def test_driver_on_two_ranks_equals_one_process_on_all_samples(mpirun):
    results = mpirun("driver_update.py", n=2)
    for res in results:
        for name in ("real/sr", "complex/minsr/spring"):
            case = res[name]
            assert case["n_rows"] == case["ref_n_rows"], name  # M counts every rank's samples
            assert case["scale"] > 1e-3, name  # a non-trivial update
            assert case["update"] <= 1e-10 * case["scale"], f"{name}: {case['update']:.3e}"
            assert case["stats"] <= 1e-10 * case["energy_error"], f"{name}: {case['stats']:.3e}"
        assert res["estimate"] <= 1e-12  # observables are estimated over all ranks

        # Parameters: rank 0's initialisation on every rank, even from different seeds.
        assert res["params_are_rank0_init"]
        # minSR holds a column block of the Jacobian or the kernel, never all of it.
        mem = res["minsr_memory"]
        assert mem["largest"] <= max(mem["column_block"], mem["kernel"]) < mem["full_jacobian"]
    r0, r1 = results
    assert r0["params_digest"] == r1["params_digest"]
    # Each rank samples its own chains.
    assert r0["chains"] != r1["chains"]
    assert r0["samples_digest"] != r1["samples_digest"]


def test_training_checkpoint_and_resume_on_two_ranks(mpirun, tmp_path):
    written = mpirun("train.py", n=2, args=("write",))
    out = tmp_path / "mpi_out"
    for r in range(2):
        (out / f"rank{r}.json").rename(out / f"write{r}.json")
    resumed = mpirun("train.py", n=2, args=("resume",))
    w0, w1 = written
    s0, s1 = resumed

    # Bit-identical parameters on both ranks (check_every=1 checked it each step too).
    assert w0["straight_digest"] == w1["straight_digest"]
    assert s0["resumed_digest"] == s1["resumed_digest"]

    # Only rank 0 logs, draws the progress bar and writes checkpoints.
    assert w0["n_loggers"] == 2 and w1["n_loggers"] == 0
    for a, b in ((w0, w1), (s0, s1)):
        assert all("EnergyProgressBarCallback" in c for c in a["callbacks"])
        assert not any(
            "EnergyProgressBarCallback" in c or "LegacyLoggerWrapper" in c for c in b["callbacks"]
        )
        assert a["writes"] and not b["writes"]
    files = sorted(p.name for p in out.iterdir() if not p.name.endswith(".json"))
    assert files == sorted(
        ["ckpt.mpack", "ckpt.mpack.prev"]
        + [
            f"{run}_rank0.{ext}"
            for run in ("straight", "first", "second")
            for ext in ("log", "mpack")
        ]
    )

    # Resumed on 2 ranks from rank 0's checkpoint: the same trajectory, bit for bit.
    assert s0["resumed_step"] == s1["resumed_step"] == 2
    assert w0["first_energies"] == w0["straight_energies"][:2]
    assert s0["second_energies"] == w0["straight_energies"][2:]
    np.testing.assert_array_equal(s0["resumed_params"], w0["straight_params"])
    assert s0["resumed_digest"] == w0["straight_digest"]


def test_desynchronised_rank_is_detected(mpirun):
    results = mpirun("desync.py", n=2)
    for res in results:
        # Different settings are refused at construction, naming the field.
        for field in ("diag_shift", "n_samples"):
            msg = res[field]
            assert msg is not None and "Mismatch of the settings" in msg
            assert f"rank 1 differs in '{field}'" in msg
        # A rank nudged by one ulp after step 0 is caught at the check of step 2.
        msg = res["run"]
        assert msg is not None and "Mismatch of the parameters" in msg
        assert "rank(s) [1]" in msg and "variables/params/" in msg
        assert res["stopped_at_step"] == 1
    assert results[0] == results[1]  # every rank stops with the same error


def test_one_rank_under_mpirun_is_a_plain_run(tmp_path):
    # mpirun binds a single rank to one core, and XLA's thread count changes the
    # order of floating-point sums; unbound, it runs with the threads of a plain run.
    (launched,) = run_mpi("single.py", tmp_path, n=1, mpirun_args=("--bind-to", "none"))
    plain = run_plain("single.py", tmp_path)
    assert launched["launched_by_mpi"] and not plain["launched_by_mpi"]
    assert launched["collectives"] == plain["collectives"] == "LocalCollectives"
    assert launched["params"] == plain["params"]  # bit-identical trajectories

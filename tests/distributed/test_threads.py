"""Each rank's share of the node's cores: the decision, and its effect at import."""

import json
import os
import subprocess
import sys

import pytest

from netket_factored_vit._src.distributed import threads
from netket_factored_vit.distributed import ThreadPlan, plan_threads

EIGHT = tuple(range(8))


@pytest.mark.parametrize(
    "local_ranks, local_rank, cores, override, expected",
    [
        pytest.param(None, None, EIGHT, None, None, id="plain-run-unchanged"),
        pytest.param(1, 0, EIGHT, None, None, id="one-rank-unchanged"),
        pytest.param(4, 0, EIGHT, None, ThreadPlan(2, (0, 1)), id="4-ranks-8-cores-first"),
        pytest.param(4, 3, EIGHT, None, ThreadPlan(2, (6, 7)), id="4-ranks-8-cores-last"),
        pytest.param(3, 2, EIGHT, None, ThreadPlan(2, (4, 5)), id="3-ranks-8-cores"),
        pytest.param(2, 1, (0, 1), None, ThreadPlan(1, (1,)), id="2-ranks-2-cores"),
        pytest.param(3, 2, (0, 1), None, ThreadPlan(1, (0,)), id="more-ranks-than-cores"),
        pytest.param(4, 1, (5,), None, None, id="already-bound-by-launcher"),
        pytest.param(4, 1, EIGHT, "3", ThreadPlan(3, (3, 4, 5)), id="override-threads"),
        pytest.param(None, None, EIGHT, "1", ThreadPlan(1, (0,)), id="override-plain-run"),
        pytest.param(4, 1, EIGHT, "0", None, id="override-zero-is-off"),
        pytest.param(4, 1, EIGHT, "off", None, id="override-off"),
        pytest.param(2, 0, (0, 1), "4", ThreadPlan(4, (0, 1)), id="override-above-cores"),
    ],
)
def test_plan_threads(local_ranks, local_rank, cores, override, expected):
    plan = plan_threads(
        local_ranks=local_ranks, local_rank=local_rank, cores=cores, override=override
    )
    assert plan == expected


@pytest.mark.parametrize("override", ["-2", "two", "1.5"])
def test_bad_override_names_the_value(override):
    with pytest.raises(ValueError, match=f"NFV_THREADS_PER_RANK={override!r}"):
        plan_threads(local_ranks=2, local_rank=0, cores=EIGHT, override=override)


@pytest.mark.parametrize(
    "env, expected",
    [
        pytest.param({"OMPI_COMM_WORLD_LOCAL_SIZE": "4"}, 4, id="openmpi"),
        pytest.param({"MPI_LOCALNRANKS": "2"}, 2, id="mpich"),
        pytest.param({"SLURM_STEP_TASKS_PER_NODE": "4(x2)"}, 4, id="slurm"),
        pytest.param({}, None, id="none"),
    ],
)
def test_local_size(env, expected):
    assert threads.local_size(env) == expected


def test_apply_plan_keeps_user_settings():
    environ = {"OMP_NUM_THREADS": "7", "XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    threads.apply_plan(ThreadPlan(1, tuple(sorted(os.sched_getaffinity(0)))), environ)
    assert environ["OMP_NUM_THREADS"] == "7"
    assert environ["OPENBLAS_NUM_THREADS"] == "1"
    assert environ["XLA_FLAGS"].split() == [
        "--xla_dump_to=/tmp/x",
        "--xla_cpu_multi_thread_eigen=false",
    ]


@pytest.mark.parametrize("threads_per_rank", ["1", "2"])
def test_import_with_threads_per_rank_runs_jax(threads_per_rank):
    """NFV_THREADS_PER_RANK set, XLA_FLAGS empty: JAX starts and computes (a bare
    ``intra_op_parallelism_threads=2`` as XLA_FLAGS once aborted the process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI", "SLURM_"))}
    env.pop("XLA_FLAGS", None)
    env.update(JAX_PLATFORMS="cpu", **{threads.THREADS_VARIABLE: threads_per_rank})
    code = "import netket_factored_vit, jax; print(float(jax.numpy.ones(3).sum()))"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "3.0"


def test_import_gives_each_rank_its_share():
    """A rank of two on this node, as Open MPI would start it without binding."""
    code = (
        "import json, os\n"
        "before = sorted(os.sched_getaffinity(0))\n"
        "import netket_factored_vit, jax\n"
        "jax.numpy.ones(3).block_until_ready()\n"
        "print(json.dumps({'before': before, 'after': sorted(os.sched_getaffinity(0)),"
        " 'blas': os.environ.get('OPENBLAS_NUM_THREADS'), 'xla': os.environ.get('XLA_FLAGS')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI", "SLURM_"))}
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.pop(threads.THREADS_VARIABLE, None)
    env.update(
        JAX_PLATFORMS="cpu",
        OMPI_COMM_WORLD_SIZE="2",
        OMPI_COMM_WORLD_LOCAL_SIZE="2",
        OMPI_COMM_WORLD_RANK="1",
        OMPI_COMM_WORLD_LOCAL_RANK="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    plan = plan_threads(local_ranks=2, local_rank=1, cores=tuple(seen["before"]))
    if plan is None:  # this machine has a single core: nothing to share
        assert seen["after"] == seen["before"] and seen["blas"] is None
    else:
        assert seen["after"] == list(plan.cores)
        assert seen["blas"] == str(plan.threads)
        assert (seen["xla"] or "").startswith("--") or not seen["xla"]

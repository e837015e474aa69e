"""Without an MPI launcher everything is one rank; MPI is never initialised."""

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import netket_factored_vit as nfv
from netket_factored_vit._src.distributed import launch, mpi

_LAUNCHER_PREFIXES = ("OMPI_COMM_WORLD", "PMI_", "PMIX_", "MV2_COMM_WORLD", "SLURM_")


@pytest.fixture
def plain_env(monkeypatch):
    """The environment of a plain ``python script.py`` run."""
    for var in list(os.environ):
        if var.startswith(_LAUNCHER_PREFIXES):
            monkeypatch.delenv(var)
    world = mpi._world
    world.cache_clear()
    yield
    world.cache_clear()


def _run_python(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCHER_PREFIXES)} | {
        "JAX_PLATFORMS": "cpu",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=300
    )


def test_plain_run_is_one_rank(plain_env):
    d = nfv.distributed
    assert (d.rank(), d.size(), d.local_rank(), d.is_root()) == (0, 1, 0, True)
    assert not d.launched_by_mpi()
    assert d.get_collectives() is d.LOCAL
    assert d.select_gpu_by_local_rank() is None


def test_local_collectives_are_identities():
    c = nfv.distributed.LOCAL
    x = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    assert c.sum(x) is x
    np.testing.assert_array_equal(c.all_gather(x)["b"], np.ones((1, 2, 2)))
    blocks = jnp.arange(4.0).reshape(1, 4)
    np.testing.assert_array_equal(c.all_to_all(blocks), blocks)
    np.testing.assert_array_equal(c.bcast(x["a"]), x["a"])


class _RecordingLocal(nfv.distributed.Collectives):
    """One rank that records every collective it is asked for."""

    size, rank = 1, 0

    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        if name in ("sum", "all_gather", "all_to_all", "bcast"):
            self.calls.append(name)
        return object.__getattribute__(self, name)


def test_check_consistency_single_rank_is_free(plain_env):
    # A single process is trivially consistent, whatever the tree holds, and the
    # check communicates nothing.
    coll = _RecordingLocal()
    assert nfv.distributed.check_consistency({"w": jnp.ones(3), "f": lambda: 0}, coll) is None
    assert nfv.distributed.check_consistency({"L": 4}, coll, what="configuration") is None
    assert coll.calls == []


def test_import_does_not_initialise_mpi():
    code = (
        "import sys, netket_factored_vit as nfv\n"
        "nfv.distributed.get_collectives(); nfv.distributed.rank(); nfv.distributed.size()\n"
        "nfv.distributed.local_rank(); nfv.distributed.select_gpu_by_local_rank()\n"
        "assert 'mpi4py' not in sys.modules and 'mpi4jax' not in sys.modules, 'MPI imported'\n"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "require_mpi, env",
    [
        pytest.param(True, {}, id="required-in-plain-run"),
        pytest.param(
            False, {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"}, id="mpirun-2"
        ),
    ],
)
def test_missing_mpi4jax_gives_install_command(plain_env, monkeypatch, require_mpi, env):
    monkeypatch.setattr(mpi, "_mpi_installed", lambda: False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ImportError, match=r'pip install "netket_factored_vit\[mpi\]"'):
        nfv.distributed.get_collectives(require_mpi=require_mpi)


def test_missing_mpi4jax_is_fine_for_a_plain_run(plain_env, monkeypatch):
    monkeypatch.setattr(mpi, "_mpi_installed", lambda: False)
    assert nfv.distributed.get_collectives() is nfv.distributed.LOCAL


def test_single_rank_launch_is_a_plain_run(plain_env, monkeypatch):
    # mpirun -np 1 must behave exactly as a plain run, without touching MPI.
    monkeypatch.setattr(mpi, "_world", lambda: None)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    assert nfv.distributed.get_collectives() is nfv.distributed.LOCAL


@pytest.mark.parametrize(
    "env, expected",
    [
        pytest.param(
            {
                "OMPI_COMM_WORLD_SIZE": "4",
                "OMPI_COMM_WORLD_RANK": "3",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
            },
            ("openmpi", 4, 3, 1),
            id="openmpi",
        ),
        pytest.param(
            {"PMI_SIZE": "8", "PMI_RANK": "5", "MPI_LOCALRANKID": "1"},
            ("mpich/intel-mpi", 8, 5, 1),
            id="mpich",
        ),
        pytest.param(
            {"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "6", "SLURM_LOCALID": "2"},
            ("slurm", 8, 6, 2),
            id="srun",
        ),
        pytest.param({"PMIX_RANK": "2"}, ("pmix", None, 2, None), id="pmix-only"),
        # Inside an sbatch script, before srun: not a launch.
        pytest.param({"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, None, id="sbatch-not-srun"),
        pytest.param({}, None, id="plain"),
    ],
)
def test_launcher_detection(env, expected):
    info = launch.launch_info(env)
    assert (tuple(info) if info is not None else None) == expected


@pytest.mark.parametrize(
    "env, expected",
    [
        pytest.param(
            {
                "OMPI_COMM_WORLD_SIZE": "2",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                "CUDA_VISIBLE_DEVICES": "5,7",
            },
            "7",
            id="second-of-two-visible",
        ),
        pytest.param(
            {
                "OMPI_COMM_WORLD_SIZE": "4",
                "OMPI_COMM_WORLD_LOCAL_RANK": "3",
                "CUDA_VISIBLE_DEVICES": "0,1",
            },
            "1",
            id="more-ranks-than-gpus",
        ),
        pytest.param({"CUDA_VISIBLE_DEVICES": "0,1"}, "None", id="plain-run-keeps-all"),
    ],
)
def test_select_gpu_by_local_rank(env, expected):
    # In a fresh interpreter, loading launch.py alone: the choice must be made
    # before JAX initialises, and importing the package imports NetKet, which
    # initialises JAX.
    code = (
        "import importlib.util, os, sys\n"
        f"spec = importlib.util.spec_from_file_location('launch', {launch.__file__!r})\n"
        "launch = importlib.util.module_from_spec(spec); spec.loader.exec_module(launch)\n"
        "d = launch.select_gpu_by_local_rank()\n"
        "assert 'mpi4py' not in sys.modules and 'jax' not in sys.modules\n"
        "print(d, os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
    )
    proc = _run_python(code, **env)
    assert proc.returncode == 0, proc.stderr
    device, visible = proc.stdout.split()[-2:]
    assert device == expected
    if expected != "None":
        assert visible == expected


def test_rank_seed():
    seeds = [nfv.distributed.rank_seed(42, r) for r in range(64)]
    assert len(set(seeds)) == 64
    assert seeds == [nfv.distributed.rank_seed(42, r) for r in range(64)]
    assert nfv.distributed.rank_seed(43, 0) != seeds[0]
    assert all(0 <= s < 2**32 for s in seeds)


@pytest.mark.parametrize(
    "seed, rank",
    [
        pytest.param(-1, 0, id="negative-seed"),
        pytest.param(1.5, 0, id="float-seed"),
        pytest.param(0, -2, id="negative-rank"),
        pytest.param(None, 0, id="no-seed"),
    ],
)
def test_rank_seed_bad_input(seed, rank):
    with pytest.raises(ValueError, match="non-negative integer"):
        nfv.distributed.rank_seed(seed, rank)


def test_package_import_binds_gpu_before_netket():
    code = "import os, netket_factored_vit\nprint(os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
    env = {
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "CUDA_VISIBLE_DEVICES": "5,7",
    }
    proc = _run_python(code, **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "7"

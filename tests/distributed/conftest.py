"""Launch small scripts under ``mpirun`` and read back what each rank wrote.

Tests marked ``mpi`` are skipped when ``mpirun`` or mpi4jax is missing, with
the reason, unless the environment sets ``NFV_REQUIRE_MPI=1`` (as CI does):
then a missing MPI fails them instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "mpi_scripts"
REPO = Path(__file__).parents[2]
TIMEOUT_S = 300
"""Wall-clock limit of one mpirun job, so a hung collective cannot hang the suite."""


def _missing_mpi() -> str | None:
    if shutil.which("mpirun") is None:
        return "mpirun is not on PATH (install OpenMPI)"
    for module in ("mpi4py", "mpi4jax"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'netket_factored_vit[mpi]')"
    return None


@pytest.fixture(autouse=True)
def _mpi_available(request):
    if request.node.get_closest_marker("mpi") is None:
        return
    reason = _missing_mpi()
    if reason is None:
        return
    if os.environ.get("NFV_REQUIRE_MPI") == "1":
        pytest.fail(f"NFV_REQUIRE_MPI=1 but {reason}")
    pytest.skip(reason)


def _is_openmpi() -> bool:
    out = subprocess.run(["mpirun", "--version"], capture_output=True, text=True, timeout=60)
    return "Open MPI" in out.stdout + out.stderr


def _mpi_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        JAX_PLATFORMS="cpu",
        JAX_ENABLE_X64="1",
        # With more ranks than free cores, a rank waiting in a collective must yield
        # its core instead of spinning on it.
        OMPI_MCA_mpi_yield_when_idle="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    # Each rank must be an independent MPI process, not inherit a launch of ours.
    for var in list(env):
        if var.startswith(("OMPI_COMM_WORLD", "PMI_", "PMIX_", "SLURM_STEP")):
            del env[var]
    return env


def run_mpi(
    script: str,
    tmp_path: Path,
    *,
    n: int = 2,
    args: tuple[str, ...] = (),
    mpirun_args: tuple[str, ...] = (),
) -> list:
    """Run ``mpi_scripts/<script>`` on ``n`` ranks; return each rank's JSON result.

    The script receives an output folder as its first argument and writes
    ``rank<r>.json`` there.
    """
    out = tmp_path / "mpi_out"
    out.mkdir(exist_ok=True)
    cmd = ["mpirun", "-np", str(n)]
    if _is_openmpi():
        cmd.append("--oversubscribe")
    cmd += [*mpirun_args, sys.executable, str(SCRIPTS / script), str(out), *args]
    # A session of our own, so that on timeout the whole job (mpirun and its
    # ranks) is ended, and nothing else.
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=_mpi_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail(f"mpirun {script} timed out after {TIMEOUT_S} s:\n{log[-4000:]}")
    if proc.returncode != 0:
        pytest.fail(f"mpirun {script} exited with {proc.returncode}:\n{log[-4000:]}")
    results = []
    for r in range(n):
        path = out / f"rank{r}.json"
        assert path.exists(), f"rank {r} wrote no result:\n{log[-4000:]}"
        results.append(json.loads(path.read_text()))
    return results


def run_plain(script: str, tmp_path: Path, *, args: tuple[str, ...] = ()) -> dict:
    """Run ``mpi_scripts/<script>`` as a plain process (no launcher); return its JSON."""
    out = tmp_path / "plain_out"
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, str(SCRIPTS / script), str(out), *args]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=_mpi_env(), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{script} exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}"
        )
    return json.loads((out / "rank0.json").read_text())


@pytest.fixture
def mpirun(tmp_path):
    """``mpirun(script, n=2, args=())``: run a script on ``n`` ranks, return per-rank JSON."""

    def run(script: str, *, n: int = 2, args: tuple[str, ...] = ()):
        return run_mpi(script, tmp_path, n=n, args=args)

    return run

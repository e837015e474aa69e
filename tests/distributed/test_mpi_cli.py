"""The command line under mpirun: one run over all ranks, written and printed by rank 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.mpi
REPO = Path(__file__).parents[2]


def test_cli_on_two_ranks_writes_and_prints_once(mpirun, tmp_path):
    r0, r1 = mpirun("cli.py", n=2)
    assert r0["rc"] == r1["rc"] == 0 and r0["size"] == r1["size"] == 2
    assert "64 samples on 2 rank(s)" in r0["stdout"] and "relative_error" in r0["stdout"]
    assert r1["stdout"] == ""
    run = tmp_path / "mpi_out" / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["relative_error"] > 0
    # two starts of one step, over both ranks; the better one went on
    assert summary["start_seed"] in (0, 1000) and "seed 1000" in r0["stdout"]
    for seed in (0, 1000):
        log = json.loads((run / "starts" / f"seed{seed}" / "log.log").read_text())
        assert log["Energy"]["iters"] == [0]
    # rank 0 records the fraction against Marshall's sign at every step, once
    against = json.loads((run / "log.log").read_text())["non_marshall_fraction"]
    assert against["iters"] == [0, 1, 2] and all(0 <= v <= 1 for v in against["value"])
    # Only rank 0's files: settings, log, checkpoint (and its predecessor), summary, figures.
    assert {p.name for p in run.iterdir()} <= {
        "starts",
        "config.toml",
        "log.log",
        "checkpoint",
        "checkpoint.prev",
        "summary.json",
        "energy.png",
        "non_marshall.png",
    }
    assert (run / "energy.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "flags", [pytest.param((), id="new"), pytest.param(("--resume",), id="resume")]
)
def test_a_second_mpirun_into_a_locked_folder_is_refused_on_every_rank(mpirun, tmp_path, flags):
    run = tmp_path / "mpi_out" / "run"
    run.mkdir(parents=True)
    hold = "import sys; from netket_factored_vit._src.cli.folder_lock import FolderLock\n"
    hold += "FolderLock(sys.argv[1]).acquire(); print('locked', flush=True); sys.stdin.read()"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(run)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        r0, r1 = mpirun("cli_locked.py", n=2, args=flags)
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    assert r0["rc"] == r1["rc"] == 2
    assert f"is in use: pid {holder.pid} on " in r0["stderr"]
    assert len(r0["stderr"].strip().splitlines()) == 1
    assert r1["stderr"] == r1["stdout"] == ""
    assert sorted(p.name for p in run.iterdir()) == [".nfv.lock"]  # the holder's, nothing else

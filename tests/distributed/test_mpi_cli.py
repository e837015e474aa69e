"""The command line under mpirun: one run over all ranks, written and printed by rank 0."""

import json

import pytest

pytestmark = pytest.mark.mpi


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

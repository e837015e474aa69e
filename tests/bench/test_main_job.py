"""``bench/bench_main_job.py`` on tiny runs: seeds side by side on their own cores, one
results file, and finished runs read without being trained again."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
TINY = ["--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--n-samples", "32",
        "--n-chains", "8", "--n-iter", "2"]  # fmt: skip


def bench(tmp_path, *flags):
    command = [sys.executable, str(REPO / "bench" / "bench_main_job.py"), "--runs",
               str(tmp_path / "runs"), "--results", str(tmp_path), *flags]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / "main_job_tiny.json").read_text()), proc.stdout


@pytest.mark.slow
def test_seeds_are_trained_side_by_side_and_gathered(tmp_path):
    result, out = bench(tmp_path, "--seeds", "0,1", "--jobs", "2", "--tag", "tiny", "--", *TINY)
    assert "(cores (0,))" in out and "(cores (1,))" in out  # disjoint cores
    seeds = result["seeds"]
    assert [s["seed"] for s in seeds] == [0, 1]
    assert all(s["steps"] == 2 and s["threads"] == 1 and s["wall_seconds"] > 0 for s in seeds)
    assert seeds[0]["exact_relative_error"] != seeds[1]["exact_relative_error"]
    worst = max(s["exact_relative_error"] for s in seeds)
    assert result["worst_exact_relative_error"] == worst
    assert result["all_below_target"] is (worst < result["target_relative_error"])
    assert "n_iter = 2" in result["settings"]

    again, out = bench(tmp_path, "--seeds", "0,1", "--jobs", "2", "--tag", "tiny")
    assert "-m netket_factored_vit" not in out  # nothing trained
    assert all("wall_seconds" not in s for s in again["seeds"])
    assert [s["exact_relative_error"] for s in again["seeds"]] == [
        s["exact_relative_error"] for s in seeds
    ]


def test_more_jobs_than_cores_is_refused(tmp_path):
    command = [sys.executable, str(REPO / "bench" / "bench_main_job.py"), "--jobs", "999",
               "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "--jobs must be between 1 and the" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_more_threads_than_a_job_has_cores_is_refused(tmp_path):
    command = [sys.executable, str(REPO / "bench" / "bench_main_job.py"), "--threads", "999",
               "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "--threads must be between 1 and" in proc.stderr
    assert "got 999" in proc.stderr and not (tmp_path / "runs").exists()

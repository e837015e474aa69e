"""``bench/study.py collect`` on tiny runs: results.json, tables and figures from the
run folders, with the equal-step comparison and the attention analysis."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
TINY = ["--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--n-samples", "32",
        "--n-chains", "8", "--symmetrize", "none", "--no-progress"]  # fmt: skip


@pytest.mark.slow
def test_collect_gathers_tiny_runs(tmp_path):
    from netket_factored_vit._src.cli import main

    runs = tmp_path / "runs"
    out = runs / "tiny" / "seed0"
    assert main(["compare", *TINY, "--attentions", "factored,t5", "--n-iter", "3",
                 "--input-dependence-every", "1", "--out", str(out)]) == 0  # fmt: skip
    # a third run stopped earlier, as a time limit would
    assert main([*TINY, "--attention", "decoupled", "--n-iter", "2",
                 "--out", str(out / "decoupled")]) == 0  # fmt: skip
    published = tmp_path / "published"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "study.py"), "collect", "--runs", str(runs),
         "--out", str(published)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((published / "results.json").read_text())
    runs_ = {r["attention"]: r for r in results["runs"]}
    assert set(runs_) == {"factored", "t5", "decoupled"}
    assert runs_["t5"]["steps"] == 3 and runs_["decoupled"]["steps"] == 2
    assert all(r["common_step"] == 2 for r in runs_.values())
    assert runs_["factored"]["analysis"]["input_dependence"] == [[0.0, 0.0]]
    assert runs_["t5"]["input_dependence_log"]["last_step"] == 2
    assert runs_["factored"]["exact_relative_error"] is not None  # 4x4: exact energy
    for name in results["figures"]:
        assert (published / name).stat().st_size > 1000
    assert "tiny_energy.png" in results["figures"]
    assert "tiny_t5_attention.png" in results["figures"]
    table = (published / "tables.md").read_text()
    assert "| decoupled | 0 |" in table and "(step 2)" in table

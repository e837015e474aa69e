"""``bench/bench_levers.py table`` on tiny runs: one row per lever and attention, the
numbers read from the runs' summaries and logs, and a Markdown table that stays a table."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
sys.path.insert(0, str(REPO / "bench"))

import bench_levers  # noqa: E402

TINY = ["--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--n-samples", "32",
        "--n-chains", "8", "--n-iter", "3", "--symmetrize", "none", "--no-progress"]  # fmt: skip


def nfv_run(out: Path, *flags):
    command = [sys.executable, "-m", "netket_factored_vit", "run", *TINY, "--out", str(out),
               *flags]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def unescaped_pipes(line: str) -> int:
    return line.count("|") - line.count("\\|")


def test_the_table_reads_the_runs(tmp_path):
    runs = tmp_path / "runs"
    exact = runs / "exact-defaults" / "factored" / "seed0"
    sampled = runs / "mc-power-1" / "t5" / "seed1"
    nfv_run(exact, "--exact", "--seed", "0")
    nfv_run(sampled, "--attention", "t5", "--seed", "1", "--sampling-power", "1")
    (runs / "mc-power-1" / "t5" / "seed2").mkdir()  # unfinished: not in the table
    table = tmp_path / "table.md"
    command = [sys.executable, str(REPO / "bench" / "bench_levers.py"), "table", "--runs",
               str(runs), "--results", str(tmp_path), "--table", str(table), "--tag", "tiny",
               "--at-step", "1"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rows = json.loads((tmp_path / "levers_tiny.json").read_text())["rows"]
    assert [(r["lever"], r["attention"]) for r in rows] == [
        ("exact-defaults", "factored"),
        ("mc-power-1", "t5"),
    ]
    assert [s["seed"] for s in rows[1]["seeds"]] == [1]
    exact_record = rows[0]["seeds"][0]
    summary = json.loads((exact / "summary.json").read_text())
    log = json.loads((exact / "log.log").read_text())["relative_error"]
    assert exact_record["exact_relative_error"] == summary["exact_relative_error"]
    assert exact_record["error_at_step_1"] == log["value"][log["iters"].index(1)]
    first = bench_levers._first_below(log["iters"], log["value"], 1e-3)
    assert exact_record["steps_to_1e-03"] == first
    assert "error_at_step_1" not in rows[1]["seeds"][0]  # sampled: no exact log

    lines = table.read_text().splitlines()
    body = [line for line in lines if line.startswith("|")]
    assert len(body) == 4  # header, rule, two rows
    assert len({unescaped_pipes(line) for line in body}) == 1  # "|psi|" escaped
    assert f"{summary['exact_relative_error']:.1e}" in body[2]


def test_steps_to_a_threshold():
    steps, errors = [0, 1, 2, 3], [1e-1, 2e-3, 5e-4, 1e-4]
    assert bench_levers._first_below(steps, errors, 1e-3) == 2
    assert bench_levers._first_below(steps, errors, 1e-5) is None
    records = [{"k": 2}, {"k": None}, {"k": 5}]
    assert bench_levers._steps(records, "k") == "5 / -"  # lower median, a seed never there

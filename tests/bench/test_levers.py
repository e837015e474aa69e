"""``bench/bench_levers.py table`` on tiny runs: one row per lever and attention, the
numbers read from the runs' summaries and logs, and a Markdown table that stays a table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def _row(lever, attention, *errors, description="old words"):
    seeds = [{"seed": s, "steps": 250, "exact_relative_error": e, "seconds_training": 100.0,
              "seconds_per_step": 0.4} for s, e in errors]  # fmt: skip
    return {"lever": lever, "description": description, "attention": attention, "seeds": seeds}


def test_new_runs_replace_earlier_seeds_and_keep_the_others():
    earlier = [
        _row("mc-power-1", "t5", (0, 1e-3), (3, 2e-3)),
        _row("exact-defaults", "factored", (0, 1e-11)),
        _row("a-lever-since-removed", "factored", (0, 1.0)),
    ]
    new = [_row("mc-power-1", "t5", (3, 5e-4), (5, 6e-4))]
    rows = bench_levers.merge(earlier, new)
    assert [(r["lever"], r["attention"]) for r in rows] == [
        ("exact-defaults", "factored"),  # the order of LEVERS
        ("mc-power-1", "t5"),
    ]
    t5 = {r["seed"]: r["exact_relative_error"] for r in rows[1]["seeds"]}
    assert t5 == {0: 1e-3, 3: 5e-4, 5: 6e-4}
    assert rows[1]["description"] == bench_levers.LEVERS["mc-power-1"][0]


def test_the_table_keeps_the_rows_of_runs_not_here(tmp_path):
    results = {"command": "earlier", "at_step": 100, "cpu_count": 2, "wall_seconds": [],
               "rows": [_row("mc-power-1", "factored", (0, 7.2e-4), (1, 5.8e-4))]}  # fmt: skip
    (tmp_path / "levers_t.json").write_text(json.dumps(results))
    flags = ["table", "--runs", str(tmp_path / "no-runs"), "--results", str(tmp_path),
             "--table", str(tmp_path / "table.md"), "--tag", "t"]  # fmt: skip
    assert bench_levers.main(flags) == 0
    assert "7.2e-04 / 6.5e-04 / 5.8e-04" in (tmp_path / "table.md").read_text()
    kept = json.loads((tmp_path / "levers_t.json").read_text())["rows"]
    assert [s["seed"] for s in kept[0]["seeds"]] == [0, 1]
    with pytest.raises(SystemExit, match="--at-step 50: .* --at-step 100"):
        bench_levers.main([*flags, "--at-step", "50"])

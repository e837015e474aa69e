"""The accuracy levers on the 4x4 J1-J2 model (J2 = 0.5): each one an ``nfv run`` over
seeds, exact (``--exact``, no Monte Carlo noise) or sampled (the main job), and one table.

``run`` trains the runs not finished yet, ``--jobs`` at a time on their own cores
(``bench/job_slots.py``), each into ``runs/levers/<lever>/<attention>/seed<S>`` (an
unfinished one is continued with ``--resume``)::

    python bench/bench_levers.py run --levers exact-defaults --attentions factored,t5 \\
        --seeds 0,1,2,3,4,5,6,7 --jobs 2

``--stop-after S`` starts no run after ``S`` seconds and gives each run a ``--time-limit``
that ends it, checkpointed, by then: a job of fixed length leaves folders that the same
command continues.

``table`` reads every run folder under ``--runs`` and writes
``bench/results/levers_<tag>.json`` and the Markdown table of the docs
(``docs/accuracy/levers_table.md``): one row per lever and attention, over its seeds,
the exact relative error at step ``--at-step`` and at the end (worst, median, best), the
steps to reach 1e-3 and 1e-4 (exact runs, whose log holds the exact energy of each step;
worst and median over the seeds, "-" for a seed that never gets there), and the median
seconds of training per run. The seeds of an earlier ``levers_<tag>.json`` whose folders
are not under ``--runs`` (run on another machine, or deleted since) are kept; those that
are replace them, seed by seed::

    python bench/bench_levers.py table --tag cpu

A run's trajectory does not depend on the number of threads; its time does, and the
JSON records the machine's cores and each run's threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from job_slots import core_slots, start_on

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "levers"
RESULTS = ROOT / "bench" / "results"
TABLE = ROOT / "docs" / "accuracy" / "levers_table.md"
THRESHOLDS = (1e-3, 1e-4)
ATTENTIONS = ("factored", "t5", "decoupled")

# name: (what it is, the flags of `nfv run` on top of the defaults)
LEVERS: dict[str, tuple[str, list[str]]] = {
    "exact-defaults": ("exact, the defaults", ["--exact"]),
    "exact-marshall-signed": (
        "exact, Marshall's sign times a real amplitude (`--output marshall-signed`)",
        ["--exact", "--output", "marshall-signed"],
    ),
    "exact-patch-1": (
        "exact, one-site patches (`--patch-size 1`: 16 tokens, every translation)",
        ["--exact", "--patch-size", "1"],
    ),
    "exact-tutorial-sgd": (
        "exact, the authors' NetKet tutorial: lr 0.0075, diag shift 1e-4, constant, no momentum",
        [
            "--exact",
            "--lr",
            "0.0075",
            "--lr-final",
            "none",
            "--diag-shift",
            "1e-4",
            "--diag-shift-final",
            "1e-4",
            "--momentum",
            "0",
        ],
    ),  # fmt: skip
    "exact-minsr-cosine": (
        "exact, the minSR paper's: lr 0.03 cosine-decayed to 3e-4, diag shift 1e-4, no momentum",
        [
            "--exact",
            "--lr",
            "0.03",
            "--lr-final",
            "0.0003",
            "--diag-shift",
            "1e-4",
            "--diag-shift-final",
            "1e-4",
            "--momentum",
            "0",
        ],
    ),  # fmt: skip
    "exact-float32": (
        "exact, float32 evaluation (`--dtype float32`; the SR solve stays in float64)",
        ["--exact", "--dtype", "float32"],
    ),
    "mc-defaults": (
        "Monte Carlo, samples of psi^2, the complex head (the defaults before 0.2)",
        ["--sampling-power", "2", "--output", "log-cosh"],
    ),
    "mc-power-1": (
        "Monte Carlo, samples of |psi|, the complex head (`--sampling-power 1 --output log-cosh`)",
        ["--sampling-power", "1", "--output", "log-cosh"],
    ),
    "mc-power-0.5": (
        "Monte Carlo, samples of |psi|^0.5, the complex head (`--sampling-power 0.5`)",
        ["--sampling-power", "0.5", "--output", "log-cosh"],
    ),
    "mc-power-1.5": (
        "Monte Carlo, samples of |psi|^1.5, the complex head (`--sampling-power 1.5`)",
        ["--sampling-power", "1.5", "--output", "log-cosh"],
    ),
    "mc-power-1-marshall-signed": (
        "Monte Carlo, the defaults: samples of |psi|, Marshall's prior (`--output auto`)",
        ["--sampling-power", "1", "--output", "marshall-signed"],
    ),
    "mc-power-1-c4-flip": (
        "Monte Carlo, samples of |psi|, the complex head, `--symmetrize rotations --spin-flip`",
        [
            "--sampling-power",
            "1",
            "--symmetrize",
            "rotations",
            "--spin-flip",
            "--output",
            "log-cosh",
        ],
    ),
    "mc-power-1-350": (
        "Monte Carlo, samples of |psi|, the complex head, `--n-iter 350`",
        ["--sampling-power", "1", "--n-iter", "350", "--output", "log-cosh"],
    ),
    "mc-power-1-1024": (
        "Monte Carlo, samples of |psi|, the complex head, `--n-samples 1024`",
        ["--sampling-power", "1", "--n-samples", "1024", "--output", "log-cosh"],
    ),
}


def _folder(runs: Path, lever: str, attention: str, seed: int) -> Path:
    return runs / lever / attention / f"seed{seed}"


def _summary(out: Path) -> dict | None:
    try:
        return json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def _finished(out: Path) -> bool:
    summary = _summary(out)
    return bool(summary and summary.get("finished"))


def run(args) -> int:
    """Train the runs not finished yet, ``args.jobs`` at a time."""
    queue = [
        (lever, attention, seed)
        for lever in args.levers
        for attention in args.attentions
        for seed in args.seeds
        if not _finished(_folder(args.runs, lever, attention, seed))
    ]
    free = core_slots(args.jobs)
    running: dict[tuple, tuple] = {}
    start = time.perf_counter()
    timing_file = args.runs / "wall_seconds.jsonl"
    args.runs.mkdir(parents=True, exist_ok=True)
    while queue or running:
        left = None if args.stop_after is None else args.stop_after - (time.perf_counter() - start)
        while queue and free and (left is None or left > args.min_run_seconds):
            job, cores = queue.pop(0), free.pop(0)
            lever, attention, seed = job
            out = _folder(args.runs, *job)
            command = [sys.executable, "-m", "netket_factored_vit", "run", "--seed", str(seed),
                       "--attention", attention, "--out", str(out), "--no-progress",
                       *LEVERS[lever][1]]  # fmt: skip
            if (out / "config.toml").exists():
                command.append("--resume")
            if left is not None:
                command += ["--time-limit", str(int(left - args.min_run_seconds / 2))]
            out.parent.mkdir(parents=True, exist_ok=True)
            log = open(out.parent / f"seed{seed}.out", "a")  # noqa: SIM115 - closed below
            print(" ".join(command[3:]), f"(cores {cores})", flush=True)
            process = start_on(
                cores, command, dict(os.environ), stdout=log, stderr=subprocess.STDOUT
            )
            running[job] = (process, time.perf_counter(), cores, log)
        time.sleep(1.0)
        for job, (process, began, cores, log) in list(running.items()):
            if process.poll() is None:
                continue
            del running[job]
            free.append(cores)
            log.close()
            record = {"lever": job[0], "attention": job[1], "seed": job[2],
                      "returncode": process.returncode,
                      "wall_seconds": time.perf_counter() - began, "threads": len(cores),
                      "concurrent_jobs": args.jobs, "cpu_count": os.cpu_count()}  # fmt: skip
            with timing_file.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            if process.returncode != 0:
                print(f"{job}: nfv run exited with {process.returncode}", flush=True)
        if not running and queue and left is not None and left <= args.min_run_seconds:
            print(f"--stop-after reached; {len(queue)} run(s) not started", flush=True)
            break
    return 0


def _exact_errors(out: Path) -> tuple[list[int], list[float]] | None:
    """Steps and exact relative errors from the log of an exact run."""
    summary = _summary(out)
    if summary is None or not summary.get("exact"):
        return None
    log = json.loads((out / "log.log").read_text())
    entry = log["relative_error"]
    return entry["iters"], entry["value"]


def _first_below(steps, errors, threshold) -> int | None:
    return next((s for s, e in zip(steps, errors, strict=True) if e < threshold), None)


def _spread(values: list[float]) -> dict:
    return {"worst": max(values), "median": statistics.median(values), "best": min(values)}


def gather(runs: Path, at_step: int) -> list[dict]:
    """One record per lever and attention with finished runs under ``runs``."""
    rows = []
    for lever in LEVERS:
        for attention in ATTENTIONS:
            folder = runs / lever / attention
            seeds = sorted(
                int(p.name[4:]) for p in folder.glob("seed*") if p.is_dir() and _finished(p)
            )
            if not seeds:
                continue
            per_seed = []
            for seed in seeds:
                out = folder / f"seed{seed}"
                summary = _summary(out)
                record = {"seed": seed, "steps": summary["steps"],
                          "exact_relative_error": summary["exact_relative_error"],
                          "seconds_training": summary["seconds_total"],
                          "seconds_per_step": summary["seconds_per_step"]}  # fmt: skip
                exact = _exact_errors(out)
                if exact is not None:
                    steps, errors = exact
                    if at_step in steps:
                        record[f"error_at_step_{at_step}"] = errors[steps.index(at_step)]
                    for t in THRESHOLDS:
                        record[f"steps_to_{t:.0e}"] = _first_below(steps, errors, t)
                per_seed.append(record)
            rows.append({"lever": lever, "description": LEVERS[lever][0],
                         "attention": attention, "seeds": per_seed})  # fmt: skip
    return rows


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def _cell(text: str) -> str:
    """``text`` for a cell of a Markdown table: its pipes escaped."""
    return text.replace("|", "\\|")


def _steps(records, key) -> str:
    """``median / worst`` steps over the seeds; a seed that never gets there counts as
    the slowest ("-")."""
    if any(key not in r for r in records):
        return "n/a"
    never = float("inf")
    values = sorted(never if r[key] is None else r[key] for r in records)
    median = values[(len(values) - 1) // 2]  # the lower median: a step that was run
    return " / ".join("-" if v == never else str(v) for v in (median, values[-1]))


def markdown(rows: list[dict], at_step: int, command: str) -> str:
    lines = [
        f"<!-- written by `{command}`; do not edit by hand -->",
        "",
        f"| lever | attention | seeds | error at step {at_step}: worst / median / best | "
        "final error: worst / median / best | steps to 1e-3: median / worst | steps to 1e-4: "
        "median / worst | steps | s / run (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        records = row["seeds"]
        final = _spread([r["exact_relative_error"] for r in records])
        key = f"error_at_step_{at_step}"
        at = [r[key] for r in records if key in r]
        at_text = " / ".join(_fmt(v) for v in _spread(at).values()) if at else "n/a"
        seeds = ",".join(str(r["seed"]) for r in records)
        lines.append(
            f"| {_cell(row['description'])} | {row['attention']} | {seeds} | {at_text} | "
            + " / ".join(_fmt(v) for v in final.values())
            + f" | {_steps(records, 'steps_to_1e-03')} | {_steps(records, 'steps_to_1e-04')} | "
            f"{max(r['steps'] for r in records)} | "
            f"{statistics.median(r['seconds_training'] for r in records):.0f} |"
        )
    return "\n".join(lines) + "\n"


def merge(earlier: list[dict], rows: list[dict]) -> list[dict]:
    """The rows of ``earlier`` updated seed by seed with those of ``rows``, in the order
    of ``LEVERS``; descriptions are today's."""
    seeds = {}
    for row in (*earlier, *rows):
        if row["lever"] in LEVERS:
            key = (row["lever"], row["attention"])
            seeds.setdefault(key, {}).update({r["seed"]: r for r in row["seeds"]})
    return [
        {"lever": lever, "description": LEVERS[lever][0], "attention": attention,
         "seeds": [seeds[lever, attention][s] for s in sorted(seeds[lever, attention])]}
        for lever in LEVERS
        for attention in ATTENTIONS
        if (lever, attention) in seeds
    ]  # fmt: skip


def table(args) -> int:
    path = args.results / f"levers_{args.tag}.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    if earlier and earlier.get("at_step") != args.at_step:
        raise SystemExit(
            f"--at-step {args.at_step}: {path} was written with --at-step "
            f"{earlier.get('at_step')}; give that, or another --tag"
        )
    rows = merge(earlier.get("rows", []), gather(args.runs, args.at_step))
    if not rows:
        raise SystemExit(f"no finished run under {args.runs}, and no {path}")
    command = "python bench/bench_levers.py " + " ".join(sys.argv[1:])
    timing = list(earlier.get("wall_seconds", []))
    timing_file = args.runs / "wall_seconds.jsonl"
    if timing_file.exists():
        new = [json.loads(line) for line in timing_file.read_text().splitlines() if line]
        timing += [t for t in new if t not in timing]
    result = {"command": command, "at_step": args.at_step, "cpu_count": os.cpu_count(),
              "rows": rows, "wall_seconds": timing}  # fmt: skip
    args.results.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(markdown(rows, args.at_step, command))
    print(args.table.read_text())
    print(f"wrote {path} and {args.table}")
    return 0


def _names(text: str, allowed, what: str, parser) -> list[str]:
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        parser.error(f"--{what} {text!r}: unknown {unknown}; allowed: {', '.join(allowed)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the runs not finished yet")
    p_run.add_argument("--levers", required=True, help=f"comma-separated: {', '.join(LEVERS)}")
    p_run.add_argument("--attentions", default="factored", help="comma-separated")
    p_run.add_argument("--seeds", default="0,3,5,7", help="comma-separated (default: 0,3,5,7)")
    p_run.add_argument("--jobs", type=int, default=1, help="runs at once (default: 1)")
    p_run.add_argument("--stop-after", type=float, default=None, help="seconds (default: none)")
    p_run.add_argument(
        "--min-run-seconds", type=float, default=60.0, help="start no run with less left"
    )
    p_table = sub.add_parser("table", help="gather the finished runs into the docs' table")
    p_table.add_argument("--tag", default="cpu", help="results file levers_<tag>.json")
    p_table.add_argument("--at-step", type=int, default=100, help="fixed step (default: 100)")
    p_table.add_argument("--table", type=Path, default=TABLE, help="the Markdown table")
    p_table.add_argument("--results", type=Path, default=RESULTS, help="(default: bench/results)")
    for p in (p_run, p_table):
        p.add_argument("--runs", type=Path, default=RUNS, help="(default: runs/levers)")
    args = parser.parse_args(argv)
    if args.command == "table":
        return table(args)
    args.levers = _names(args.levers, LEVERS, "levers", parser)
    args.attentions = _names(args.attentions, ATTENTIONS, "attentions", parser)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,3,5,7")
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())

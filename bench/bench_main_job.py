"""The main job (``make run``, the defaults of ``nfv run``) over several seeds.

Each seed trains ``nfv run --seed S`` into ``runs/main_job/seed<S>`` (continued with
``--resume`` if the folder holds an unfinished run; a finished one is only read), then
the summaries are gathered into ``bench/results/main_job_<tag>.json``: per seed the
exact relative error of the trained state (a full sum over the Hilbert space, no Monte
Carlo noise), the mean fraction of the samples against Marshall's sign over steps
40-59 and over the last 10 steps (near zero: the run has locked onto Marshall's sign; see
``docs/cli.md``), the median seconds per step and, for the runs made by this invocation,
the wall time of the whole command (start-up and compilation included) and the load
average when it ended::

    python bench/bench_main_job.py --seeds 0,1,2,3 --jobs 2     # two seeds at a time
    python bench/bench_main_job.py --seeds 0 --jobs 1 --tag idle  # the time of `make run`
    python bench/bench_main_job.py --seeds 0 --threads 1 --tag idle_1thread  # one core

With ``--jobs J`` each run gets its own ``cores / J`` cores (``--threads T``: ``T`` of
them; ``bench/job_slots.py``), so wall times measured with ``--jobs 1`` are those of
``make run``; the trajectory, and so the error, does not depend on the thread count.
Flags after ``--`` go to ``nfv run`` (to try other settings).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from job_slots import core_slots, start_on

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "main_job"
RESULTS = ROOT / "bench" / "results"
TARGET = 3e-3


def run_command(seed: int, runs: Path, extra: list[str]) -> list[str]:
    """The ``nfv run`` command line of one seed."""
    out = runs / f"seed{seed}"
    command = [sys.executable, "-m", "netket_factored_vit", "run", "--seed", str(seed)]
    command += ["--out", str(out), "--no-progress"]
    if (out / "config.toml").exists():
        command.append("--resume")
    return command + extra


def _finished(out: Path) -> bool:
    try:
        return bool(json.loads((out / "summary.json").read_text())["finished"])
    except (OSError, ValueError, KeyError):
        return False


def train(
    seeds: list[int], jobs: int, runs: Path, extra: list[str], threads: int | None = None
) -> dict[int, dict]:
    """Run the seeds not finished yet, ``jobs`` at a time, each on its own ``threads``
    cores (default: an equal share); the wall time and load of each run made (none for a
    run finished before)."""
    free = core_slots(jobs, threads)
    queue = [seed for seed in seeds if not _finished(runs / f"seed{seed}")]
    running: dict[int, tuple[subprocess.Popen, float, tuple[int, ...]]] = {}
    timing: dict[int, dict] = {}
    while queue or running:
        while queue and free:
            seed, cores = queue.pop(0), free.pop(0)
            command = run_command(seed, runs, extra)
            print(" ".join(command[1:]), f"(cores {cores})", flush=True)
            running[seed] = (start_on(cores, command, dict(os.environ)), time.perf_counter(), cores)
        time.sleep(1.0)
        for seed, (process, start, cores) in list(running.items()):
            if process.poll() is None:
                continue
            del running[seed]
            free.append(cores)
            if process.returncode != 0:
                raise SystemExit(f"seed {seed}: nfv run exited with {process.returncode}")
            timing[seed] = {
                "wall_seconds": time.perf_counter() - start,
                "load_average_1min_at_end": os.getloadavg()[0],
                "threads": len(cores),
                "concurrent_jobs": jobs,
            }
    return timing


def _mean_fraction(out: Path, first: int, stop: int) -> float | None:
    """Mean logged fraction of the samples against Marshall's sign over steps
    ``first .. stop - 1``: near zero when the run has locked onto Marshall's sign."""
    log = json.loads((out / "log.log").read_text())
    entry = log.get("non_marshall_fraction")
    if entry is None:
        return None
    values = [v for i, v in zip(entry["iters"], entry["value"], strict=True) if first <= i < stop]
    return sum(values) / len(values) if values else None


def gather(seeds: list[int], runs: Path, timing: dict[int, dict]) -> dict:
    """One record per seed from its ``summary.json``, and the worst error over the seeds."""
    records = []
    for seed in seeds:
        summary = json.loads((runs / f"seed{seed}" / "summary.json").read_text())
        records.append(
            {
                "seed": seed,
                "exact_relative_error": summary.get("exact_relative_error"),
                "relative_error": summary["relative_error"],
                "non_marshall_fraction_steps_40_59": _mean_fraction(runs / f"seed{seed}", 40, 60),
                "non_marshall_fraction_last_10_steps": _mean_fraction(
                    runs / f"seed{seed}", summary["steps"] - 10, summary["steps"]
                ),
                "steps": summary["n_iter"],
                "seconds_per_step": summary["seconds_per_step"],
                "seconds_training": summary["seconds_total"],
                # the seed of the start that went on (runs with --starts above 1)
                **({"start_seed": summary["start_seed"]} if "start_seed" in summary else {}),
                **timing.get(seed, {}),
            }
        )
    errors = [r["exact_relative_error"] for r in records]
    return {
        "command": "python " + " ".join(sys.argv),
        "settings": (runs / f"seed{seeds[0]}" / "config.toml").read_text(),
        "target_relative_error": TARGET,
        "worst_exact_relative_error": max(errors),
        "all_below_target": all(e < TARGET for e in errors),
        "cpu_count": os.cpu_count(),
        "seeds": records,
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated (default: 0,1,2,3)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds at once (default: 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cores and threads per seed (default: cores / jobs)",
    )
    parser.add_argument("--runs", type=Path, default=RUNS, help="(default: runs/main_job)")
    parser.add_argument("--tag", default="cpu", help="results file main_job_<tag>.json")
    parser.add_argument("--results", type=Path, default=RESULTS, help="(default: bench/results)")
    args = parser.parse_args(own)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2,3")
    if not seeds:
        parser.error(f"--seeds {args.seeds!r}: no seed given")
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    timing = train(seeds, args.jobs, args.runs, extra, args.threads)
    result = gather(seeds, args.runs, timing)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"main_job_{args.tag}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    for r in result["seeds"]:
        wall = "" if "wall_seconds" not in r else f", {r['wall_seconds']:.0f} s in all"
        print(
            f"seed {r['seed']}: exact relative error {r['exact_relative_error']:.2e}"
            f"{wall} ({r['seconds_per_step']:.2f} s/step)"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

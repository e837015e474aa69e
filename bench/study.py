"""The study: factored, T5 and decoupled attention at equal size and budget.

Each study is a settings file ``docs/study/configs/<name>.toml`` (the flags of
``nfv compare``); its runs go to ``runs/study/<name>/seed<s>/<attention>``, one
``nfv compare`` folder per seed, so every run can be continued with ``--resume``.

Run the studies (each command continues what is already there)::

    python bench/study.py run j1j2_4x4 --seeds 0,1,2,3 --jobs 2
    python bench/study.py run j1j2_6x6 -- --time-limit 3600   # more nfv compare flags
    python bench/study.py run shastry_sutherland_4x4_J0.5 --seeds 0

then gather every finished or stopped run into ``docs/study/results.json``, the
markdown tables ``docs/study/tables.md`` and the figures ``docs/study/*.png``::

    python bench/study.py collect

``collect`` reads only the run folders (settings, summaries, logs, checkpoints), so
runs made elsewhere (a GPU node) are collected by copying their folders under
``runs/study``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from job_slots import core_slots, start_on

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "docs" / "study" / "configs"
RUNS = ROOT / "runs" / "study"
PUBLISHED = ROOT / "docs" / "study"


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2,3") from None
    if not seeds:
        raise SystemExit(f"--seeds {text!r}: no seed given")
    return seeds


def compare_command(name: str, seed: int, runs: Path, attentions: str, extra: list[str]):
    """The ``nfv compare`` command line of one seed of study ``name``."""
    out = runs / name / f"seed{seed}"
    command = [
        sys.executable, "-m", "netket_factored_vit", "compare",
        "--config", str(CONFIGS / f"{name}.toml"), "--seed", str(seed),
        "--attentions", attentions, "--out", str(out), "--no-progress",
    ]  # fmt: skip
    if out.exists():
        command.append("--resume")
    return command + extra


def run(args: argparse.Namespace) -> int:
    config = CONFIGS / f"{args.name}.toml"
    if not config.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIGS.glob("*.toml")))
        raise SystemExit(f"no study named {args.name!r} ({config} is missing); known: {known}")
    seeds = _seeds(args.seeds)
    if args.jobs < 1:
        raise SystemExit(f"--jobs must be a positive integer, got {args.jobs}")
    free = core_slots(args.jobs)
    queue = [compare_command(args.name, s, args.runs, args.attentions, args.extra) for s in seeds]
    running: list[tuple[subprocess.Popen, tuple[int, ...]]] = []
    failed = 0
    while queue or running:
        while queue and free:
            command, cores = queue.pop(0), free.pop(0)
            print(" ".join(command[1:]), f"(cores {cores})", flush=True)
            running.append((start_on(cores, command, dict(os.environ)), cores))
        done, cores = running.pop(0)
        failed += done.wait() != 0
        free.append(cores)
    return 1 if failed else 0


def collect(args: argparse.Namespace) -> int:
    from study_collect import collect_study

    collect_study(args.runs, args.out, analyze=not args.no_analyze)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train (or continue) the runs of one study")
    p.add_argument("name", help="a settings file docs/study/configs/<name>.toml")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--attentions", default="factored,t5,decoupled", help="(default: all three)")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at once (default: 1)")
    p.add_argument("--runs", type=Path, default=RUNS, help="(default: runs/study)")
    p.set_defaults(func=run)
    c = sub.add_parser("collect", help="results.json, tables.md and figures from the runs")
    c.add_argument("--runs", type=Path, default=RUNS, help="(default: runs/study)")
    c.add_argument("--out", type=Path, default=PUBLISHED, help="(default: docs/study)")
    c.add_argument(
        "--no-analyze", action="store_true", help="skip the checkpoints' attention analysis"
    )
    c.set_defaults(func=collect)
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: len(argv) - len(extra) - (1 if extra or "--" in argv else 0)])
    args.extra = extra  # after --: more nfv compare flags (run)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""Gather the study's run folders into ``results.json``, ``tables.md`` and figures.

Used by ``python bench/study.py collect``. A run folder is ``<runs>/<study>/seed<s>/
<attention>`` holding what ``nfv run`` writes (``config.toml``, ``summary.json``,
``log.log``, ``checkpoint``). Nothing here trains: the numbers are read from those files,
and the attention analysis of each study's seed-0 runs is ``nfv analyze`` on their
checkpoints.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

import netket_factored_vit as nfv

ATTENTIONS = ("factored", "t5", "decoupled")
SMOOTHING = 10
"""Logged steps averaged for the Monte Carlo energy at a given step."""


def find_runs(runs: Path) -> list[Path]:
    """Every run folder with a summary under ``runs``, in a stable order."""
    found = [p.parent for p in runs.glob("*/seed*/*/summary.json")]
    order = {a: i for i, a in enumerate(ATTENTIONS)}
    return sorted(
        found,
        key=lambda p: (p.parent.parent.name, int(p.parent.name[4:]), order.get(p.name, 9)),
    )


def _energy_at(log: dict, n_sites: int, step: int) -> float | None:
    """Mean E/N over the ``SMOOTHING`` logged steps up to ``step`` (Monte Carlo)."""
    iters, values, _ = nfv.analysis.energy_per_site(log, n_sites)
    keep = iters <= step
    if not keep.any():
        return None
    return float(np.mean(values[keep][-SMOOTHING:]))


def read_run(folder: Path) -> dict:
    """One entry of ``results.json``."""
    summary = json.loads((folder / "summary.json").read_text())
    with (folder / "config.toml").open("rb") as fh:
        config = tomllib.load(fh)
    study, seed = folder.parent.parent.name, int(folder.parent.name[4:])
    reference = summary.get("reference_energy_per_site")
    energy = summary["energy_per_site"]
    entry = {
        "study": study,
        "system": summary["system"],
        "attention": summary["attention"],
        "seed": seed,
        "n_sites": config["L"] * config["Ly"],
        "parameters": summary["parameters"],
        "symmetrize": summary.get("symmetrize"),
        "n_samples": summary.get("n_samples"),
        "steps": summary["steps"],
        "n_iter": summary.get("n_iter"),
        "seconds": summary["seconds_total"],
        "seconds_per_step": summary.get("seconds_per_step"),
        "device": summary.get("device"),
        "energy_per_site": energy,
        "energy_error": summary["energy_per_site_error"],
        "reference_energy_per_site": reference,
        "relative_error": summary.get("relative_error"),
        "v_score": summary.get("v_score"),
        "exact_energy_per_site": summary.get("exact_energy_per_site"),
        "exact_relative_error": summary.get("exact_relative_error"),
    }
    return entry


def best_error(entry: dict) -> float | None:
    """The exact relative error where known (no Monte Carlo noise), else the sampled one."""
    exact = entry.get("exact_relative_error")
    return exact if exact is not None else entry.get("relative_error")


def add_equal_step_errors(entries: list[dict], runs: Path) -> None:
    """For each study and seed, the sampled relative error of every attention at the
    last step all of them reached (equal steps, when a time limit stopped them apart)."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((e["study"], e["seed"]), []).append(e)
    for (study, seed), group in groups.items():
        common = min(e["steps"] for e in group)
        for e in group:
            e["common_step"] = common
            e["relative_error_at_common_step"] = None
            log_path = runs / study / f"seed{seed}" / e["attention"] / "log.log"
            ref = e["reference_energy_per_site"]
            if not log_path.exists() or ref is None:
                continue
            log = nfv.analysis.load_log(log_path)
            value = _energy_at(log, e["n_sites"], common - 1)
            if value is not None:
                e["relative_error_at_common_step"] = abs(value - ref) / abs(ref)


def input_dependence_ends(folder: Path) -> dict | None:
    """The logged input dependence (layers x heads) at the first and the last record."""
    log_path = folder / "log.log"
    if not log_path.exists():
        return None
    log = nfv.analysis.load_log(log_path)
    entry = log.get("input_dependence")
    if not entry:
        return None
    values = np.asarray(entry["value"], dtype=float)
    return {
        "first_step": int(entry["iters"][0]),
        "last_step": int(entry["iters"][-1]),
        "first": values[0].tolist(),
        "last": values[-1].tolist(),
    }


def analyze_seed_zero(entries: list[dict], runs: Path, out: Path) -> list[str]:
    """``nfv analyze`` on the seed-0 run of every study and attention; the heat maps are
    copied to ``out`` as ``<study>_<attention>_attention.png``."""
    figures = []
    for e in entries:
        if e["seed"] != 0:
            continue
        folder = runs / e["study"] / "seed0" / e["attention"]
        analysis = folder / "analysis.json"
        if (
            not analysis.exists()
            or analysis.stat().st_mtime < (folder / "checkpoint").stat().st_mtime
        ):
            subprocess.run(
                [sys.executable, "-m", "netket_factored_vit", "analyze", str(folder)],
                check=True,
            )
        stored = json.loads(analysis.read_text())
        e["analysis"] = {
            k: stored[k]
            for k in ("input_dependence", "content_position_split", "step")
            if k in stored
        }
        if "exact" in stored:
            e["analysis"]["exact"] = stored["exact"]
        name = f"{e['study']}_{e['attention']}_attention.png"
        shutil.copyfile(folder / "attention_profile.png", out / name)
        figures.append(name)
    return figures


def draw_study_figures(entries: list[dict], runs: Path, out: Path) -> list[str]:
    """Energy curves (seed 0, every attention) and input dependence curves per study."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figures = []
    for study in sorted({e["study"] for e in entries}):
        zero = [e for e in entries if e["study"] == study and e["seed"] == 0]
        logs = {
            e["attention"]: nfv.analysis.load_log(runs / study / "seed0" / e["attention"])
            for e in zero
        }
        if not logs:
            continue
        name = f"{study}_energy.png"
        figure = nfv.analysis.plot_energy(
            logs,
            n_sites=zero[0]["n_sites"],
            reference=zero[0]["reference_energy_per_site"],
            path=out / name,
        )
        plt.close(figure)
        figures.append(name)
        for attention, log in logs.items():
            if "input_dependence" in log:
                name = f"{study}_{attention}_input_dependence.png"
                plt.close(nfv.analysis.plot_input_dependence(log, path=out / name))
                figures.append(name)
    return figures


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def tables(entries: list[dict]) -> str:
    """The markdown tables of ``tables.md``."""
    lines = ["<!-- written by `python bench/study.py collect`; do not edit -->", ""]
    for study in sorted({e["study"] for e in entries}):
        group = [e for e in entries if e["study"] == study]
        exact = any(e["exact_relative_error"] is not None for e in group)
        lines += [
            f"### {study}",
            "",
            f"System `{group[0]['system']}`, {group[0]['n_samples']} samples per step"
            + (", symmetrized: " + group[0]["symmetrize"] if group[0]["symmetrize"] else "")
            + ". Relative error: "
            + ("exact energy of the trained state" if exact else "sampled energy")
            + " against the reference.",
            "",
            "| attention | seed | parameters | steps | E/N | relative error "
            "| at equal steps | V-score | s/step | wall time (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in group:
            lines.append(
                f"| {e['attention']} | {e['seed']} | {e['parameters']:,} | {e['steps']} "
                f"| {e['energy_per_site']:.6f} ± {e['energy_error']:.1e} "
                f"| {_fmt(best_error(e), '.2e')} "
                f"| {_fmt(e.get('relative_error_at_common_step'), '.2e')} "
                f"(step {e['common_step']}) "
                f"| {_fmt(e['v_score'], '.1e')} | {_fmt(e['seconds_per_step'], '.2f')} "
                f"| {e['seconds']:.0f} |"
            )
        lines.append("")
        if len({e["seed"] for e in group}) > 1:
            lines += [
                "| attention | seeds | best | median | worst |",
                "|---|---|---|---|---|",
            ]
            for attention in ATTENTIONS:
                errors = [best_error(e) for e in group if e["attention"] == attention]
                errors = [x for x in errors if x is not None]
                if errors:
                    lines.append(
                        f"| {attention} | {len(errors)} | {min(errors):.2e} "
                        f"| {float(np.median(errors)):.2e} | {max(errors):.2e} |"
                    )
            lines.append("")
        dependence = [e for e in group if e.get("input_dependence_log")]
        if dependence:
            lines += [
                "| attention | seed | input dependence, first record | last record |",
                "|---|---|---|---|",
            ]
            for e in dependence:
                d = e["input_dependence_log"]
                first = np.asarray(d["first"])
                last = np.asarray(d["last"])
                lines.append(
                    f"| {e['attention']} | {e['seed']} | step {d['first_step']}: mean "
                    f"{first.mean():.3f} (max {first.max():.3f}) | step {d['last_step']}: mean "
                    f"{last.mean():.3f} (max {last.max():.3f}) |"
                )
            lines.append("")
    total = sum(e["seconds"] for e in entries)
    lines += [f"Total training time of these runs: {total / 3600:.2f} h.", ""]
    return "\n".join(lines)


def collect_study(runs: Path, out: Path, *, analyze: bool = True) -> dict:
    """Write ``results.json``, ``tables.md`` and the figures of the runs under ``runs``
    into ``out``; return the results."""
    runs, out = Path(runs), Path(out)
    folders = find_runs(runs)
    if not folders:
        raise SystemExit(f"no finished or stopped run under {runs} (no */seed*/*/summary.json)")
    out.mkdir(parents=True, exist_ok=True)
    entries = [read_run(f) for f in folders]
    add_equal_step_errors(entries, runs)
    for e, folder in zip(entries, folders, strict=True):
        ends = input_dependence_ends(folder)
        if ends is not None:
            e["input_dependence_log"] = ends
    figures = draw_study_figures(entries, runs, out)
    if analyze:
        figures += analyze_seed_zero(entries, runs, out)
    results = {"runs": entries, "figures": sorted(figures)}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "tables.md").write_text(tables(entries))
    print(f"{len(entries)} runs, {len(figures)} figures -> {out}")
    return results

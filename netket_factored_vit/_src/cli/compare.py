"""``nfv compare``: the same system, model size and budget for several attentions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from netket_factored_vit._src.cli.config import ATTENTIONS, read_toml
from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.figures import draw_comparison_figure
from netket_factored_vit._src.cli.folder_lock import FolderLock, claim_folder
from netket_factored_vit._src.cli.output import (
    COMPARISON_FILE,
    SUMMARY_FILE,
    check_out_folder,
    holds_run,
    write_json,
    write_text,
)
from netket_factored_vit._src.cli.ranks import Ranks
from netket_factored_vit._src.cli.run import (
    check_memory,
    given_settings,
    resolve_run_config,
    train_in_folder,
)
from netket_factored_vit._src.cli.step_time import check_step_time

COMPARISON_TABLE = "comparison.md"
"""The comparison as a markdown table."""
COLUMNS = (
    ("attention", "attention", "{}"),
    ("parameters", "parameters", "{:,}"),
    ("E/N", "energy_per_site", "{:.6f}"),
    ("error", "energy_per_site_error", "{:.1e}"),
    ("relative error", "relative_error", "{:.2e}"),
    ("V-score", "v_score", "{:.2e}"),
    ("s/step", "seconds_per_step", "{:.2f}"),
    ("total s", "seconds_total", "{:.0f}"),
)


def parse_attentions(text: str) -> tuple[str, ...]:
    """``"factored,t5"`` -> ``("factored", "t5")``, each checked."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in ATTENTIONS]
    if bad or not names:
        raise UsageError(
            f"--attentions {text!r}: {', '.join(map(repr, bad)) or 'nothing named'}; allowed are "
            f"comma-separated names among {', '.join(ATTENTIONS)}"
        )
    return names


def _row(attention: str, folder: Path) -> dict:
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    keys = [key for _, key, _ in COLUMNS if key != "attention"] + ["steps", "system"]
    return {"attention": attention, "folder": folder.name, **{k: summary.get(k) for k in keys}}


def markdown_table(rows: list[dict]) -> str:
    """The rows as a markdown table; missing values are shown as a dash."""
    lines = [
        "| " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        cells = [
            fmt.format(row[key]) if row.get(key) is not None else "-" for _, key, fmt in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(out: Path, rows: list[dict], *, finished: bool) -> None:
    """``comparison.json`` and ``comparison.md`` for the rows so far."""
    header = ""
    if rows:
        header = f"{rows[0]['system']}, {rows[0]['steps']} steps\n\n"
    write_json(out / COMPARISON_FILE, {"finished": finished, "runs": rows})
    write_text(out / COMPARISON_TABLE, header + markdown_table(rows))


def compare_command(args: argparse.Namespace, say) -> int:
    """``nfv compare``."""
    ranks = Ranks.world()
    out = Path(args.out)
    attentions = parse_attentions(args.attentions)
    ranks.on_root(FolderLock(out).check_free)
    mode = check_out_folder(out, resume=args.resume, force=args.force, what="comparison")
    file_settings = read_toml(args.config) if args.config else {}
    flags = given_settings(args)
    plans = []
    for attention in attentions:
        folder = out / attention
        sub_mode = "resume" if mode == "resume" and holds_run(folder) else "fresh"
        config, changes = resolve_run_config(
            folder,
            mode=sub_mode,
            file_settings=file_settings,
            flag_settings={**flags, "attention": attention},
            force=args.force,
            ranks=ranks.size,
        )
        check_memory(config, ranks.size)
        check_step_time(config, ranks, say)
        plans.append((attention, folder, sub_mode, config, changes))
    ranks.barrier()
    lock = ranks.on_root(lambda: claim_folder(out, mode=mode, what="comparison", say=say))
    try:
        show_progress = not args.no_progress
        _train_and_tabulate(out, plans, show_progress=show_progress, ranks=ranks, say=say)
    finally:
        if lock is not None:
            lock.release()
    return 0


def _train_and_tabulate(out: Path, plans: list, *, show_progress: bool, ranks, say) -> None:
    """Train (or skip, when finished) each planned run, then write the comparison."""
    rows = []
    for attention, folder, sub_mode, config, changes in plans:
        summary_path = folder / SUMMARY_FILE
        if sub_mode == "resume" and summary_path.exists() and not changes:
            if json.loads(summary_path.read_text()).get("steps", 0) >= config.n_iter:
                say(f"{attention}: finished ({folder}), skipped")
                rows.append(_row(attention, folder))
                continue
        for name, old, new in changes:
            say(f"{attention}: --force: {name} changes from {old!r} to {new!r}")
        say(f"{attention}: {'continuing' if sub_mode == 'resume' else 'starting'} in {folder}")
        train_in_folder(
            folder, config, mode=sub_mode, show_progress=show_progress, ranks=ranks, say=say
        )
        rows.append(_row(attention, folder))
        if ranks.is_root:
            write_comparison(out, rows, finished=False)
    if ranks.is_root:
        write_comparison(out, rows, finished=True)
        draw_comparison_figure(out, {plan[0]: plan[1] for plan in plans}, say=say)
        say((out / COMPARISON_TABLE).read_text())

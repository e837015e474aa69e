"""``nfv plot DIR``: redraw every figure of a run or a comparison from its files.

A damaged file (cut by a crash, edited by hand) gives one warning naming it, and every
figure the other files allow is still drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.figures import (
    WARNING,
    draw_comparison_figure,
    draw_run_figures,
)
from netket_factored_vit._src.cli.output import (
    COMPARISON_FILE,
    CONFIG_FILE,
    check_existing_folder,
)


def comparison_folders(out: Path, *, say) -> dict[str, Path]:
    """The runs of the comparison in ``out`` (attention -> folder), from its
    ``comparison.json``, or, when that cannot be read, its subfolders that hold a run."""
    import json

    try:
        runs = json.loads((out / COMPARISON_FILE).read_text())["runs"]
        return {run["attention"]: out / run["folder"] for run in runs}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        say(
            f"{WARNING}{out / COMPARISON_FILE} cannot be read ({type(err).__name__}: "
            f"{err}); drawing the runs in its subfolders",
            file=sys.stderr,
        )
    return {p.name: p for p in sorted(out.iterdir()) if (p / CONFIG_FILE).is_file()}


def plot_command(args: argparse.Namespace, say) -> int:
    """``nfv plot``."""
    out = Path(args.dir)
    check_existing_folder(out, give="a run or comparison folder")
    warnings = []  # held back: if nothing can be drawn, the error names the damaged files

    def note(*parts, **kwargs):
        if kwargs.get("file") is sys.stderr:
            warnings.append(" ".join(map(str, parts)))
        else:
            say(*parts, **kwargs)

    drawn = []
    if (out / COMPARISON_FILE).exists():
        folders = comparison_folders(out, say=note)
        for folder in folders.values():
            drawn += draw_run_figures(folder, say=note)
        drawn += draw_comparison_figure(out, folders, say=note)
    elif (out / CONFIG_FILE).exists():
        drawn += draw_run_figures(out, say=note)
    else:
        raise UsageError(
            f"{out} holds neither a run ({CONFIG_FILE}) nor a comparison ({COMPARISON_FILE})"
        )
    if not drawn:
        reasons = "; ".join(w.removeprefix(WARNING) for w in warnings) or "no log yet"
        raise UsageError(f"{out} has nothing that can be drawn: {reasons}")
    for line in warnings:
        say(line, file=sys.stderr)
    for path in drawn:
        say(f"wrote {path}")
    return 0

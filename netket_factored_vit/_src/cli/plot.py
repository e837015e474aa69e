"""``nfv plot DIR``: redraw every figure of a run or a comparison from its files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.figures import draw_comparison_figure, draw_run_figures
from netket_factored_vit._src.cli.output import COMPARISON_FILE, CONFIG_FILE


def plot_command(args: argparse.Namespace, say) -> int:
    """``nfv plot``."""
    out = Path(args.dir)
    drawn = []
    if (out / COMPARISON_FILE).exists():
        try:
            runs = json.loads((out / COMPARISON_FILE).read_text())["runs"]
        except (ValueError, KeyError) as err:
            raise UsageError(f"{out / COMPARISON_FILE} cannot be read: {err}") from None
        folders = {run["attention"]: out / run["folder"] for run in runs}
        for folder in folders.values():
            drawn += draw_run_figures(folder, say=say)
        drawn += draw_comparison_figure(out, folders, say=say)
    elif (out / CONFIG_FILE).exists():
        drawn += draw_run_figures(out, say=say)
    else:
        raise UsageError(
            f"{out} holds neither a run ({CONFIG_FILE}) nor a comparison ({COMPARISON_FILE})"
        )
    if not drawn:
        raise UsageError(f"{out} has nothing to draw yet (no log)")
    for path in drawn:
        say(f"wrote {path}")
    return 0

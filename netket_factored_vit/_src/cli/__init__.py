"""The command line: ``nfv {run,compare,analyze,plot}`` (also ``python -m netket_factored_vit``).

``nfv run`` trains one model, ``nfv compare`` the same model with several attentions,
``nfv analyze DIR`` measures what a trained attention does, and ``nfv plot DIR`` redraws
the figures of a run or a comparison. Without a subcommand, ``run`` is meant, so that
``make run`` and ``nfv --n-iter 100`` keep working. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import sys

from netket_factored_vit._src.cli.errors import OneLineParser, UsageError, fail

PROG = "nfv"
SUBCOMMANDS = ("run", "compare", "analyze", "plot")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``nfv`` and its four subcommands."""
    from netket_factored_vit._src.cli.config import ATTENTIONS
    from netket_factored_vit._src.cli.run import add_folder_flags, add_setting_flags

    parser = OneLineParser(
        prog=PROG,
        description="Vision Transformer wave functions with factored, T5 and decoupled "
        "attention: train, compare, analyze, plot. Without a subcommand, 'run' is meant.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,compare,analyze,plot}")
    run = sub.add_parser(
        "run",
        help="train one ViT with SR / minSR",
        description="Train one ViT with SR / minSR. Settings: defaults < --config FILE.toml "
        "< flags; on --resume the run's stored settings replace the defaults.",
    )
    add_setting_flags(run)
    add_folder_flags(run, default_out="runs/default", what="run")

    compare = sub.add_parser(
        "compare",
        help="train the same model with several attentions and tabulate them",
        description="The same system, model size and budget for several attentions, one "
        "subfolder each; writes comparison.md, comparison.json and energy.png.",
    )
    compare.add_argument(
        "--attentions",
        default=",".join(ATTENTIONS),
        help="comma-separated attentions to compare (default: %(default)s)",
    )
    add_setting_flags(compare, exclude=("attention",))
    add_folder_flags(compare, default_out="runs/compare", what="comparison")

    analyze = sub.add_parser(
        "analyze",
        help="measure the trained attention of a run",
        description="Load a run's checkpoint, sample, and write analysis.json (input "
        "dependence, content/position split of decoupled attention, exact diagnostics on "
        "small lattices) and attention_profile.png.",
    )
    analyze.add_argument("dir", help="the --out folder of a run")
    analyze.add_argument("--n-samples", type=int, default=512, help="fresh samples (default: 512)")
    analyze.add_argument(
        "--n-states", type=int, default=6, help="exact eigenstates to compare with (default: 6)"
    )
    analyze.add_argument("--seed", type=int, default=1234, help="sampler seed (default: 1234)")

    plot = sub.add_parser(
        "plot",
        help="redraw the figures of a run or a comparison",
        description="Redraw every figure of a run or a comparison folder from its files.",
    )
    plot.add_argument("dir", help="a run or comparison folder")
    return parser


def _with_subcommand(argv: list[str]) -> list[str]:
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        return ["run", *argv]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nfv`` and ``python -m netket_factored_vit``; returns the exit status.

    Bad values and refused requests end with one line ``nfv: error: ...`` on stderr and
    exit status 2 (:class:`SystemExit`), before anything expensive is built.
    """
    argv = _with_subcommand(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    import netket_factored_vit as nfv

    root = nfv.distributed.is_root()

    def say(*parts, **kwargs):
        if root:
            print(*parts, **kwargs)

    from netket_factored_vit._src.cli.analyze import analyze_command
    from netket_factored_vit._src.cli.compare import compare_command
    from netket_factored_vit._src.cli.plot import plot_command
    from netket_factored_vit._src.cli.run import run_command

    command = {
        "run": run_command,
        "compare": compare_command,
        "analyze": analyze_command,
        "plot": plot_command,
    }[args.command]
    try:
        return command(args, say)
    except UsageError as err:
        if not root:  # every rank finds the same error; one prints it
            raise SystemExit(2) from None
        fail(str(err), prog=f"{PROG} {args.command}")

"""``nfv run``: train one ViT with SR / minSR; resumable, never overwriting a run."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from netket_factored_vit._src.cli import build, phases, starts
from netket_factored_vit._src.cli.config import (
    FIELDS,
    QUERY_KEY_ATTENTIONS,
    RunConfig,
    base_type,
    flag_name,
    from_settings,
    is_optional,
    read_stored,
    read_toml,
    resolve,
    to_toml,
    trajectory_changes,
)
from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.folder_lock import FolderLock, claim_folder
from netket_factored_vit._src.cli.memory import check_step_memory, format_size
from netket_factored_vit._src.cli.output import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOG_PREFIX,
    SUMMARY_FILE,
    check_out_folder,
    write_json,
    write_text,
)
from netket_factored_vit._src.cli.ranks import Ranks
from netket_factored_vit._src.cli.step_time import (
    SHOWN_SECONDS,
    check_step_time,
    format_duration,
)
from netket_factored_vit._src.cli.summary import run_summary
from netket_factored_vit._src.cli.time_limit import TimeLimit

GROUPS = ("system", "model", "optimisation", "output")


def _flag_type(name: str):
    """The argparse ``type`` of field ``name``; optional fields also take ``none``."""
    kind, optional = base_type(name), is_optional(name)

    def parse(text: str):
        if optional and text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError:
            allowed = f"invalid {kind.__name__} value: {text!r}"
            raise argparse.ArgumentTypeError(allowed + (" (or none)" if optional else "")) from None

    parse.__name__ = kind.__name__
    return parse


def add_setting_flags(parser: argparse.ArgumentParser, *, exclude: tuple[str, ...] = ()) -> None:
    """One flag per :class:`RunConfig` field; unset flags leave no attribute (so that the
    TOML file and the stored settings of a resumed run are not overridden)."""
    groups = {g: parser.add_argument_group(g) for g in GROUPS}
    for name, f in FIELDS.items():
        if name in exclude:
            continue
        meta = f.metadata
        default = "none" if f.default is None else f.default
        help_text = meta["help"]
        if "default:" not in help_text:
            help_text += f" (default: {default})"
        kwargs = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(f.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif meta["choices"] is not None:
            kwargs["choices"] = meta["choices"]
        else:
            kwargs["type"] = _flag_type(name)
            kwargs["metavar"] = base_type(name).__name__.upper()
        groups[meta["group"]].add_argument(flag_name(name), **kwargs)


def add_folder_flags(parser: argparse.ArgumentParser, *, default_out: str, what: str) -> None:
    """``--out``, ``--config``, ``--resume``, ``--force``, ``--no-progress``."""
    g = parser.add_argument_group("output folder")
    g.add_argument(
        "--out", default=default_out, help=f"folder of the {what} (default: %(default)s)"
    )
    g.add_argument(
        "--config", default=None, metavar="FILE.toml", help="settings file; flags override it"
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help=f"continue the {what} in --out (its settings are kept)",
    )
    g.add_argument(
        "--force",
        action="store_true",
        help=f"without --resume: move an existing {what} in --out aside to <out>.old-<time> "
        "(never deleted); with --resume: accept settings that change the trajectory",
    )
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def given_settings(args: argparse.Namespace) -> dict:
    """The settings given as flags."""
    return {name: getattr(args, name) for name in FIELDS if hasattr(args, name)}


def resolve_run_config(
    out: Path,
    *,
    mode: str,
    file_settings: dict,
    flag_settings: dict,
    force: bool,
    ranks: int,
) -> tuple[RunConfig, list]:
    """The settings of the run in ``out``: defaults (or, on resume, the stored settings)
    < file < flags. Returns them and the trajectory changes accepted by ``force``."""
    from netket_factored_vit._src.cli.validation import check_config

    stored = None
    if mode == "resume" and (out / CONFIG_FILE).exists():
        stored = read_stored(out / CONFIG_FILE)
    config = resolve(from_settings({**file_settings, **flag_settings}, base=stored))
    check_config(config, ranks=ranks)
    changes = [] if stored is None else trajectory_changes(stored, config)
    if changes and not force:
        listed = "; ".join(
            f"{name}: the run has {old!r}, now {new!r}" for name, old, new in changes
        )
        raise UsageError(
            f"--resume would change the trajectory of the run in {out}: {listed}; "
            "drop these settings, or add --force to continue with them"
        )
    return config, changes


def prepare_folder(out: Path, config: RunConfig, *, mode: str, ranks: Ranks, say) -> FolderLock:
    """Lock ``out`` and write the settings there (:func:`claim_folder`, on rank 0); returns
    the lock, held by rank 0 until released. Settings equal to the stored ones are not
    written again."""
    ranks.barrier()  # every rank has read the folder before rank 0 changes it

    def claim() -> FolderLock:
        lock = claim_folder(out, mode=mode, say=say)
        text = to_toml(config)
        try:
            if not (out / CONFIG_FILE).is_file() or (out / CONFIG_FILE).read_text() != text:
                write_text(out / CONFIG_FILE, text)
        except OSError as err:
            lock.release()
            raise UsageError(f"--out {out} cannot be written: {err.strerror or err}") from None
        except BaseException:
            lock.release()
            raise
        return lock

    return ranks.on_root(claim) or FolderLock(out)


def check_memory(config: RunConfig, ranks: int) -> int:
    """Refuse a step larger than the available memory (before building anything but the
    model's description); return the estimate in bytes. An exact run has at least one
    row per ``|G|`` basis states (its orbits under the model's group ``G``)."""
    from netket_factored_vit._src.systems.references import hilbert_dimension

    vit = build.build_vit(config)
    use_ntk = {"auto": None, "yes": True, "no": False}[config.use_ntk]
    rows = config.n_samples
    if config.exact:
        group = build.wrap_symmetrized(config, vit).symmetry_group
        rows = -(-hilbert_dimension(build.build_system(config)) // len(group))
    return check_step_memory(vit.num_parameters, rows, ranks=ranks, use_ntk=use_ntk)


def execute(
    config: RunConfig, out: Path, *, resume: bool, show_progress: bool, ranks: Ranks, say
) -> dict:
    """Train as ``config`` says into ``out``; return the summary (also written there)."""
    import netket as nk

    from netket_factored_vit._src.cli.figures import draw_run_figures
    from netket_factored_vit._src.cli.recording import (
        InputDependenceRecorder,
        NonMarshallRecorder,
    )

    try:
        system = build.build_system(config)
        vit = build.build_vit(config)
        model = build.wrap_symmetrized(config, vit)
    except ValueError as err:
        raise UsageError(str(err)) from None
    callbacks = []
    if config.attention in QUERY_KEY_ATTENTIONS and config.input_dependence_every > 0:
        callbacks.append(
            InputDependenceRecorder(
                model,
                every=config.input_dependence_every,
                n_samples=config.input_dependence_samples,
                is_root=ranks.is_root,
            )
        )
    if all(side % 2 == 0 for side in config.lattice_shape):
        callbacks.append(NonMarshallRecorder(config.lattice_shape, is_root=ranks.is_root))
    time_limit = None if config.time_limit is None else TimeLimit(config.time_limit)
    if time_limit is not None:
        callbacks.append(time_limit)

    def open_log(folder: Path, *, append: bool):
        if not ranks.is_root:
            return ()
        return nk.logging.JsonLog(
            str(folder / LOG_PREFIX), mode="append" if append else "write", save_params=False
        )

    def run_driver(phase_driver, n_steps: int, log) -> bool:
        try:
            phase_driver.run(n_steps, out=log, show_progress=show_progress, callback=callbacks)
        except KeyboardInterrupt:
            say(
                f"\ninterrupted at step {phase_driver.step_count}; continue with --resume "
                f"--out {out}"
            )
            raise SystemExit(130) from None
        return time_limit is None or time_limit.stopped_at is None

    def say_stopped(total: int, where: str = "") -> None:
        say(
            f"--time-limit {config.time_limit:g} s reached at step {time_limit.stopped_at} of "
            f"{total}{where}; continue with --resume --out {out}"
        )

    start_seed, seconds_starts = config.seed, 0.0
    if config.starts > 1:
        if not (out / CHECKPOINT_FILE).exists():
            t0 = time.perf_counter()
            start_seed = starts.run_starts(
                config, system, model, out,
                ranks=ranks, run=run_driver, open_log=open_log, say=say,
            )  # fmt: skip
            if start_seed is None:
                say_stopped(config.start_steps, f" of a start ({config.starts} starts)")
                return {}
            seconds_starts = time.perf_counter() - t0
        else:
            try:
                start_seed = starts.best_start(config, out)[0]
            except (OSError, ValueError):
                start_seed = None  # the starts' folders were removed
        resume = True
    driver, pretraining = phases.start_driver(
        config, system, model, out, resume=resume, ranks=ranks.size, say=say
    )
    start = driver.step_count
    pretrain = (
        f", the first {config.pretrain_steps} steps without the projection"
        if config.pretrain_steps
        else ""
    )
    say(
        f"{system.name}: {vit.num_parameters:,} parameters ({config.attention} attention"
        f"{'' if config.symmetrize == 'none' else ', ' + config.symmetrize}"
        f"{', spin flip' if config.spin_flip else ''}{pretrain}), {_sum_or_samples(config, driver)}"
        f" on {ranks.size} rank(s), {'minSR' if driver.use_ntk else 'SR'}, starting at step "
        f"{start}",
        flush=True,
    )
    seconds = 0.0
    if config.n_iter > start:
        log = open_log(out, append=start > 0)
        driver, seconds, _ = phases.train(
            driver, config, system, model, out,
            pretraining=pretraining, ranks=ranks.size,
            run=lambda phase_driver, n_steps: run_driver(phase_driver, n_steps, log),
        )  # fmt: skip
        if time_limit is not None and time_limit.stopped_at is not None:
            if time_limit.stopped_at < config.n_iter:
                say_stopped(config.n_iter)
    else:
        say(
            f"the run is at step {start}, --n-iter is {config.n_iter}: nothing to run "
            "(a larger --n-iter extends it)"
        )
    seconds += seconds_starts
    summary = run_summary(config, system, vit, driver, out, seconds=seconds)
    if config.starts > 1:
        summary["start_seed"] = start_seed
    if ranks.is_root:
        write_json(out / SUMMARY_FILE, summary)
        draw_run_figures(out, say=say)
    for key in (
        "steps",
        "energy_per_site",
        "energy_per_site_error",
        "relative_error",
        "exact_relative_error",
        "non_marshall_fraction",
        "v_score",
        "seconds_per_step",
    ):
        if key in summary:
            say(f"  {key:24s} {summary[key]}")
    return summary


def _sum_or_samples(config: RunConfig, driver) -> str:
    """``512 samples``, or for an exact run the orbits it sums over."""
    if not config.exact:
        return f"{config.n_samples} samples"
    state = driver.state
    return (
        f"exact sum over {state.n_orbits:,} orbits of {state.hilbert.n_states:,} states "
        f"({len(state.symmetry_group)} symmetries)"
    )


def train_in_folder(
    out: Path, config: RunConfig, *, mode: str, show_progress: bool, ranks, say
) -> dict:
    """Prepare ``out`` (:func:`prepare_folder`) and train in it (:func:`execute`), holding
    the folder's lock throughout. A resumed run refused before its first step, e.g. by
    checkpoints that cannot be read or cannot take settings forced on ``--resume``, keeps
    the settings it had: a refused command changes nothing."""
    stored = None
    if ranks.is_root and mode == "resume" and (out / CONFIG_FILE).is_file():
        stored = (out / CONFIG_FILE).read_text()
    lock = prepare_folder(out, config, mode=mode, ranks=ranks, say=say)
    try:
        return execute(
            config, out, resume=mode == "resume", show_progress=show_progress, ranks=ranks, say=say
        )
    except UsageError:
        if stored is not None and (out / CONFIG_FILE).read_text() != stored:
            write_text(out / CONFIG_FILE, stored)
        raise
    finally:
        lock.release()


def run_command(args: argparse.Namespace, say) -> int:
    """``nfv run``."""
    ranks = Ranks.world()
    out = Path(args.out)
    ranks.on_root(FolderLock(out).check_free)  # in use: say so before anything else
    mode = check_out_folder(out, resume=args.resume, force=args.force)
    file_settings = read_toml(args.config) if args.config else {}
    config, changes = resolve_run_config(
        out,
        mode=mode,
        file_settings=file_settings,
        flag_settings=given_settings(args),
        force=args.force,
        ranks=ranks.size,
    )
    need = check_memory(config, ranks.size)
    if args.resume and mode == "fresh":
        say(f"{out} holds no run yet: starting a new one")
    for name, old, new in changes:
        say(f"--force: {name} changes from {old!r} to {new!r}")
    seconds = check_step_time(config, ranks, say)
    shown = seconds is not None and seconds >= SHOWN_SECONDS  # below, fixed costs dominate
    say(
        f"settings in {out / CONFIG_FILE}; one step needs at least {format_size(need)}"
        + (f" and {format_duration(seconds)}" if shown else "")
    )
    train_in_folder(
        out, config, mode=mode, show_progress=not args.no_progress, ranks=ranks, say=say
    )
    return 0

"""The loggers' files beside the checkpoints: no collisions, no lag, no duplicates.

A run that is killed and resumed from the checkpoint of step :math:`k` must
leave its :class:`netket.logging.JsonLog` with the steps :math:`0 \\dots k-1`
exactly once. Three rules give that:

- before every checkpoint write the driver writes the loggers to disk
  (:func:`flush_loggers`, atomically for a ``JsonLog``), so a log is never
  behind its checkpoint;
- the checkpoint records the log files of the run; loading it drops from
  those files every step at or after :math:`k` (:func:`prepare_log_files`),
  and a file that cannot be parsed (cut by a crash in the middle of a write)
  is moved aside with a warning instead of stopping the resume;
- at the start of every run the loggers' histories in memory lose the steps at
  or after the driver's step count (:func:`trim_logger`).

NetKet's loggers keep their histories in private attributes (``_data``,
``_prefix``, ``_save_params``, ``_old_step``); this file is the only place
that touches them, so that a change in NetKet breaks one file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import jax
import numpy as np
from netket.logging import JsonLog, RuntimeLog
from netket.utils.history import History, HistoryDict

from netket_factored_vit._src.driver.temporaries import atomic_write


def json_log_files(logger) -> list[Path]:
    """The files a :class:`~netket.logging.JsonLog` writes (empty for other loggers)."""
    if not isinstance(logger, JsonLog):
        return []
    prefix = str(logger._prefix)
    files = [Path(prefix + ".log")]
    if logger._save_params:
        files.append(Path(prefix + ".mpack"))
    return files


def loggers_of(out) -> list:
    """The loggers that ``run(out=...)`` will use; a path stands for NetKet's default
    ``JsonLog(out)``, which also writes the parameters to ``<out>.mpack``."""
    if out is None:
        return []
    if isinstance(out, str | Path):
        return [str(out)]
    if isinstance(out, Iterable) and not isinstance(out, RuntimeLog):
        return list(out)
    return [out]


def check_no_collision(checkpoint_path: Path | None, out) -> None:
    """Refuse loggers that would write over the checkpoint or its ``.prev`` copy."""
    if checkpoint_path is None:
        return
    from netket_factored_vit._src.driver.checkpoint import previous_path

    protected = {
        Path(os.path.abspath(p)): p for p in (checkpoint_path, previous_path(checkpoint_path))
    }
    for logger in loggers_of(out):
        if isinstance(logger, str):
            files = [Path(logger + ".log"), Path(logger + ".mpack")]
        else:
            files = json_log_files(logger)
        for file in files:
            hit = protected.get(Path(os.path.abspath(file)))
            if hit is not None:
                raise ValueError(
                    f"The logger writes {file}, which is the checkpoint file {hit} of this "
                    f"driver (checkpoint_path={str(checkpoint_path)!r}): it would overwrite the "
                    "checkpoint. Give the log another name (out='run' writes run.log and "
                    "run.mpack) or another checkpoint_path."
                )


def _write_atomically(logger: RuntimeLog, path: Path) -> None:
    # RuntimeLog.serialize overwrites in place; a crash in the middle would leave
    # half a file. Write a sibling of this process's own and rename it over the log.
    with atomic_write(path) as fh:
        logger.serialize(fh)


def flush_loggers(loggers: Iterable) -> None:
    """Write every logger to disk now (atomically for a ``JsonLog``'s history)."""
    for logger in loggers:
        if isinstance(logger, JsonLog):
            if jax.process_index() == 0:
                _write_atomically(logger, Path(str(logger._prefix) + ".log"))
        elif hasattr(logger, "flush"):
            logger.flush()


def _keep_before(history: History, step: int) -> History:
    iters = np.asarray(history.iters)
    late = np.flatnonzero(iters >= step)
    return history if late.size == 0 else history[: int(late[0])]


def _trim(data: HistoryDict, step: int) -> tuple[HistoryDict, bool]:
    inner = data._data
    trimmed = jax.tree.map(
        lambda h: _keep_before(h, step) if isinstance(h, History) else h,
        inner,
        is_leaf=lambda x: isinstance(x, History),
    )
    changed = any(
        len(a) != len(b)
        for a, b in zip(
            jax.tree.leaves(inner, is_leaf=lambda x: isinstance(x, History)),
            jax.tree.leaves(trimmed, is_leaf=lambda x: isinstance(x, History)),
            strict=True,
        )
        if isinstance(a, History)
    )
    return HistoryDict(trimmed), changed


def _stored_array(node) -> np.ndarray | None:
    if isinstance(node, dict) and set(node) == {"real", "imag"}:
        return np.asarray(node["real"]) + 1j * np.asarray(node["imag"])
    if isinstance(node, list):
        try:
            return np.asarray(node)
        except ValueError:  # ragged
            return None
    return None


def _repair(history_node, stored) -> None:
    if isinstance(history_node, History):
        if len(history_node) != 1 or not isinstance(stored, dict):
            return
        values = history_node._value_dict
        for name, value in values.items():
            expected = _stored_array(stored.get(name))
            value = np.asarray(value)
            if expected is not None and value.shape != expected.shape:
                if value.size == expected.size:
                    values[name] = value.reshape(expected.shape)
        return
    items = history_node.items() if isinstance(history_node, dict | HistoryDict) else ()
    for key, child in items:
        if isinstance(stored, dict) and key in stored:
            _repair(child, stored[key])


def repair_single_step_histories(logger) -> None:
    """Give the one-step histories that a ``JsonLog`` in ``"append"`` mode read from its
    file the shapes they have on disk.

    NetKet 3.23 reads a history of exactly one step of scalars as an array of shape
    ``(1, 1)`` instead of ``(1,)``, so the values of later steps are stacked as
    ``[[e0], [e1], ...]`` and the log becomes unreadable as a series (a run stopped
    or killed after its first step, then resumed, showed it).
    """
    import json

    if not isinstance(logger, JsonLog) or not getattr(logger, "_data", None):
        return
    path = Path(str(logger._prefix) + ".log")
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    _repair(logger._data._data, stored)


def trim_logger(logger, step: int) -> bool:
    """Drop from a :class:`~netket.logging.RuntimeLog` (or ``JsonLog``) in memory every
    entry logged at a step ``>= step``; returns whether anything was dropped."""
    if not isinstance(logger, RuntimeLog) or not getattr(logger, "_data", None):
        return False
    repair_single_step_histories(logger)
    logger._data, changed = _trim(logger._data, step)
    if changed and hasattr(logger, "_old_step"):
        logger._old_step = max(step - 1, 0)
    return changed


def prepare_log_files(paths: Iterable[str | Path], step: int) -> None:
    """Make the JSON logs recorded in a checkpoint of ``step`` end at ``step - 1``.

    A file that cannot be parsed is moved to ``<name>.damaged`` (or
    ``<name>.damaged.<n>``) with a warning, so that the run can resume.
    """
    for path in map(Path, paths):
        if not path.exists():
            continue
        try:
            data = HistoryDict.from_file(str(path))
        except Exception as err:
            aside = path.with_name(path.name + ".damaged")
            n = 1
            while aside.exists():
                aside = path.with_name(f"{path.name}.damaged.{n}")
                n += 1
            os.replace(path, aside)
            warnings.warn(
                f"The log {path} cannot be read ({type(err).__name__}: {err}); it was probably "
                f"cut by a crash while being written. Moved it to {aside}; the resumed run "
                f"starts a new log at step {step}.",
                stacklevel=2,
            )
            continue
        data, changed = _trim(data, step)
        if changed:
            log = RuntimeLog()
            log._data = data
            _write_atomically(log, path)

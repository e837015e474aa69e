"""The output folder: what makes it hold a run, refusing to overwrite one, moving one aside."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.driver.temporaries import atomic_write

CONFIG_FILE = "config.toml"
"""The resolved settings of the run in a folder."""
LOG_PREFIX = "log"
"""Prefix of NetKet's JsonLog: the log is ``log.log``."""
CHECKPOINT_FILE = "checkpoint"
"""The driver's checkpoint (its predecessor is ``checkpoint.prev``)."""
SUMMARY_FILE = "summary.json"
"""Final energies and timings of a run."""
COMPARISON_FILE = "comparison.json"
"""The table of a comparison of attentions."""
RUN_MARKERS = (CONFIG_FILE, LOG_PREFIX + ".log", CHECKPOINT_FILE, SUMMARY_FILE, COMPARISON_FILE)
"""Files whose presence means that a folder holds a run (or a comparison)."""


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run or a comparison."""
    return out.is_dir() and any((out / name).exists() for name in RUN_MARKERS)


def check_writable(out: Path, *, flag: str = "--out") -> None:
    """Raise a :class:`UsageError` unless ``out`` is, or can be created as, a writable folder."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is a file, not a folder; give a folder to write the run in")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {out}: {existing} is a file, so the folder cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {out}: {existing} is not writable; choose another folder")


def check_existing_folder(folder: Path, *, give: str) -> None:
    """Raise a :class:`UsageError` unless ``folder`` is an existing folder; ``give`` says
    what to give instead (e.g. ``"the --out folder of a run"``)."""
    if not folder.exists():
        raise UsageError(f"{folder} does not exist; give {give}")
    if not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder; give {give}")


def aside_name(out: Path) -> Path:
    """Where :func:`move_aside` puts ``out``: ``<out>.old-<YYYYmmdd-HHMMSS>`` (made unique)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = out.with_name(f"{out.name}.old-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = out.with_name(f"{out.name}.old-{stamp}-{n}")
    return target


def move_aside(out: Path) -> Path:
    """Rename ``out`` to :func:`aside_name` (never delete it); return the new path."""
    target = aside_name(out)
    out.rename(target)
    return target


def check_out_folder(out: Path, *, resume: bool, force: bool, what: str = "run") -> str:
    """Decide what to do with ``out``: ``"fresh"`` (nothing there), ``"resume"``
    (continue the run there) or ``"move-aside"`` (``--force``: move the old run aside).

    Raises:
        UsageError: ``out`` cannot be written, or holds a run and neither ``resume`` nor
            ``force`` is set.
    """
    check_writable(out)
    if not holds_run(out):
        return "fresh"
    if resume:
        return "resume"
    if force:
        return "move-aside"
    raise UsageError(
        f"--out {out} already holds a {what}; add --resume to continue it, or --force to move "
        f"it aside (to {out.name}.old-<time>) and start afresh"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a reader never sees half a file)."""
    write_text(path, json.dumps(_jsonable(data), indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically, through a temporary file of this process's own."""
    with atomic_write(path) as fh:
        fh.write(text.encode())

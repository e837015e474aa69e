"""Checkpoint files of the driver: atomic writes, validated reads.

A checkpoint is one msgpack file (:mod:`flax.serialization`) holding a small
JSON header and the state pytrees. The header describes what the state belongs
to (model, Hilbert space, Hamiltonian, sampler, number of parameters and
samples); :func:`validate_header` compares it with the driver that loads it
and names every field that differs.

Writes go to a temporary file in the same directory, named after the writing
process (:mod:`.temporaries`), are flushed to disk and then moved over the old
checkpoint with :func:`os.replace`, which is atomic on POSIX file systems: a
crash mid-write leaves the previous checkpoint intact (the next write removes
the temporary file it left, and only temporary files no live writer holds).
The previous checkpoint is also kept next to the new one as ``<name>.prev``.
Both get the permissions of the user's umask, like every other file of a run.

The file stores a SHA-256 checksum of the header and of the serialized state:
a damaged file (a flipped bit, a truncated copy) is detected on reading, and
:func:`read_checkpoint` then falls back to ``<name>.prev`` with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from netket_factored_vit._src.driver.temporaries import (
    atomic_write,
    remove_stale_temporaries,
    temporary_path,
)

CHECKPOINT_FORMAT = "netket_factored_vit.driver.checkpoint"
"""Identifies our files; a msgpack file without it is refused."""
CHECKPOINT_VERSION = 2
"""Bumped when the layout of the file changes (2: checksummed payload)."""
READABLE_VERSIONS = (1, 2)
"""Versions this code reads; version 1 files have no checksum."""

VALIDATED_FIELDS = (
    "model",
    "model_fields",
    "n_parameters",
    "hilbert",
    "hamiltonian",
    "hamiltonian_fingerprint",
    "system",
    "sampler",
    "n_samples",
    "n_ranks",
    "mode",
    "momentum",
)
"""Header fields that must agree between a checkpoint and the driver loading it."""


class CheckpointFallbackWarning(UserWarning):
    """A checkpoint could not be read, and :func:`read_checkpoint` loaded its ``.prev``."""

    def __init__(self, path: str | Path, previous: str | Path, reason: str):
        self.path = Path(path)
        """The checkpoint that could not be read."""
        self.previous = Path(previous)
        """The previous checkpoint, which was read instead."""
        self.reason = reason
        """Why ``path`` was not read: ``"is missing"`` or ``"cannot be read (...)"``."""
        super().__init__(f"Checkpoint {path} {reason}; loading the previous one, {previous}.")


def strip_addresses(text: str) -> str:
    # Function reprs carry memory addresses that change from process to process.
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def model_description(model: Any) -> tuple[str, str]:
    """``(qualified class name, repr of its fields)`` of a model, stable across processes."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}", strip_addresses(repr(model))


def operator_fingerprint(operator: Any, *, n_configurations: int = 8) -> str:
    """A hash of the connected configurations and matrix elements of ``operator``
    on a few fixed configurations: two operators with different couplings give
    different fingerprints even when their ``repr`` agree."""
    try:
        sigma = operator.hilbert.random_state(jax.random.key(0), n_configurations)
        conns, mels = operator.get_conn_padded(sigma)
    except Exception:  # operators without matrix elements in a discrete basis
        return "unavailable"
    digest = hashlib.sha256()
    for conn, mel in zip(np.asarray(conns, dtype=np.float64), np.asarray(mels), strict=True):
        mel = np.round(mel.astype(np.complex128), 12)
        keep = mel != 0
        rows = sorted(
            zip(
                map(tuple, conn[keep].tolist()),
                mel[keep].real.tolist(),
                mel[keep].imag.tolist(),
                strict=True,
            )
        )
        digest.update(repr(rows).encode())
    return digest.hexdigest()[:16]


def _repr_fields(text: str) -> dict[str, str] | None:
    """The ``name = value`` lines of a flax-style repr, nested names joined by dots
    (``model.d_model``), or None when ``text`` has none."""
    fields, prefix = {}, []
    for line in text.splitlines():
        line = line.strip().rstrip(",")
        match = re.fullmatch(r"(\w+) = (.*)", line)
        if match is not None:
            name, value = match.groups()
            if value.endswith("("):  # a nested module: its fields follow
                prefix.append(name)
                fields[".".join(prefix)] = value[:-1]
            else:
                fields[".".join([*prefix, name])] = value
        elif line == ")" and prefix:
            prefix.pop()
    return fields or None


def _difference(name: str, saved: Any, expected: Any) -> str:
    """How the checkpoint's ``saved`` differs from the driver's ``expected`` value of the
    header field ``name``; for two module reprs, only the fields that differ."""
    fields = [_repr_fields(v) if isinstance(v, str) else None for v in (saved, expected)]
    if None not in fields:
        classes = [v.split("(", 1)[0].strip() for v in (saved, expected)]
        if classes[0] != classes[1]:
            return f"  {name}: a {classes[0]} in the checkpoint, a {classes[1]} here"
        ours, theirs = fields
        keys = [k for k in dict.fromkeys([*ours, *theirs]) if ours.get(k) != theirs.get(k)]
        # a nested module of another class: name it, not each of its fields
        keys = [k for k in keys if not any(k.startswith(d + ".") for d in keys)]
        if keys:
            listed = "; ".join(
                f"{k} {ours.get(k, '(none)')} in the checkpoint, {theirs.get(k, '(none)')} here"
                for k in keys
            )
            return f"  {name}: {listed}"
    return f"  {name}: checkpoint has {saved!r}, this driver has {expected!r}"


def validate_header(saved: dict, expected: dict, *, path: str | Path = "checkpoint") -> None:
    """Raise a :class:`ValueError` naming every validated field that differs (for the
    model and the sampler, the fields of their reprs that differ)."""
    if saved.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a netket_factored_vit driver checkpoint.")
    if saved.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} has checkpoint format version {saved.get('version')}, this version of "
            f"netket_factored_vit reads versions {READABLE_VERSIONS}."
        )
    diffs = [
        _difference(k, saved.get(k), expected.get(k))
        for k in VALIDATED_FIELDS
        if saved.get(k) != expected.get(k)
    ]
    if diffs:
        raise ValueError(
            f"The checkpoint {path} belongs to a different model or system; these fields differ:\n"
            + ";\n".join(diffs)
        )


def _to_host(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def write_checkpoint(path: str | Path, header: dict, state: dict) -> Path:
    """Atomically write ``header`` (JSON-serializable) and ``state`` (a state dict
    of arrays) to ``path``, keeping the previous file as ``<path>.prev``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **header})
    payload = serialization.msgpack_serialize(_to_host(state))
    data = serialization.msgpack_serialize(
        {"header": header, "state": payload, "sha256": _checksum(header, payload)}
    )
    remove_stale_temporaries(path)
    with atomic_write(path, before_replace=lambda: _keep_previous(path)) as fh:
        fh.write(data)
    return path


def _keep_previous(path: Path) -> None:
    # A hard link keeps `path` in place until the new file replaces it, so there
    # is no moment without a complete checkpoint under the main name.
    if not path.exists():
        return
    prev = previous_path(path)
    tmp_prev = temporary_path(prev)
    try:
        os.link(path, tmp_prev)
    except OSError:
        shutil.copy2(path, tmp_prev)
    try:
        os.replace(tmp_prev, prev)
    except BaseException:
        tmp_prev.unlink(missing_ok=True)
        raise


def previous_path(path: str | Path) -> Path:
    """Where :func:`write_checkpoint` keeps the checkpoint it replaced."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


def _checksum(header: str, payload: bytes) -> str:
    digest = hashlib.sha256(header.encode())
    digest.update(payload)
    return digest.hexdigest()


def _read(path: Path) -> tuple[dict, dict]:
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
    except FileNotFoundError:
        raise
    except Exception as err:  # msgpack raises a variety of errors on damaged bytes
        raise ValueError(f"{path} is not a readable msgpack file ({type(err).__name__}).") from None
    if not isinstance(raw, dict) or "header" not in raw or "state" not in raw:
        raise ValueError(f"{path} is not a netket_factored_vit driver checkpoint.")
    header, state = raw["header"], raw["state"]
    if "sha256" in raw:
        if not (isinstance(header, str) and isinstance(state, bytes)):
            raise ValueError(f"{path} is damaged: its header or state has the wrong type.")
        if raw["sha256"] != _checksum(header, state):
            raise ValueError(f"{path} is damaged: its checksum does not match its content.")
        state = serialization.msgpack_restore(state)
    try:
        header = json.loads(header)
    except Exception as err:
        raise ValueError(f"{path} has an unreadable header ({type(err).__name__}).") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a netket_factored_vit driver checkpoint.")
    return header, state


def read_checkpoint(path: str | Path) -> tuple[dict, dict, Path]:
    """Read a checkpoint, falling back to ``<path>.prev`` when ``path`` is missing,
    unreadable or fails its checksum.

    Returns:
        ``(header, state, path_read)``.

    Raises:
        FileNotFoundError: neither file exists.
        ValueError: no file that exists can be read; the message gives each reason.
    """
    path = Path(path)
    prev = previous_path(path)
    try:
        header, state = _read(path)
        return header, state, path
    except FileNotFoundError:
        if not prev.exists():
            raise FileNotFoundError(f"No checkpoint at {path} (nor {prev}).") from None
        reason = "is missing"
    except ValueError as err:
        if not prev.exists():
            raise ValueError(f"The checkpoint {path} cannot be read: {err}") from None
        reason = f"cannot be read ({err})"
    try:
        header, state = _read(prev)
    except ValueError as err:
        raise ValueError(
            f"No readable checkpoint: {path} {reason}, and the previous one cannot be read "
            f"either ({err})."
        ) from None
    warnings.warn(CheckpointFallbackWarning(path, prev, reason), stacklevel=2)
    return header, state, prev

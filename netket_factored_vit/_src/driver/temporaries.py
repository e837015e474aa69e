"""Temporary files of atomic writes: one name per process, removed only when abandoned.

A file is replaced atomically by writing a sibling and renaming it over the file. The
sibling is named after the process that writes it,
``.<name>.<host>-<pid>-<token>.tmp``, so that two processes writing the same file (two
drivers given one ``checkpoint_path``, say) never write into each other's temporary
file, and it is locked (:func:`fcntl.flock`) while it is written. A temporary file
left by a crash is removed by :func:`remove_stale_temporaries` only when no process
holds its lock and, for a file of this host, its writer is no longer running.

Files are created with the permissions the user's umask gives (``0o666 & ~umask``), as
``open()`` does, so that colleagues in the group can read a run's checkpoints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


def host_name() -> str:
    """This machine's name with every character other than letters, digits, ``_`` and
    ``-`` replaced by ``_`` (it is part of file names)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "localhost"


def temporary_path(path: str | Path) -> Path:
    """A new name ``.<name>.<host>-<pid>-<token>.tmp`` next to ``path`` for this process."""
    path = Path(path)
    return path.with_name(f".{path.name}.{host_name()}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def writer_of(temporary: str | Path) -> tuple[str, int] | None:
    """``(host, pid)`` of the process that named ``temporary`` with :func:`temporary_path`,
    or None for a name of another form."""
    parts = Path(temporary).name.rsplit(".", 2)
    if len(parts) != 3 or parts[2] != "tmp":
        return None
    fields = parts[1].rsplit("-", 2)
    if len(fields) != 3 or not fields[1].isdigit():
        return None
    return fields[0], int(fields[1])


def is_running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def create_temporary(path: str | Path) -> tuple[int, Path]:
    """Create and lock a new temporary file for ``path``; returns its descriptor and path.

    The lock lasts until the descriptor is closed.
    """
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a file system without locks: the per-process name still protects it
        pass
    return fd, tmp


@contextlib.contextmanager
def atomic_write(
    path: str | Path, *, before_replace: Callable[[], None] | None = None
) -> Iterator[BinaryIO]:
    """Write ``path`` atomically: the block writes into a locked temporary file, which is
    flushed to disk and moved over ``path`` when the block ends without an error (after
    calling ``before_replace``, if given). On an error the temporary file is removed and
    ``path`` is left as it was."""
    path = Path(path)
    fd, tmp = create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            if before_replace is not None:
                before_replace()
            os.replace(tmp, path)  # still locked: the lock goes with the descriptor
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _remove_if_abandoned(temporary: Path) -> bool:
    writer = writer_of(temporary)
    if writer is not None:
        host, pid = writer
        if host == host_name() and pid != os.getpid() and is_running(pid):
            return False
    try:
        fd = os.open(temporary, os.O_RDWR)
    except OSError:  # removed meanwhile, or not ours to open
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        except OSError:
            pass  # no locks on this file system: the check of its writer is all there is
        try:
            temporary.unlink()  # while holding its lock, so that no writer takes it meanwhile
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the temporary files of ``path`` (``.<name>.*.tmp``) that interrupted writes
    left behind, and only those: a file whose lock a process holds, or whose writer still
    runs on this machine, is kept. Returns the files removed."""
    path = Path(path)
    candidates = [p for p in path.parent.glob(f".{path.name}.*.tmp") if p.is_file()]
    return [p for p in candidates if _remove_if_abandoned(p)]

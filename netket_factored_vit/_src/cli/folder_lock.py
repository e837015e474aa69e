"""One writer per run folder: an exclusive lock on ``<out>/.nfv.lock`` for the life of a run.

``nfv run`` and ``nfv compare`` take the lock (:func:`fcntl.flock`) before they write
anything in ``--out`` and hold it until they end; a second command into the same folder
(a job submitted twice, a ``--resume`` while the run goes on) is refused with one line
naming the folder and the process that holds it. Under MPI only rank 0 takes it.

The kernel releases the lock when its process ends, however it ends (``kill -9``
included), so a lock file left by a dead run never blocks ``--resume``. On a network file
system the lock is the server's: NFSv4 releases the locks of a client that went down when
its lease expires (about 90 s), but other set-ups (NFSv3 without a lock daemon, Lustre
mounted with ``noflock``) may keep it or not support it. A folder where locking fails is
used without a lock, with a warning; a lock held by a process that is gone can be cleared
by deleting the lock file.

The lock file holds the host and pid of its holder; the holder deletes it when it ends.
Deleting it is safe because a process that locked a file then checks that the name still
refers to the file it locked, and tries again otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path

from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.output import holds_run, move_aside

LOCK_FILE = ".nfv.lock"
"""The lock file of a run folder."""
_ATTEMPTS = 10
"""Attempts to lock a lock file that others delete and create meanwhile."""


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


class FolderLock:
    """The exclusive lock of the run folder ``folder`` (see the module's description).

    Use :meth:`acquire` and :meth:`release`, or a ``with`` block.
    """

    def __init__(self, folder: str | Path, *, flag: str = "--out"):
        self.folder = Path(folder)
        """The run folder."""
        self.flag = flag
        """How the folder was given, for messages."""
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.folder / LOCK_FILE

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None

    def _holder(self) -> str:
        try:
            text = self.path.read_text().split()
        except OSError:
            text = []
        if len(text) >= 2 and text[1].isdigit():
            return f"pid {text[1]} on {text[0]}"
        return "another process"

    def _refusal(self) -> UsageError:
        return UsageError(
            f"{self.flag} {self.folder} is in use: {self._holder()} is writing a run there "
            f"(it holds {self.path}); wait for it to end, or give another {self.flag} (if "
            "no such process runs, e.g. its node went down, delete the lock file)"
        )

    def check_free(self) -> None:
        """Raise the refusal of :meth:`acquire` if another process holds the lock; writes
        nothing (a shared lock, taken and released at once)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file (or no folder): nobody holds it
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._refusal() from None
        except OSError:
            pass  # no locks on this file system; acquire() says so
        finally:
            os.close(fd)

    def acquire(self) -> None:
        """Take the lock (the folder must exist); raise a :class:`UsageError` naming the
        holder if another process has it.

        Where the file system does not support locks, warn and go on without one.
        """
        if self._fd is not None:
            return
        from netket_factored_vit._src.driver.temporaries import host_name

        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refusal() from None
            except OSError as err:
                os.close(fd)
                sys.stderr.write(
                    f"nfv: warning: {self.flag} {self.folder} cannot be locked "
                    f"({err.strerror or err}); a second run started into it would not be "
                    "refused\n"
                )
                return
            if _same_file(fd, self.path):
                break
            os.close(fd)  # deleted by its last holder meanwhile: lock the new one
        else:
            raise UsageError(f"{self.flag} {self.folder}: {self.path} keeps changing; try again")
        os.ftruncate(fd, 0)
        os.write(fd, f"{host_name()} {os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Delete the lock file (if it is still the one locked) and release the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if _same_file(fd, self.path):
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        finally:
            os.close(fd)

    def moved_to(self, folder: str | Path) -> None:
        """Record that the locked folder was renamed to ``folder``."""
        self.folder = Path(folder)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim_folder(out: Path, *, mode: str, what: str = "run", say) -> FolderLock:
    """On rank 0: take the lock of ``out``, after moving an old
    ``what`` aside (``--force``) and creating the folder; return the held lock.

    Raises:
        UsageError: another process holds the lock (of ``out``, or of the old run that
            ``--force`` would move aside), or a ``what`` appeared in ``out`` since this
            command looked at it.
    """
    lock = FolderLock(out)
    try:
        if mode == "move-aside":
            with FolderLock(out) as old:  # never move a live run aside
                target = move_aside(out)
                old.moved_to(target)
            say(f"moved the previous {what} aside to {target}")
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as err:
        # e.g. a path the permission bits allow but the file system refuses
        raise UsageError(f"--out {out} cannot be written: {err.strerror or err}") from None
    if mode != "resume" and holds_run(out):
        lock.release()
        raise UsageError(
            f"--out {out}: another {what} was written there since this command started; "
            "run it again (with --resume to continue that one)"
        )
    return lock

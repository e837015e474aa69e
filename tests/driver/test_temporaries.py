"""Temporary files of atomic writes: one name per process, removed only when abandoned,
and the permissions of the user's umask."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import netket as nk
import numpy as np
import pytest

from netket_factored_vit._src.driver import checkpoint as ckpt, temporaries
from netket_factored_vit._src.driver.log_files import flush_loggers

REPO = Path(__file__).parents[2]
HOLD = (
    "import fcntl, os, sys\n"
    "from netket_factored_vit._src.driver.temporaries import create_temporary\n"
    "fd, tmp = create_temporary(sys.argv[1])\n"
    "other = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(other, fcntl.LOCK_EX)\n"
    "print(tmp, flush=True)\n"
    "sys.stdin.read()\n"
)
"""A writer that holds its temporary file of ``argv[1]`` and the lock of ``argv[2]``."""


def _finished_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_temporary_names_belong_to_one_process():
    path = Path("/some/folder/log.log")
    first, second = temporaries.temporary_path(path), temporaries.temporary_path(path)
    assert first != second and first.parent == path.parent
    assert first.name.startswith(".log.log.") and first.name.endswith(".tmp")
    assert temporaries.writer_of(first) == (temporaries.host_name(), os.getpid())
    assert temporaries.writer_of(path.with_name(".log.log.abc123.tmp")) is None


def test_cleanup_removes_only_what_no_live_writer_holds(tmp_path):
    path = tmp_path / "checkpoint"
    other_host = tmp_path / ".checkpoint.elsewhere-12-abcd.tmp"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(other_host)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        live = Path(writer.stdout.readline().strip())
        assert temporaries.writer_of(live)[1] == writer.pid
        dead = tmp_path / f".checkpoint.{temporaries.host_name()}-{_finished_pid()}-ab12.tmp"
        old_style = tmp_path / ".checkpoint.x8y2kq.tmp"  # mkstemp's names, before
        for p in (dead, old_style):
            p.write_bytes(b"half a checkpoint")
        removed = temporaries.remove_stale_temporaries(path)
        assert sorted(removed) == sorted([dead, old_style])
        assert live.exists() and other_host.exists()  # held by the live writer
    finally:
        writer.kill()
        writer.wait()
        writer.stdin.close()
        writer.stdout.close()
    assert sorted(temporaries.remove_stale_temporaries(path)) == sorted([live, other_host])


def test_a_log_written_while_another_writer_is_midway_leaves_its_file(tmp_path, monkeypatch):
    """Both processes used to write `.log.log.partial.log`: the first one's rename then
    failed with FileNotFoundError."""
    path = tmp_path / "log.log"
    fd, midway = temporaries.create_temporary(path)
    logger = nk.logging.JsonLog(str(tmp_path / "log"), save_params=False)
    logger(0, {"Energy": 1.0})
    renamed, replace = [], os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append(src), replace(src, dst)))
    flush_loggers([logger])
    monkeypatch.undo()
    assert [temporaries.writer_of(src) for src in renamed] == [
        (temporaries.host_name(), os.getpid())
    ]
    assert midway.exists() and path.exists()
    os.replace(midway, path)  # the other writer finishes its write
    os.close(fd)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_checkpoints_get_the_permissions_of_the_umask(tmp_path, umask):
    path = tmp_path / "checkpoint"
    old = os.umask(umask)
    try:
        ckpt.write_checkpoint(path, {}, {"x": np.zeros(2)})
        ckpt.write_checkpoint(path, {}, {"x": np.ones(2)})
    finally:
        os.umask(old)
    for p in (path, ckpt.previous_path(path)):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "checkpoint.prev"]

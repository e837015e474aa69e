"""One writer per run folder: a second process into the same --out is refused, a dead one
is not in the way, and two real processes never lose a step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netket_factored_vit._src.cli import main
from netket_factored_vit._src.cli.folder_lock import LOCK_FILE, FolderLock

REPO = Path(__file__).parents[2]
HOLD = (
    "import sys\n"
    "from netket_factored_vit._src.cli.folder_lock import FolderLock\n"
    "FolderLock(sys.argv[1]).acquire()\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)
"""A process that locks the folder given as its argument and waits."""


def _env() -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _hold(folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != LOCK_FILE}


def test_a_second_process_is_refused_naming_the_folder_and_the_pid(tmp_path, tiny, capsys):
    out = tmp_path / "R"
    holder = _hold(out)
    try:
        for extra in ([], ["--resume"], ["--force"]):
            with pytest.raises(SystemExit) as exit_info:
                main(["run", *tiny, "--n-iter", "2", *extra, "--out", str(out)])
            assert exit_info.value.code == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1
            assert f"--out {out} is in use: pid {holder.pid} on " in err
            assert not _files(out)  # nothing written, nothing moved aside
        assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()


def test_a_comparison_in_use_is_refused(tmp_path, tiny, capsys):
    out = tmp_path / "C"
    holder = _hold(out)
    try:
        with pytest.raises(SystemExit):
            main(["compare", "--attentions", "factored", *tiny, "--n-iter", "2", "--out", str(out)])
        assert f"--out {out} is in use: pid {holder.pid} on " in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "R"
    holder = _hold(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdin.close()
    holder.stdout.close()
    assert (out / LOCK_FILE).exists()  # left behind, but no longer locked
    lock = FolderLock(out)
    lock.check_free()
    with lock:
        assert (out / LOCK_FILE).read_text().split()[1] == str(os.getpid())
    assert not (out / LOCK_FILE).exists()  # the holder removes its lock file


def test_a_deleted_lock_file_is_not_locked_twice(tmp_path):
    """A process that opened the lock file just before its holder deleted it must not
    hold a lock on the deleted file while a third process locks a new one."""
    first, second = FolderLock(tmp_path), FolderLock(tmp_path)
    first.acquire()
    stale = os.open(tmp_path / LOCK_FILE, os.O_RDWR)  # the name as seen before the release
    first.release()
    second.acquire()
    with pytest.raises(Exception, match="is in use"):
        FolderLock(tmp_path).acquire()
    os.close(stale)
    second.release()


@pytest.mark.slow
def test_two_real_runs_into_one_folder_lose_nothing(tmp_path, tiny):
    """The issue's case: a run, then ``--resume --n-iter`` into its folder while it goes on."""
    out = tmp_path / "R"
    args = [*tiny, "--n-iter", "400", "--checkpoint-every", "1", "--out", str(out)]
    first = subprocess.Popen(
        [sys.executable, "-m", "netket_factored_vit", "run", *args],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint").exists():
            assert first.poll() is None, first.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "netket_factored_vit", "run", "--resume", "--n-iter", "300",
             "--no-progress", "--out", str(out)],
            env=_env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert first.poll() is None, "the first run ended before the second was refused"
        assert second.returncode == 2
        assert f"is in use: pid {first.pid} on " in second.stderr
        assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stderr.close()
    assert "n_iter = 400" in (out / "config.toml").read_text()
    log = json.loads((out / "log.log").read_text())
    assert log["energy_per_site"]["iters"] == list(range(400))
    assert json.loads((out / "summary.json").read_text())["steps"] == 400
    assert not (out / LOCK_FILE).exists()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]

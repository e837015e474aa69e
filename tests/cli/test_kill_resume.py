"""Killed with SIGKILL mid-run, then ``--resume``: every step logged once, the same energies."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from netket_factored_vit._src.cli import main

REPO = Path(__file__).parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("exact", [False, True], ids=["monte-carlo", "exact"])
def test_kill_then_resume_equals_an_uninterrupted_run(tmp_path, tiny, exact):
    args = [*tiny, "--n-iter", "6", "--checkpoint-every", "2", *(["--exact"] if exact else [])]
    killed = tmp_path / "killed"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "netket_factored_vit", *args, "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (killed / "checkpoint").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert not (killed / "summary.json").exists()  # it really stopped mid-run

    assert main(["--resume", "--no-progress", "--out", str(killed)]) == 0
    straight = tmp_path / "straight"
    assert main([*args, "--out", str(straight)]) == 0

    logs = [json.loads((out / "log.log").read_text()) for out in (killed, straight)]
    assert logs[0]["energy_per_site"]["iters"] == list(range(6))  # every step exactly once
    energies = [np.asarray(log["energy_per_site"]["value"]) for log in logs]
    np.testing.assert_allclose(energies[0], energies[1], rtol=0, atol=1e-12)
    final = [json.loads((out / "summary.json").read_text()) for out in (killed, straight)]
    assert final[0]["steps"] == final[1]["steps"] == 6
    assert final[0]["energy_per_site"] == pytest.approx(final[1]["energy_per_site"], abs=1e-12)

"""``--time-limit``: a run stops cleanly, with its checkpoint and summary, and ``--resume``
continues it as if it had never stopped."""

import json

import numpy as np
import pytest

from netket_factored_vit._src.cli import main
from netket_factored_vit._src.cli.config import RunConfig, resolve


@pytest.mark.slow
def test_stopped_runs_resume_into_the_uninterrupted_trajectory(tmp_path, tiny, capsys):
    args = [*tiny, "--n-iter", "4", "--attention", "t5", "--input-dependence-every", "1"]
    stopped = tmp_path / "stopped"
    # a limit shorter than any step: every invocation runs exactly one step
    assert main([*args, "--time-limit", "1e-3", "--out", str(stopped)]) == 0
    assert "--time-limit 0.001 s reached at step 1 of 4" in capsys.readouterr().out
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["finished"] is False
    for _ in range(3):
        assert main(["--resume", "--no-progress", "--out", str(stopped)]) == 0
    straight = tmp_path / "straight"
    assert main([*args, "--out", str(straight)]) == 0

    logs = [json.loads((out / "log.log").read_text()) for out in (stopped, straight)]
    assert logs[0]["energy_per_site"]["iters"] == [0, 1, 2, 3]  # every step exactly once
    for key in ("energy_per_site", "input_dependence"):
        np.testing.assert_allclose(
            np.asarray(logs[0][key]["value"]), np.asarray(logs[1][key]["value"]), atol=1e-12
        )
    final = [json.loads((out / "summary.json").read_text()) for out in (stopped, straight)]
    assert final[0]["finished"] is final[1]["finished"] is True
    assert final[0]["energy_per_site"] == pytest.approx(final[1]["energy_per_site"], abs=1e-12)
    # seconds per step: the median of the logged steps (not the first, compiling, one)
    times = np.asarray(logs[1]["timing"]["total"]["value"])
    assert final[1]["seconds_per_step"] == pytest.approx(float(np.median(times)))


def test_symmetrize_auto_depends_on_the_system():
    assert resolve(RunConfig()).symmetrize == "point-group"
    assert resolve(RunConfig(system="shastry_sutherland")).symmetrize == "none"
    assert resolve(RunConfig(symmetrize="none")).symmetrize == "none"

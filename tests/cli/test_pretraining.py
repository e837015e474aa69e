"""``--pretrain-steps``: the first steps train the bare ViT, then its projection continues
from the same parameters, chains and step count."""

import json

import numpy as np
import pytest

from netket_factored_vit._src.cli import build, main
from netket_factored_vit._src.cli.config import (
    RunConfig,
    from_settings,
    read_toml,
    resolve,
    to_toml,
)


def test_the_schedules_horizon_starts_after_the_pretraining():
    assert resolve(RunConfig()).pretrain_steps == 0
    assert resolve(RunConfig(n_iter=450, pretrain_steps=300)).schedule_steps == 150
    assert resolve(RunConfig(n_iter=450)).schedule_steps == 450
    assert resolve(RunConfig(pretrain_steps=100, schedule_steps=50)).schedule_steps == 50


def test_runs_stored_before_pretraining_existed_continue_without_it(tmp_path):
    stored = to_toml(resolve(RunConfig()))
    legacy = "\n".join(line for line in stored.splitlines() if "pretrain" not in line)
    (tmp_path / "config.toml").write_text(legacy)
    assert from_settings(read_toml(tmp_path / "config.toml")) == resolve(RunConfig())


def test_schedules_join_at_the_end_of_the_pretraining():
    config = resolve(RunConfig(n_iter=30, pretrain_steps=20))
    diag_shift = build.diag_shift_schedule(config)
    learning_rate = build.learning_rate_schedule(config)
    assert float(diag_shift(0)) == pytest.approx(config.pretrain_diag_shift)
    assert float(diag_shift(20)) == pytest.approx(config.diag_shift)
    assert float(diag_shift(30)) == pytest.approx(config.diag_shift_final)
    assert float(diag_shift(10)) == pytest.approx(
        (config.pretrain_diag_shift + config.diag_shift) / 2
    )
    assert float(learning_rate(19)) == pytest.approx(config.lr)
    assert float(learning_rate(20)) == pytest.approx(config.lr)
    assert float(learning_rate(30)) == pytest.approx(config.lr_final)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--pretrain-steps", "5", "--n-iter", "5"], "below --n-iter (5), got 5"),
        (["--pretrain-steps", "-1"], "must be 0 or more"),
        (["--pretrain-steps", "2", "--symmetrize", "none"], "the model has none"),
        (["--pretrain-diag-shift", "0"], "--pretrain-diag-shift must be a positive"),
    ],
)
def test_bad_pretraining_is_refused_in_one_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "run"), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_stopped_in_either_phase_resumes_into_the_uninterrupted_trajectory(tmp_path, tiny):
    args = [*tiny, "--symmetrize", "point-group", "--n-iter", "4", "--pretrain-steps", "2"]
    stopped = tmp_path / "stopped"
    # a limit shorter than any step: each phase of each invocation runs one step
    assert main([*args, "--time-limit", "1e-3", "--out", str(stopped)]) == 0
    for _ in range(4):
        if json.loads((stopped / "summary.json").read_text())["finished"]:
            break
        assert main(["--resume", "--no-progress", "--out", str(stopped)]) == 0
    straight = tmp_path / "straight"
    assert main([*args, "--out", str(straight)]) == 0

    logs = [json.loads((out / "log.log").read_text()) for out in (stopped, straight)]
    assert logs[0]["energy_per_site"]["iters"] == [0, 1, 2, 3]  # every step exactly once
    for key in ("energy_per_site", "diag_shift", "learning_rate"):
        np.testing.assert_allclose(
            np.asarray(logs[0][key]["value"]), np.asarray(logs[1][key]["value"]), atol=1e-12
        )
    final = [json.loads((out / "summary.json").read_text()) for out in (stopped, straight)]
    assert final[0]["finished"] is final[1]["finished"] is True
    assert final[0]["exact_energy_per_site"] == pytest.approx(
        final[1]["exact_energy_per_site"], abs=1e-12
    )

"""``nfv run``: what a run writes, how it resumes and extends, and that nothing is lost."""

import json

import jax
import numpy as np
import optax
import pytest

from netket_factored_vit._src.cli import main
from netket_factored_vit._src.cli.config import RunConfig


def _log(out):
    return json.loads((out / "log.log").read_text())


@pytest.fixture(scope="module")
def t5_run(tmp_path_factory, tiny):
    """A 3-step T5 run with a checkpoint every step, the input dependence every 2 steps."""
    out = tmp_path_factory.mktemp("run") / "t5"
    # the complex head, whose untrained sign is far from Marshall's (checked below)
    args = [*tiny, "--attention", "t5", "--n-iter", "3", "--checkpoint-every", "1",
            "--output", "log-cosh"]  # fmt: skip
    assert main([*args, "--input-dependence-every", "2", "--out", str(out)]) == 0
    return out


def test_a_run_writes_settings_log_checkpoint_summary_and_figures(t5_run):
    for name in ("config.toml", "log.log", "checkpoint", "summary.json"):
        assert (t5_run / name).exists(), name
    for name in ("energy.png", "input_dependence.png", "non_marshall.png"):
        assert (t5_run / name).stat().st_size > 1000, name
    summary = json.loads((t5_run / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["parameters"] == 1112
    assert summary["relative_error"] > 0 and summary["v_score"] > 0
    assert summary["reference_energy_per_site"] == pytest.approx(-0.52862021, abs=1e-7)
    # 4x4: the trained state's exact energy, above the ground state and near the estimate
    exact = summary["exact_energy_per_site"]
    assert exact > -0.52862021
    assert summary["exact_relative_error"] == pytest.approx((exact + 0.52862021) / 0.52862021)
    assert abs(exact - summary["energy_per_site"]) < 10 * summary["energy_per_site_error"] + 1e-3
    log = _log(t5_run)
    assert log["energy_per_site"]["iters"] == [0, 1, 2]
    recorded = log["input_dependence"]
    assert recorded["iters"] == [0, 2]
    values = np.asarray(recorded["value"])
    assert values.shape == (2, 1, 2) and np.all(values > 0)  # query-key: input dependent
    # every step, on its samples: an untrained state is far from Marshall's sign
    against = log["non_marshall_fraction"]
    assert against["iters"] == [0, 1, 2]
    assert all(0.05 < value < 0.95 for value in against["value"])
    assert summary["non_marshall_fraction"] == pytest.approx(np.mean(against["value"]))


def test_a_folder_holding_a_run_is_refused(t5_run, tiny, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*tiny, "--out", str(t5_run)])
    assert exit_info.value.code == 2
    assert f"--out {t5_run} already holds a run; add --resume" in capsys.readouterr().err


def test_resume_refuses_trajectory_changes_naming_both_values(t5_run, capsys):
    args = ["--resume", "--out", str(t5_run), "--lr", "0.1", "--symmetrize", "point-group"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "lr: the run has 0.05, now 0.1" in err
    assert "symmetrize: the run has 'none', now 'point-group'" in err


def test_plot_redraws_the_figures_of_a_run(t5_run):
    (t5_run / "energy.png").unlink()
    assert main(["plot", str(t5_run)]) == 0
    assert (t5_run / "energy.png").stat().st_size > 1000


def test_analyze_writes_measures_and_heat_maps(t5_run):
    assert main(["analyze", str(t5_run), "--n-samples", "64", "--n-states", "2"]) == 0
    analysis = json.loads((t5_run / "analysis.json").read_text())
    assert analysis["step"] == 3 and analysis["n_samples"] == 64
    assert np.asarray(analysis["input_dependence"]).shape == (1, 2)
    assert np.all(np.asarray(analysis["input_dependence"]) > 0)
    assert np.asarray(analysis["positional_profile"]).shape == (1, 2, 2, 2)
    assert len(analysis["exact"]["overlaps"]) == 2  # 4x4: small enough for Lanczos
    assert (t5_run / "attention_profile.png").stat().st_size > 1000


def test_analyze_samples_from_the_runs_own_chains(t5_run):
    """Fresh chains thermalise slowly for structured states; analyze starts from the
    checkpoint's chains (8 of them, as the run had)."""
    from netket_factored_vit._src.cli.analyze import read_trained_state

    step, variables, sigma = read_trained_state(t5_run)
    assert step == 3 and "params" in variables
    assert sigma.shape == (8, 16) and set(np.unique(sigma)) <= {-1.0, 1.0}
    assert main(["analyze", str(t5_run), "--n-samples", "20", "--n-states", "1"]) == 0
    analysis = json.loads((t5_run / "analysis.json").read_text())
    assert analysis["n_samples"] == 24  # rounded up to a multiple of the run's 8 chains


def test_resume_extends_a_run_with_the_schedule_of_the_first(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    assert main([*tiny, "--n-iter", "2", "--checkpoint-every", "1", "--out", str(out)]) == 0
    # the stored settings are kept: no model flags are needed to continue
    assert main(["--resume", "--n-iter", "4", "--no-progress", "--out", str(out)]) == 0
    assert "starting at step 2" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["steps"] == 4
    log = _log(out)
    assert log["diag_shift"]["iters"] == [0, 1, 2, 3]  # every step once
    # the cosine horizon stays at the first run's 2 steps: held at its final value after
    defaults = RunConfig()
    ratio = defaults.diag_shift_final / defaults.diag_shift
    first = optax.cosine_decay_schedule(defaults.diag_shift, 2, alpha=ratio)
    expected = [float(first(s)) for s in range(4)]
    np.testing.assert_allclose(log["diag_shift"]["value"], expected, rtol=1e-12)
    lr = optax.cosine_decay_schedule(defaults.lr, 2, alpha=defaults.lr_final / defaults.lr)
    expected = [float(lr(s)) for s in range(4)]
    np.testing.assert_allclose(log["learning_rate"]["value"], expected, rtol=1e-12)
    assert "schedule_steps = 2" in (out / "config.toml").read_text()


def test_a_run_stored_before_the_sampling_power_resumes_on_psi_squared(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    args = [*tiny, "--n-iter", "2", "--sampling-power", "2", "--out", str(out)]
    assert main(args) == 0
    config = out / "config.toml"
    lines = config.read_text().splitlines(True)
    config.write_text("".join(line for line in lines if not line.startswith("sampling_power")))
    with pytest.raises(SystemExit):  # the default power would change the trajectory
        main(["--resume", "--n-iter", "3", "--sampling-power", "1", "--out", str(out)])
    assert "sampling_power: the run has 2.0, now 1.0" in capsys.readouterr().err
    assert main(["--resume", "--n-iter", "3", "--no-progress", "--out", str(out)]) == 0
    assert "sampling_power = 2.0" in config.read_text()


def test_force_moves_the_old_run_aside(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text('{"steps": 7}')
    assert main([*tiny, "--n-iter", "1", "--force", "--out", str(out)]) == 0
    (aside,) = tmp_path.glob("run.old-*")
    assert json.loads((aside / "summary.json").read_text()) == {"steps": 7}
    assert json.loads((out / "summary.json").read_text())["steps"] == 1
    assert f"moved the previous run aside to {aside}" in capsys.readouterr().out


@pytest.mark.slow
def test_settings_file_is_overridden_by_flags(tmp_path, tiny):
    settings = tmp_path / "settings.toml"
    settings.write_text('n_iter = 1\nseed = 7\nsymmetrize = "point-group"\nlr = 0.02\n')
    out = tmp_path / "run"
    i = tiny.index("--symmetrize")
    flags = tiny[:i] + tiny[i + 2 :]  # the file sets it
    assert main([*flags, "--config", str(settings), "--lr", "0.03", "--out", str(out)]) == 0
    stored = (out / "config.toml").read_text()
    assert "seed = 7" in stored and "lr = 0.03" in stored and 'symmetrize = "point-group"' in stored
    assert json.loads((out / "summary.json").read_text())["symmetrize"] == "point-group"


def test_learning_rate_decays_to_lr_final_and_is_logged(tmp_path, tiny):
    out = tmp_path / "run"
    args = [*tiny, "--n-iter", "3", "--lr", "0.04", "--lr-final", "0.004", "--out", str(out)]
    assert main(args) == 0
    logged = json.loads((out / "log.log").read_text())["learning_rate"]["value"]
    assert logged[0] == pytest.approx(0.04)
    assert logged[0] > logged[1] > logged[2] >= 0.004
    assert "lr_final = 0.004" in (out / "config.toml").read_text()


def test_a_forced_resume_the_checkpoint_refuses_leaves_the_settings(t5_run, capsys):
    before = (t5_run / "config.toml").read_text()
    args = ["--resume", "--force", "--no-progress", "--out", str(t5_run)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--n-samples", "64"])  # the checkpoint's chains hold 32 samples
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "cannot continue the run" in err and "n_samples" in err
    assert (t5_run / "config.toml").read_text() == before


def test_a_float32_run_with_rotations_and_spin_flip(tmp_path, tiny, capsys):
    from netket_factored_vit._src.cli.analyze import read_trained_state

    out = tmp_path / "run"
    i = tiny.index("--symmetrize")
    flags = [*tiny[:i], *tiny[i + 2 :], "--symmetrize", "rotations", "--spin-flip"]
    assert main([*flags, "--dtype", "float32", "--n-iter", "2", "--out", str(out)]) == 0
    assert "rotations, spin flip" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symmetrize"] == "rotations" and summary["spin_flip"] is True
    assert np.isfinite(summary["energy_per_site"])
    _, variables, _ = read_trained_state(out)
    leaves = [np.asarray(x) for x in jax.tree.leaves(variables)]
    assert leaves and all(x.dtype == np.float32 for x in leaves)
    assert 'dtype = "float32"' in (out / "config.toml").read_text()
    # the dtype changes the trajectory: a resume in float64 is refused, naming both
    with pytest.raises(SystemExit) as exit_info:
        main(["--resume", "--dtype", "float64", "--n-iter", "3", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "dtype: the run has 'float32', now 'float64'" in capsys.readouterr().err

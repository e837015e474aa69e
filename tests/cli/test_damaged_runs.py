"""Run folders with damaged or foreign files: one line naming the file, nothing changed by a
refused command, and what can still be drawn is drawn."""

import json
import shutil

import numpy as np
import pytest

from netket_factored_vit._src.cli import main


@pytest.fixture(scope="module")
def six_steps(tmp_path_factory, tiny):
    """A 6-step run, checkpointed at steps 2, 4 and 6: ``checkpoint`` holds step 6 and
    ``checkpoint.prev`` step 4."""
    out = tmp_path_factory.mktemp("run") / "six"
    assert main([*tiny, "--n-iter", "6", "--checkpoint-every", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(six_steps, tmp_path):
    """A copy of the 6-step run, to damage."""
    return shutil.copytree(six_steps, tmp_path / "run")


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refused(args, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_resume_refused_for_damaged_checkpoints_changes_nothing(run, capsys):
    for name in ("checkpoint", "checkpoint.prev"):
        (run / name).write_bytes((run / name).read_bytes()[:100])
    before = _snapshot(run)
    err = _refused(["--resume", "--n-iter", "10", "--no-progress", "--out", str(run)], capsys)
    assert "No readable checkpoint" in err
    assert _snapshot(run) == before  # n_iter = 6 in config.toml, as it was
    assert "n_iter = 6\n" in (run / "config.toml").read_text()


def test_a_fallback_to_the_previous_checkpoint_says_which_steps_are_lost(run, capsys):
    data = bytearray((run / "checkpoint").read_bytes())
    data[len(data) // 2] ^= 0x04
    (run / "checkpoint").write_bytes(bytes(data))
    assert main(["--resume", "--no-progress", "--out", str(run)]) == 0
    captured = capsys.readouterr()
    assert (
        f"the checkpoint {run / 'checkpoint'} cannot be read ({run / 'checkpoint'} is damaged: "
        "its checksum does not match its content.): continuing from the previous one, "
        f"{run / 'checkpoint.prev'}, at step 4; the logged steps 4 to 5 are dropped and "
        "trained again"
    ) in captured.out
    assert "UserWarning" not in captured.err
    log = json.loads((run / "log.log").read_text())
    assert log["Energy"]["iters"] == list(range(6))


def test_a_checkpoint_of_another_model_names_the_fields_that_differ(run, capsys):
    err = _refused(
        ["--resume", "--force", "--d-model", "16", "--no-progress", "--out", str(run)], capsys
    )
    assert "model_fields: d_model 8 in the checkpoint, 16 here;" in err
    assert "n_parameters: checkpoint has" in err
    assert "lattice_shape" not in err and len(err) < 400


@pytest.mark.parametrize("name", ["summary.json", "log.log", "analysis.json", "comparison"])
def test_plot_with_a_truncated_file_names_it_and_draws_the_rest(run, name, capsys):
    profile = np.linspace(0, 1, 8).reshape(1, 2, 2, 2).tolist()
    (run / "analysis.json").write_text(json.dumps({"positional_profile": profile}))
    if name == "comparison":
        folder = run.parent / "comparison"
        folder.mkdir()
        run.rename(folder / "factored")
        run = folder / "factored"
        path = folder / "comparison.json"
        path.write_text(json.dumps({"runs": [{"attention": "factored", "folder": "factored"}]}))
    else:
        folder, path = run, run / name
    path.write_text(path.read_text()[:30])
    for figure in run.glob("*.png"):
        figure.unlink()
    assert main(["plot", str(folder)]) == 0
    captured = capsys.readouterr()
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 1 and f"{path} cannot be read" in warnings[0], captured.err
    drawn = {p.name for p in run.glob("*.png")}
    expected = {
        "summary.json": {"energy.png", "non_marshall.png", "attention_profile.png"},
        "log.log": {"attention_profile.png"},
        "analysis.json": {"energy.png", "non_marshall.png"},
        "comparison": {"energy.png", "non_marshall.png", "attention_profile.png"},
    }[name]
    assert drawn == expected


def test_plot_with_nothing_readable_is_one_line_naming_the_file(run, capsys):
    (run / "log.log").write_text("{")
    err = _refused(["plot", str(run)], capsys)
    assert f"{run} has nothing that can be drawn: {run / 'log.log'} cannot be read" in err


@pytest.mark.parametrize("command", ["analyze", "plot"])
def test_a_folder_that_does_not_exist_is_named_so(tmp_path, command, capsys):
    err = _refused([command, str(tmp_path / "nowhere")], capsys)
    assert f"{tmp_path / 'nowhere'} does not exist" in err
    (tmp_path / "file").write_text("")
    err = _refused([command, str(tmp_path / "file")], capsys)
    assert "is a file, not a folder" in err

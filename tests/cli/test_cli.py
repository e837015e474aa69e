"""The command line: bad input is refused before work, a run logs and resumes."""

import json

import pytest

from netket_factored_vit._src.cli import main

TINY = [
    "--d-model",
    "8",
    "--num-heads",
    "2",
    "--num-layers",
    "1",
    "--n-samples",
    "64",
    "--n-chains",
    "8",
    "--no-progress",
]


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--n-iter", "0"], "--n-iter must be a positive integer, got 0", id="n-iter"),
        pytest.param(["--lr", "nan"], "--lr must be a positive finite number, got nan", id="lr"),
        pytest.param(["--diag-shift", "-1"], "--diag-shift must be a positive", id="shift"),
        pytest.param(["--momentum", "1.0"], "--momentum must be in [0, 1), got 1.0", id="mom"),
        pytest.param(["--n-samples", "100", "--n-chains", "16"], "multiple of", id="chains"),
        pytest.param(["--L", "5"], "total_sz=0 is not a magnetisation sector", id="odd-L"),
        pytest.param(
            ["--L", "6", "--patch-size", "4"], "not multiples of patch_size=4", id="patch"
        ),
        pytest.param(["--attention", "softmax"], "invalid choice: 'softmax'", id="attention"),
        pytest.param(["--preset", "huge"], "Unknown preset 'huge'", id="preset"),
    ],
)
def test_bad_input_is_refused(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing was started


def test_run_then_resume_continues_the_log(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--n-iter", "3", "--checkpoint-every", "1", "--out", str(out)]) == 0
    first = json.loads((out / "summary.json").read_text())
    assert first["steps"] == 3 and first["relative_error"] > 0
    assert (out / "checkpoint").exists()
    assert main([*TINY, "--n-iter", "5", "--resume", "--out", str(out)]) == 0
    second = json.loads((out / "summary.json").read_text())
    assert second["steps"] == 5
    assert "starting at step 3" in capsys.readouterr().out

"""Bad values and refused requests: one line naming the value, exit status 2, nothing built."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netket_factored_vit._src.cli import main
from netket_factored_vit._src.cli.memory import parse_size, step_memory

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--n-iter", "0"], "--n-iter must be a positive integer, got 0", id="n-iter"),
        pytest.param(["--lr", "nan"], "--lr must be a positive finite number, got nan", id="lr"),
        pytest.param(
            ["--lr-final", "0.1"], "--lr-final 0.1 is larger than --lr 0.05", id="lr-final-above"
        ),
        pytest.param(["--diag-shift", "-1"], "--diag-shift must be a positive", id="shift"),
        pytest.param(["--momentum", "1.5"], "--momentum must be in [0, 1], got 1.5", id="mom"),
        pytest.param(
            ["--diag-shift", "1e-4", "--diag-shift-final", "1.0"],
            "--diag-shift-final 1 is larger than --diag-shift 0.0001: the diag shift decays",
            id="diag-shift-final-above",
        ),
        pytest.param(
            ["--pretrain-steps", "5", "--diag-shift", "0.1"],
            "--pretrain-diag-shift 0.01 is smaller than --diag-shift 0.1",
            id="pretrain-diag-shift-below",
        ),
        pytest.param(
            ["--n-iter", "100000000000000000000"],
            "--n-iter 100000000000000000000 is out of range: integer settings are between "
            "-2147483647 and 2147483647",
            id="n-iter-beyond-int32",
        ),
        pytest.param(["--seed", str(2**40)], f"--seed {2**40} is out of range", id="seed"),
        pytest.param(["--n-samples", "100", "--n-chains", "16"], "multiple of", id="chains"),
        pytest.param(
            ["--num-heads", "0"], "--num-heads must be a positive integer, got 0", id="h0"
        ),
        pytest.param(["--num-layers", "0"], "--num-layers must be a positive integer", id="l0"),
        pytest.param(["--d-model", "10", "--num-heads", "4"], "not divisible by", id="heads"),
        pytest.param(["--L", "5"], "the 5x5 lattice has 25 sites, an odd number", id="odd-L"),
        pytest.param(["--total-sz", "0.5"], "--total-sz 0.5 is not a magnetisation", id="sz"),
        pytest.param(["--spin-flip", "--total-sz", "1"], "--spin-flip maps the sector", id="flip"),
        pytest.param(
            ["--L", "6", "--patch-size", "4"], "not multiples of --patch-size 4", id="pat"
        ),
        pytest.param(["--attention", "softmax"], "invalid choice: 'softmax'", id="attention"),
        pytest.param(
            ["--sampling-power", "0"], "--sampling-power must be in (0, 2], got 0", id="power0"
        ),
        pytest.param(
            ["--sampling-power", "2.5"], "--sampling-power must be in (0, 2], got 2.5", id="p2.5"
        ),
        pytest.param(["--sampling-power", "nan"], "--sampling-power must be in (0, 2]", id="pnan"),
        pytest.param(["--output", "cosh"], "invalid choice: 'cosh'", id="output"),
        pytest.param(
            ["--output", "marshall-signed", "--L", "6", "--Ly", "3", "--patch-size", "3"],
            "--output marshall-signed needs Marshall's sign, which the periodic 6x3 lattice",
            id="output-odd-side",
        ),
        pytest.param(["--preset", "huge"], "--preset 'huge' is unknown", id="preset"),
        pytest.param(["--n-iter", "ten"], "invalid int value: 'ten'", id="int"),
        pytest.param(["--config", "absent.toml"], "absent.toml: no such file", id="config"),
        pytest.param(
            ["--time-limit", "-5"], "--time-limit must be a positive finite number", id="time"
        ),
        pytest.param(
            ["--system", "shastry_sutherland", "--symmetrize", "point-group"],
            "--symmetrize point-group is not a symmetry of the shastry_sutherland lattice",
            id="ss-point-group",
        ),
        pytest.param(["--starts", "0"], "--starts must be a positive integer, got 0", id="st0"),
        pytest.param(
            ["--starts", "2", "--start-steps", "250", "--n-iter", "250"],
            "--start-steps 250 must be below --n-iter (250) when --starts is 2",
            id="start-steps",
        ),
    ],
)
def test_bad_input_is_refused(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("nfv") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing was started


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--out", str(out)])
        assert exit_info.value.code == 2
        assert "is a file" in capsys.readouterr().err


def test_unknown_toml_key_is_refused(tmp_path, capsys):
    settings = tmp_path / "settings.toml"
    settings.write_text("n_iter = 3\nwidth = 8\n")
    with pytest.raises(SystemExit):
        main(["--config", str(settings), "--out", str(tmp_path / "run")])
    assert "unknown key(s) 'width'" in capsys.readouterr().err


def test_a_step_too_large_for_memory_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NFV_AVAILABLE_MEMORY", "1G")
    with pytest.raises(SystemExit) as exit_info:
        main(["--n-samples", "16384", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    # SR (5,921 parameters of the Marshall-signed head < 2M rows):
    # 8 * (32768 * 5921 + 2 * 5921^2) bytes = 2.0 GiB
    assert "one SR step with 5,921 parameters needs at least 2.0 GiB per rank" in err
    assert "but 1.0 GiB is available" in err
    assert not (tmp_path / "run").exists()


def test_momentum_one_is_accepted_as_by_the_driver():
    """The driver takes SPRING's momentum in [0, 1], NetKet's range; so does the CLI."""
    from netket_factored_vit._src.cli.config import RunConfig, resolve
    from netket_factored_vit._src.cli.validation import check_config
    from netket_factored_vit._src.driver.arguments import check_momentum

    assert check_momentum(1.0) == 1.0
    check_config(resolve(RunConfig(momentum=1.0)))


def test_a_huge_integer_in_a_settings_file_is_refused(tmp_path, capsys):
    (tmp_path / "s.toml").write_text("n_iter = 100000000000000000000\n")
    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "s.toml"), "--out", str(tmp_path / "run")])
    assert "--n-iter 100000000000000000000 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_memory_estimate_follows_the_formula():
    assert step_memory(6208, 512) == (8 * (1024 * 6208 + 2 * 1024**2), True)
    assert step_memory(100, 512) == (8 * (1024 * 100 + 2 * 100**2), False)
    two_ranks, _ = step_memory(6208, 512, ranks=2)
    assert two_ranks == 8 * (2 * 512 * 6208 + 2 * 1024**2)
    assert parse_size("1.5G") == 3 * 2**29 and parse_size("2048") == 2048


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--num-heads", "0"], "--num-heads must be a positive integer", id="heads"),
        pytest.param(["analyze", "nowhere"], "nowhere does not exist", id="analyze"),
        pytest.param(["compare", "--attentions", "t5,qk"], "'qk'", id="compare"),
    ],
)
def test_no_traceback_from_the_command_line(tmp_path, args, message):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    env.update(JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "netket_factored_vit", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("nfv") and message in proc.stderr


def test_out_the_file_system_refuses_is_one_line(tmp_path, capsys):
    # /proc passes the permission check as root but refuses new folders
    out = Path("/proc/nfv-no-such-folder/run") if os.access("/proc", os.W_OK) else None
    if out is None:  # not root: a read-only folder does the same
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(out) in err and err.count("\n") == 1

"""Every script in examples/ shows its help and runs with tiny settings."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from netket_factored_vit._src.cli import build_parser
from netket_factored_vit._src.cli.config import from_settings, resolve
from netket_factored_vit._src.cli.run import given_settings
from netket_factored_vit._src.cli.validation import check_config

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "examples"
TINY = {
    "compare_attentions.py": ["--steps", "1", "--samples", "32", "--chains", "8", "--d-model", "8"],
    "train_4x4_seeds.py": ["--steps", "2", "--samples", "32", "--chains", "8", "--d-model", "8"],
    "train_mpi.py": ["--steps", "2", "--samples", "32", "--chains", "8", "--d-model", "8"],
}
"""Tiny settings of each Python example; a new example must be added here."""
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_example_has_tiny_settings():
    assert SCRIPTS == sorted(TINY)


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_shows_its_help(script, tmp_path):
    proc = _run(script, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage:") and "--steps" in proc.stdout
    assert not any(tmp_path.iterdir())  # --help writes nothing


@pytest.mark.slow
@pytest.mark.parametrize("script", ["compare_attentions.py", "train_4x4_seeds.py"])
def test_example_runs_with_tiny_settings(script, tmp_path):
    proc = _run(script, *TINY[script], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = {"compare_attentions.py": "rel. error", "train_4x4_seeds.py": '"relative_error"'}
    assert printed[script] in proc.stdout


@pytest.mark.slow
def test_train_mpi_continues_its_own_run(tmp_path):
    out = tmp_path / "run"
    first = _run("train_mpi.py", *TINY["train_mpi.py"], "--out", str(out), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "step 2:" in first.stdout
    args = [*TINY["train_mpi.py"], "--steps", "3", "--out", str(out)]
    second = _run("train_mpi.py", *args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "step 3:" in second.stdout
    assert json.loads((out / "log.log").read_text())["Energy"]["iters"] == [0, 1, 2]


def test_slurm_job_runs_the_command_line_with_valid_settings():
    script = (EXAMPLES / "slurm_job.sh").read_text()
    assert subprocess.run(["bash", "-n", str(EXAMPLES / "slurm_job.sh")]).returncode == 0
    command = script[script.index("srun ") :].replace("\\\n", " ")
    words = shlex.split(command.splitlines()[0])
    assert words[words.index("python") : words.index("run") + 1] == [
        "python",
        "-m",
        "netket_factored_vit",
        "run",
    ]
    flags = words[words.index("run") + 1 :]
    args = build_parser().parse_args(["run", *flags])
    nodes, tasks = 2, 4  # #SBATCH --nodes=2, --ntasks-per-node=4
    assert f"--nodes={nodes}" in script and f"--ntasks-per-node={tasks}" in script
    check_config(resolve(from_settings(given_settings(args))), ranks=nodes * tasks)

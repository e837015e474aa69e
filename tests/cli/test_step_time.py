"""The time of a step, estimated before anything is built, and the warning on huge lattices."""

import jax
import jax.numpy as jnp
import pytest

import netket_factored_vit as nfv
from netket_factored_vit._src.cli import main, run, step_time


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(dict(), id="small-factored"),
        pytest.param(dict(attention="t5"), id="t5"),
        pytest.param(dict(lattice_shape=(8, 8), d_model=32, num_heads=4), id="8x8"),
        pytest.param(dict(lattice_shape=(12, 12), attention="decoupled"), id="12x12-decoupled"),
    ],
)
def test_forward_flops_agree_with_xla(fields):
    """Within the operations our count leaves out (layer norms, GELU, softmax)."""
    vit = nfv.models.ViT(**fields)
    x = jnp.ones((8, vit.n_sites))
    params = vit.init(jax.random.key(0), x[:1])
    cost = jax.jit(vit.apply).lower(params, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert 0.75 < step_time.forward_flops(vit) / (cost["flops"] / 8) < 1.05


def test_images_of_the_projections():
    vit = nfv.models.ViT()
    sym = nfv.models.Symmetrized
    assert step_time.images(vit) == 1
    assert step_time.images(sym(model=vit, translations="none")) == 8
    assert step_time.images(sym(model=vit, translations="none", spin_flip=True)) == 16
    assert step_time.images(sym(model=vit, rotations_only=True)) == 4 * 4


def _started(monkeypatch, args, capsys, rate=1e10):
    """What ``nfv run`` says before its first step (the training itself is skipped)."""
    monkeypatch.setattr(step_time, "measured_rate", lambda dtype: rate)
    monkeypatch.setattr(run, "train_in_folder", lambda *a, **k: {})
    assert main(args) == 0
    return capsys.readouterr()


def test_a_lattice_far_beyond_the_machine_is_warned_about(tmp_path, monkeypatch, capsys):
    said = _started(monkeypatch, ["--L", "100", "--out", str(tmp_path / "run")], capsys)
    (warning,) = said.err.strip().splitlines()
    assert warning.startswith("nfv: warning: one step of the 100x100 run is estimated at ")
    assert "days or more" in warning and "250 steps at" in warning
    assert "and 60.6 days" in said.out  # 5.2e16 operations at 1e10 per second


def test_the_main_job_gets_an_estimate_and_no_warning(tmp_path, monkeypatch, capsys):
    said = _started(monkeypatch, ["--out", str(tmp_path / "run")], capsys)
    assert said.err == ""
    assert "one step needs at least 62.3 MiB and 2.2 s" in said.out


def test_a_tiny_step_gets_no_estimate(tmp_path, monkeypatch, capsys, tiny):
    said = _started(monkeypatch, [*tiny, "--out", str(tmp_path / "run")], capsys)
    assert said.err == "" and " and " not in said.out.splitlines()[0]

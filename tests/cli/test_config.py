"""Settings: defaults < TOML file < flags, the stored form, and bad files refused."""

import pytest

from netket_factored_vit._src.cli.config import (
    FIELDS,
    TRAJECTORY_FIELDS,
    RunConfig,
    from_settings,
    read_stored,
    read_toml,
    resolve,
    to_toml,
    trajectory_changes,
)
from netket_factored_vit._src.cli.errors import UsageError


def test_stored_settings_read_back_identically(tmp_path):
    config = resolve(RunConfig(attention="t5", total_sz=None, lr=1e-5, spin_flip=True))
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    assert from_settings(read_toml(path)) == config
    assert set(read_toml(path)) == set(FIELDS)


def test_settings_stored_before_a_field_read_as_then_in_effect(tmp_path):
    """Runs stored before --sampling-power sampled |psi|^2; before --output, the head was
    log-cosh."""
    config = resolve(RunConfig(attention="t5"))
    text = to_toml(config)
    path = tmp_path / "config.toml"
    path.write_text(text)
    stored = read_stored(path)
    assert (stored.sampling_power, stored.output) == (1.0, "marshall-signed")  # the defaults
    old = [line for line in text.splitlines(True) if not line.startswith(("sampling", "output"))]
    path.write_text("".join(old))
    assert read_stored(path) == config.replace(sampling_power=2.0, output="log-cosh")


@pytest.mark.parametrize(
    "settings, head",
    [
        pytest.param({}, "marshall-signed", id="sampled"),
        pytest.param({"exact": True}, "log-cosh", id="exact"),
        pytest.param({"system": "shastry_sutherland"}, "log-cosh", id="ss"),
        pytest.param({"L": 6, "Ly": 3, "patch_size": 3}, "log-cosh", id="odd"),
        pytest.param({"J2": 0.6}, "marshall-signed", id="J2=0.6"),
        pytest.param({"J2": 0.8}, "log-cosh", id="stripe"),
        pytest.param({"J1": -1.0, "J2": 0.0}, "log-cosh", id="ferro"),
        pytest.param({"exact": True, "output": "marshall-signed"}, "marshall-signed", id="asked"),
    ],
)
def test_auto_output_is_marshalls_prior_when_sampling_j1j2(settings, head):
    assert resolve(RunConfig(**settings)).output == head


def test_resolve_fills_the_preset_and_fixes_the_horizon():
    config = resolve(RunConfig(n_iter=40, d_model=8))
    assert (config.d_model, config.num_heads, config.num_layers, config.patch_size) == (8, 2, 2, 2)
    assert config.Ly == 4 and config.schedule_steps == 40
    # a later, larger n_iter leaves the horizon where the first run put it
    assert resolve(config.replace(n_iter=100)).schedule_steps == 40


def test_trajectory_changes_name_only_trajectory_fields():
    stored = resolve(RunConfig())
    new = stored.replace(lr=0.1, n_iter=99, checkpoint_every=3, seed=5)
    assert trajectory_changes(stored, new) == [("lr", 0.05, 0.1), ("seed", 0, 5)]
    assert "n_iter" not in TRAJECTORY_FIELDS and "symmetrize" in TRAJECTORY_FIELDS


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("n_iter = 3\nlearning_rate = 1\n", "unknown key(s) 'learning_rate'", id="key"),
        pytest.param('n_iter = "ten"\n', "n_iter = 'ten' is not an integer", id="type"),
        pytest.param("lr = true\n", "lr = True is not a number", id="bool"),
        pytest.param('attention = "softmax"\n', "attention = 'softmax' is not one of", id="choice"),
        pytest.param("n_iter = \n", "is not valid TOML", id="syntax"),
        pytest.param(b"\xff\xfe", "is not valid TOML", id="binary"),
    ],
)
def test_bad_files_are_refused(tmp_path, text, message):
    path = tmp_path / "settings.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(UsageError, match=".*") as info:
        read_toml(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_and_folder_files_are_refused(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        read_toml(tmp_path / "absent.toml")
    with pytest.raises(UsageError, match="is a folder"):
        read_toml(tmp_path)

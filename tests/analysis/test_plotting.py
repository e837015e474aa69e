import netket as nk
import numpy as np
import pytest

import netket_factored_vit as nfv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_SITES = 16
ENERGIES = np.array([-4.0, -6.0, -7.5, -8.2, -8.4])


NON_MARSHALL = np.array([0.2, 0.0, 1e-3, 0.0, 4e-3])


def _write_log(prefix, *, energy_per_site=False, input_dependence=False, non_marshall=False):
    """A genuine NetKet JsonLog file: five steps of a made-up run."""
    logger = nk.logging.JsonLog(str(prefix), save_params=False)
    for step, energy in enumerate(ENERGIES):
        data = {
            "Energy": nk.stats.Stats(mean=complex(energy, 0.01), error_of_mean=0.05, variance=1.0)
        }
        if energy_per_site:
            data["energy_per_site"] = energy / N_SITES + 1e-3
        if input_dependence and step % 2 == 0:
            data["input_dependence"] = np.full((2, 3), 0.1 * step) + np.arange(3) * 0.01
        if non_marshall:
            data["non_marshall_fraction"] = NON_MARSHALL[step]
        logger(step, data)
    logger.flush()
    return prefix.parent / (prefix.name + ".log")


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)


def test_load_log_accepts_file_prefix_and_directory(tmp_path):
    path = _write_log(tmp_path / "log")
    assert path.name == "log.log"
    log = nfv.analysis.load_log(path)
    np.testing.assert_allclose(log["Energy"]["Mean"]["real"], ENERGIES)
    assert nfv.analysis.load_log(tmp_path / "log") == log
    assert nfv.analysis.load_log(tmp_path) == log
    with pytest.raises(FileNotFoundError, match="nothing.log"):
        nfv.analysis.load_log(tmp_path / "nothing")
    path.write_text(path.read_text()[:40])  # cut short, as by a crash
    with pytest.raises(ValueError, match="not a readable JSON log"):
        nfv.analysis.load_log(path)


def test_plot_energy_from_netket_energy_with_reference(tmp_path):
    log = nfv.analysis.load_log(_write_log(tmp_path / "log"))
    reference = -0.55
    figure = nfv.analysis.plot_energy(
        log, n_sites=N_SITES, reference=reference, path=tmp_path / "figs" / "energy.png"
    )
    _assert_png(tmp_path / "figs" / "energy.png")
    top, bottom = figure.axes
    np.testing.assert_allclose(top.lines[0].get_ydata(), ENERGIES / N_SITES)
    np.testing.assert_allclose(top.lines[1].get_ydata(), reference)
    np.testing.assert_allclose(
        bottom.lines[0].get_ydata(), np.abs(ENERGIES / N_SITES - reference) / abs(reference)
    )
    assert bottom.get_yscale() == "log"


def test_plot_energy_prefers_energy_per_site_and_draws_several_runs(tmp_path):
    logs = {
        "factored": nfv.analysis.load_log(_write_log(tmp_path / "a", energy_per_site=True)),
        "t5": nfv.analysis.load_log(_write_log(tmp_path / "b")),
    }
    figure = nfv.analysis.plot_energy(logs, n_sites=N_SITES, path=tmp_path / "compare.png")
    _assert_png(tmp_path / "compare.png")
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.lines}
    np.testing.assert_allclose(lines["factored"].get_ydata(), ENERGIES / N_SITES + 1e-3)
    np.testing.assert_allclose(lines["t5"].get_ydata(), ENERGIES / N_SITES)
    with pytest.raises(ValueError, match="labels has 1 entries for 2 logs"):
        nfv.analysis.plot_energy(logs, n_sites=N_SITES, labels=["x"])
    with pytest.raises(ValueError, match="n_sites must be a positive integer, got 0"):
        nfv.analysis.plot_energy(logs, n_sites=0)
    with pytest.raises(ValueError, match="finite non-zero energy per site.*got 0"):
        nfv.analysis.plot_energy(logs, n_sites=N_SITES, reference=0)


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((2, 3, 2, 3), id="profile"),
        pytest.param((2, 3, 6, 6), id="map"),
        pytest.param((2, 4, 3, 6, 6), id="attention_maps"),
    ],
)
def test_plot_attention(tmp_path, shape):
    maps = np.random.default_rng(0).normal(size=shape)
    figure = nfv.analysis.plot_attention(maps, tmp_path / "attention.png", title="t5")
    _assert_png(tmp_path / "attention.png")
    images = [ax.images[0] for ax in figure.axes if ax.images]
    assert len(images) == 6
    expected = maps.mean(axis=1) if len(shape) == 5 else maps
    np.testing.assert_allclose(images[5].get_array(), expected[1, 2])


def test_plot_attention_refuses_wrong_shape():
    with pytest.raises(ValueError, match=r"got shape \(3, 3\)"):
        nfv.analysis.plot_attention(np.zeros((3, 3)))


def test_plot_input_dependence(tmp_path):
    log = nfv.analysis.load_log(_write_log(tmp_path / "log", input_dependence=True))
    figure = nfv.analysis.plot_input_dependence(log, tmp_path / "input_dependence.png")
    _assert_png(tmp_path / "input_dependence.png")
    (ax,) = figure.axes
    assert len(ax.lines) == 6
    line = next(line for line in ax.lines if line.get_label() == "layer 1, head 2")
    np.testing.assert_array_equal(line.get_xdata(), [0, 2, 4])
    np.testing.assert_allclose(line.get_ydata(), [0.02, 0.22, 0.42])
    del log["input_dependence"]
    with pytest.raises(ValueError, match="no 'input_dependence' entry"):
        nfv.analysis.plot_input_dependence(log)


def test_plot_non_marshall_draws_each_step_and_the_running_mean(tmp_path):
    log = nfv.analysis.load_log(_write_log(tmp_path / "log", non_marshall=True))
    figure = nfv.analysis.plot_non_marshall(log, tmp_path / "non_marshall.png")
    _assert_png(tmp_path / "non_marshall.png")
    (ax,) = figure.axes
    steps, mean = ax.lines
    np.testing.assert_array_equal(steps.get_xdata(), np.arange(5))
    np.testing.assert_allclose(steps.get_ydata(), [0.2, 1e-5, 1e-3, 1e-5, 4e-3])  # zero: floor
    # five steps, fewer than the window: one mean over all of them, at the last step
    np.testing.assert_array_equal(mean.get_xdata(), [4])
    np.testing.assert_allclose(mean.get_ydata(), [np.mean(NON_MARSHALL)])
    del log["non_marshall_fraction"]
    with pytest.raises(ValueError, match="no 'non_marshall_fraction' entry"):
        nfv.analysis.plot_non_marshall(log)

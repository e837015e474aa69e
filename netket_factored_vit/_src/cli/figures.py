"""The figures of a run and of a comparison, drawn from the files in their folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from netket_factored_vit._src.cli.config import RunConfig, read_stored
from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.output import CONFIG_FILE, LOG_PREFIX, SUMMARY_FILE

ENERGY_FIGURE = "energy.png"
"""Energy per site against the step, with the reference and the relative error."""
INPUT_DEPENDENCE_FIGURE = "input_dependence.png"
"""Input dependence of the attention against the step (query-key attentions)."""
NON_MARSHALL_FIGURE = "non_marshall.png"
"""Fraction of the samples against Marshall's sign against the step."""
ANALYSIS_FILE = "analysis.json"
"""What ``nfv analyze`` measured."""
PROFILE_FIGURE = "attention_profile.png"
"""Mean attention weight against the displacement, per layer and head."""


def run_settings(out: Path) -> RunConfig:
    """The settings stored in the run folder ``out``."""
    return read_stored(out / CONFIG_FILE)


WARNING = "nfv: warning: "
"""The start of a warning line."""


def _warn(say, message: str) -> None:
    """One line on stderr (rank 0's, through ``say``)."""
    say(WARNING + message, file=sys.stderr)


def _read_json(path: Path, *, say, instead: str):
    """The JSON object in ``path``, or None when it is missing or cannot be read (then one
    warning naming the file, and what is done ``instead``)."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        _warn(say, f"{path} cannot be read ({type(err).__name__}: {err}); {instead}")
        return None
    if not isinstance(data, dict):
        _warn(say, f"{path} holds a JSON {type(data).__name__}, not an object; {instead}")
        return None
    return data


def _reference(out: Path, *, say):
    summary = _read_json(
        out / SUMMARY_FILE, say=say, instead="the energy is drawn without the reference"
    )
    return None if summary is None else summary.get("reference_energy_per_site")


def load_run_log(out: Path, *, say=print):
    """The JsonLog of the run in ``out`` as a dict, or None when it has none or it cannot
    be read (then with a warning)."""
    return _read_json(out / (LOG_PREFIX + ".log"), say=say, instead="its figures are not drawn")


def _draw(path: Path, draw, *, source: Path, say) -> list[Path]:
    """``[path]`` after ``draw()``, or ``[]`` with a warning naming ``source`` when its
    content cannot be drawn."""
    try:
        draw()
    except (ValueError, KeyError, TypeError, IndexError) as err:
        _warn(say, f"{source} cannot be drawn ({type(err).__name__}: {err}); {path.name} skipped")
        return []
    return [path]


def draw_run_figures(out: Path, *, say=print) -> list[Path]:
    """Draw every figure of the run in ``out`` that its files allow; return their paths.
    A damaged file gives one warning naming it, and the other figures are still drawn."""
    from netket_factored_vit import analysis

    drawn = []
    log_path = out / (LOG_PREFIX + ".log")
    log = load_run_log(out, say=say)
    if log is not None:
        try:
            config = run_settings(out)
        except UsageError as err:
            _warn(say, f"{err}; the figures of the log are not drawn")
            config = None
    if log is not None and config is not None:
        n_sites = config.lattice_shape[0] * config.lattice_shape[1]
        reference = _reference(out, say=say)
        drawn += _draw(
            out / ENERGY_FIGURE,
            lambda: analysis.plot_energy(
                log, n_sites=n_sites, reference=reference, path=out / ENERGY_FIGURE
            ),
            source=log_path if reference is None else out / SUMMARY_FILE,
            say=say,
        )
        if "input_dependence" in log:
            drawn += _draw(
                out / INPUT_DEPENDENCE_FIGURE,
                lambda: analysis.plot_input_dependence(log, path=out / INPUT_DEPENDENCE_FIGURE),
                source=log_path,
                say=say,
            )
        if "non_marshall_fraction" in log:
            drawn += _draw(
                out / NON_MARSHALL_FIGURE,
                lambda: analysis.plot_non_marshall(log, path=out / NON_MARSHALL_FIGURE),
                source=log_path,
                say=say,
            )
    drawn += draw_analysis_figures(out, say=say)
    return drawn


def draw_analysis_figures(out: Path, *, say=print) -> list[Path]:
    """Heat maps of the positional profile stored in ``analysis.json``."""
    import numpy as np

    from netket_factored_vit import analysis

    stored = _read_json(out / ANALYSIS_FILE, say=say, instead=f"{PROFILE_FIGURE} is not drawn")
    if stored is None or stored.get("positional_profile") is None:
        return []
    title = f"{stored.get('attention', '')} attention: mean weight against displacement"
    return _draw(
        out / PROFILE_FIGURE,
        lambda: analysis.plot_attention(
            np.asarray(stored["positional_profile"]), path=out / PROFILE_FIGURE, title=title
        ),
        source=out / ANALYSIS_FILE,
        say=say,
    )


def draw_comparison_figure(out: Path, folders: dict[str, Path], *, say=print) -> list[Path]:
    """One figure with the energy curves of the runs in ``folders`` (name -> folder)."""
    logs = {name: load_run_log(folder, say=say) for name, folder in folders.items()}
    logs = {name: log for name, log in logs.items() if log is not None}
    if not logs:
        return []
    from netket_factored_vit import analysis

    first = folders[next(iter(logs))]
    try:
        config = run_settings(first)
    except UsageError as err:
        _warn(say, f"{err}; {out / ENERGY_FIGURE} is not drawn")
        return []
    n_sites = config.lattice_shape[0] * config.lattice_shape[1]
    reference = _reference(first, say=say)
    return _draw(
        out / ENERGY_FIGURE,
        lambda: analysis.plot_energy(
            logs, n_sites=n_sites, reference=reference, path=out / ENERGY_FIGURE
        ),
        source=out,
        say=say,
    )

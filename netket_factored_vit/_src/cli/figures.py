"""The figures of a run and of a comparison, drawn from the files in their folders."""

from __future__ import annotations

import json
from pathlib import Path

from netket_factored_vit._src.cli.config import RunConfig, from_settings, read_toml
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
    return from_settings(read_toml(out / CONFIG_FILE, what="the stored settings"))


def _reference(out: Path):
    path = out / SUMMARY_FILE
    if path.exists():
        return json.loads(path.read_text()).get("reference_energy_per_site")
    return None


def load_run_log(out: Path):
    """The JsonLog of the run in ``out`` as a dict, or None when it has none."""
    path = out / (LOG_PREFIX + ".log")
    if not path.exists():
        return None
    from netket_factored_vit import analysis

    return analysis.load_log(path)


def draw_run_figures(out: Path, *, say=print) -> list[Path]:
    """Draw every figure of the run in ``out`` from its files; return their paths."""
    from netket_factored_vit import analysis

    drawn = []
    log = load_run_log(out)
    if log is not None:
        config = run_settings(out)
        n_sites = config.lattice_shape[0] * config.lattice_shape[1]
        analysis.plot_energy(
            log, n_sites=n_sites, reference=_reference(out), path=out / ENERGY_FIGURE
        )
        drawn.append(out / ENERGY_FIGURE)
        if "input_dependence" in log:
            analysis.plot_input_dependence(log, path=out / INPUT_DEPENDENCE_FIGURE)
            drawn.append(out / INPUT_DEPENDENCE_FIGURE)
        if "non_marshall_fraction" in log:
            analysis.plot_non_marshall(log, path=out / NON_MARSHALL_FIGURE)
            drawn.append(out / NON_MARSHALL_FIGURE)
    if (out / ANALYSIS_FILE).exists():
        drawn += draw_analysis_figures(out, say=say)
    return drawn


def draw_analysis_figures(out: Path, *, say=print) -> list[Path]:
    """Heat maps of the positional profile stored in ``analysis.json``."""
    import numpy as np

    from netket_factored_vit import analysis

    stored = json.loads((out / ANALYSIS_FILE).read_text())
    profile = stored.get("positional_profile")
    if profile is None:
        return []
    title = f"{stored.get('attention', '')} attention: mean weight against displacement"
    analysis.plot_attention(np.asarray(profile), path=out / PROFILE_FIGURE, title=title)
    return [out / PROFILE_FIGURE]


def draw_comparison_figure(out: Path, folders: dict[str, Path], *, say=print) -> list[Path]:
    """One figure with the energy curves of the runs in ``folders`` (name -> folder)."""
    logs = {name: load_run_log(folder) for name, folder in folders.items()}
    logs = {name: log for name, log in logs.items() if log is not None}
    if not logs:
        return []
    from netket_factored_vit import analysis

    first = next(iter(folders.values()))
    config = run_settings(first)
    n_sites = config.lattice_shape[0] * config.lattice_shape[1]
    analysis.plot_energy(
        logs, n_sites=n_sites, reference=_reference(first), path=out / ENERGY_FIGURE
    )
    return [out / ENERGY_FIGURE]

"""``nfv analyze DIR``: what the trained attention does, measured on fresh samples."""

from __future__ import annotations

import argparse
from pathlib import Path

from netket_factored_vit._src.cli import build
from netket_factored_vit._src.cli.config import QUERY_KEY_ATTENTIONS
from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.figures import (
    ANALYSIS_FILE,
    draw_analysis_figures,
    run_settings,
)
from netket_factored_vit._src.cli.output import CHECKPOINT_FILE, CONFIG_FILE, write_json


def load_trained_variables(vstate, out: Path) -> int:
    """Put the parameters of the checkpoint in ``out`` into ``vstate``; return its step.

    Reads the file with the driver's checkpoint reader (it checks the file's integrity and
    falls back to the previous checkpoint), without building a driver, so that a run made
    on any number of ranks can be analysed by one process.
    """
    from flax import serialization

    from netket_factored_vit._src.driver.checkpoint import read_checkpoint

    try:
        _, state, _ = read_checkpoint(out / CHECKPOINT_FILE)
        vstate.variables = serialization.from_state_dict(vstate.variables, state["variables"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"cannot read the checkpoint of {out}: {err}") from None
    return int(state["step"])


def analyze_command(args: argparse.Namespace, say) -> int:
    """``nfv analyze``."""
    import netket_factored_vit as nfv
    from netket_factored_vit import analysis

    out = Path(args.dir)
    if not (out / CONFIG_FILE).exists():
        raise UsageError(f"{out} holds no run (no {CONFIG_FILE}); give the --out folder of a run")
    if nfv.distributed.size() > 1:
        raise UsageError("analyze runs on one process; start it without mpirun")
    if args.n_samples < 2:
        raise UsageError(f"--n-samples must be an integer >= 2, got {args.n_samples}")
    if args.n_states < 1:
        raise UsageError(f"--n-states must be a positive integer, got {args.n_states}")
    config = run_settings(out)
    system = build.build_system(config)
    vit = build.build_vit(config)
    model = build.wrap_symmetrized(config, vit)
    chains = min(config.n_chains, args.n_samples)
    vstate = build.build_state(
        config.replace(
            n_samples=args.n_samples - args.n_samples % chains, n_chains=chains, seed=args.seed
        ),
        system,
        model,
        ranks=1,
    )
    step = load_trained_variables(vstate, out)
    sigma = vstate.samples.reshape(-1, system.n_sites)
    energy = vstate.expect(system.hamiltonian)
    reference = nfv.systems.best_known_energy(system)
    e_site = float(energy.mean.real) / system.n_sites
    result = {
        "folder": str(out),
        "step": step,
        "attention": config.attention,
        "n_samples": int(sigma.shape[0]),
        "energy_per_site": e_site,
        "energy_per_site_error": float(energy.error_of_mean) / system.n_sites,
        "relative_error": None if reference is None else abs(e_site - reference) / abs(reference),
    }
    say(f"{out}: step {step}, {sigma.shape[0]} samples, E/N = {e_site:.6f}")
    measures = {"input_dependence": True, "positional_profile": True}
    measures["content_position_split"] = config.attention == "decoupled"
    for name, wanted in measures.items():
        if not wanted:
            continue
        value = getattr(analysis, name)(model, vstate.variables, sigma)
        result[name] = value
        if name == "input_dependence":
            kind = "query-key" if config.attention in QUERY_KEY_ATTENTIONS else "factored"
            say(f"  input dependence ({kind}), per layer and head: {value.tolist()}")
    if analysis.is_exact_feasible(system):
        result["exact"] = analysis.exact_diagnostics(
            system, model, vstate.variables, n_states=args.n_states
        )
        say(f"  exact diagnostics: {', '.join(sorted(result['exact']))}")
    else:
        say("  no exact diagnostics: the lattice is too large for Lanczos")
    write_json(out / ANALYSIS_FILE, result)
    drawn = draw_analysis_figures(out, say=say)
    say(f"wrote {out / ANALYSIS_FILE}" + "".join(f", {p}" for p in drawn))
    return 0

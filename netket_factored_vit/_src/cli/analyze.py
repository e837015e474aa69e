"""``nfv analyze DIR``: what the trained attention does, measured on fresh samples."""

from __future__ import annotations

import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from netket_factored_vit._src.cli import build
from netket_factored_vit._src.cli.config import QUERY_KEY_ATTENTIONS
from netket_factored_vit._src.cli.errors import UsageError
from netket_factored_vit._src.cli.figures import (
    ANALYSIS_FILE,
    draw_analysis_figures,
    run_settings,
)
from netket_factored_vit._src.cli.output import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    check_existing_folder,
    write_json,
)

THERMALISATION_SWEEPS = 100
"""Sweeps each chain makes from a random start when the checkpoint holds no chains."""


def read_trained_state(out: Path) -> tuple[int, dict, np.ndarray | None]:
    """The step, the variables (a state dict) and the Markov chains' configurations
    ``(chains, N)`` of the checkpoint in ``out`` (chains None if it has none).

    Reads the file with the driver's checkpoint reader (it checks the file's integrity and
    falls back to the previous checkpoint), without building a driver, so that a run made
    on any number of ranks can be analysed by one process. The chains matter: fresh chains
    from random configurations thermalise slowly for a structured state (a product of
    dimer singlets on 6x6 still gave E/N = -0.05 instead of -0.375 after 1,000 sweeps),
    while the run's own chains are in equilibrium.
    """
    from netket_factored_vit._src.driver.checkpoint import read_checkpoint

    try:
        _, state, _ = read_checkpoint(out / CHECKPOINT_FILE)
        step, variables = int(state["step"]), state["variables"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"cannot read the checkpoint of {out}: {err}") from None
    sigma = (state.get("sampler_state") or {}).get("σ")
    if sigma is not None:
        sigma = np.asarray(sigma)
        sigma = sigma.reshape(-1, sigma.shape[-1])
    return step, variables, sigma


def analyze_command(args: argparse.Namespace, say) -> int:
    """``nfv analyze``."""
    from flax import serialization

    import netket_factored_vit as nfv
    from netket_factored_vit import analysis

    out = Path(args.dir)
    check_existing_folder(out, give="the --out folder of a run")
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

    step, variables, chains_sigma = read_trained_state(out)
    if chains_sigma is not None and chains_sigma.shape[-1] != system.n_sites:
        chains_sigma = None
    # the run's own chains when the checkpoint has them, else fresh thermalised ones with
    # at least 8 samples each
    chains = (
        len(chains_sigma)
        if chains_sigma is not None
        else max(1, min(config.n_chains, args.n_samples // 8))
    )
    vstate = build.build_state(
        config.replace(
            exact=False,  # analyze samples |psi|^2, whatever the run did
            sampling_power=2.0,
            n_samples=args.n_samples + (-args.n_samples) % chains,
            n_chains=chains,
            seed=args.seed,
        ),
        system,
        model,
        ranks=1,
    )
    vstate.variables = serialization.from_state_dict(vstate.variables, variables)
    if chains_sigma is None or config.sampling_power != 2.0:
        # fresh chains, or the chains of a run that sampled |psi|^p, p != 2: thermalised
        # on |psi|^2 first
        vstate.n_discard_per_chain = THERMALISATION_SWEEPS
    if chains_sigma is not None:
        start = vstate.sampler_state.σ
        vstate.sampler_state = vstate.sampler_state.replace(
            σ=jnp.asarray(chains_sigma, dtype=start.dtype).reshape(start.shape)
        )
        vstate.reset()
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

"""Command line for the main job: train a ViT on a lattice system with the SR / minSR driver.

``python -m netket_factored_vit --help`` (or ``nfv-run``) lists the options; ``make run``
runs the defaults, a short VMC run of the 4x4 J1-J2 model at J2 = 0.5.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ATTENTIONS = ("factored", "t5", "decoupled")
SYSTEMS = ("j1j2", "shastry_sutherland")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m netket_factored_vit",
        description="Train a Vision Transformer wave function with SR / minSR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    s = p.add_argument_group("system")
    s.add_argument("--system", choices=SYSTEMS, default="j1j2")
    s.add_argument("--L", type=int, default=4, help="sites along x (and y unless --Ly)")
    s.add_argument("--Ly", type=int, default=None, help="sites along y")
    s.add_argument("--J2", type=float, default=0.5, help="J1-J2: diagonal coupling (J1 = 1)")
    s.add_argument("--J", type=float, default=0.5, help="Shastry-Sutherland: square coupling")
    s.add_argument("--J-prime", type=float, default=1.0, help="Shastry-Sutherland: dimer coupling")

    m = p.add_argument_group("model")
    m.add_argument("--attention", choices=ATTENTIONS, default="factored")
    m.add_argument("--preset", default="small", help="named ViT size (see nfv.models.PRESETS)")
    m.add_argument("--d-model", type=int, default=None, help="override the preset's width")
    m.add_argument("--num-heads", type=int, default=None, help="override the preset's heads")
    m.add_argument("--num-layers", type=int, default=None, help="override the preset's depth")
    m.add_argument("--patch-size", type=int, default=None, help="override the preset's patch")

    o = p.add_argument_group("optimisation")
    o.add_argument("--n-iter", type=int, default=30, help="optimisation steps")
    o.add_argument(
        "--n-samples", type=int, default=512, help="samples per step, all MPI ranks together"
    )
    o.add_argument("--n-chains", type=int, default=16, help="Markov chains (per rank)")
    o.add_argument("--lr", type=float, default=0.05, help="learning rate of optax.sgd")
    o.add_argument("--momentum", type=float, default=0.8, help="SPRING momentum (0 disables)")
    o.add_argument("--diag-shift", type=float, default=1e-2, help="initial diag shift")
    o.add_argument(
        "--diag-shift-final", type=float, default=1e-3, help="diag shift after cosine decay"
    )
    o.add_argument("--use-ntk", choices=("auto", "yes", "no"), default="auto", help="minSR")
    o.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="samples per forward chunk (default: n_samples, at most 1024)",
    )
    o.add_argument("--seed", type=int, default=0, help="seed of parameters and sampler")

    r = p.add_argument_group("output")
    r.add_argument("--out", default="runs/default", help="folder for log and checkpoints")
    r.add_argument("--checkpoint-every", type=int, default=10, help="steps between checkpoints")
    r.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Reject bad values before anything expensive is built."""
    positive = {
        "--n-iter": a.n_iter,
        "--n-samples": a.n_samples,
        "--n-chains": a.n_chains,
        "--checkpoint-every": a.checkpoint_every,
    }
    for name, value in positive.items():
        if value <= 0:
            p.error(f"{name} must be a positive integer, got {value}")
    rates = {"--lr": a.lr, "--diag-shift": a.diag_shift, "--diag-shift-final": a.diag_shift_final}
    for name, value in rates.items():
        if not (math.isfinite(value) and value > 0):
            p.error(f"{name} must be a positive finite number, got {value}")
    if not (math.isfinite(a.momentum) and 0 <= a.momentum < 1):
        p.error(f"--momentum must be in [0, 1), got {a.momentum}")
    if a.chunk_size is not None and a.chunk_size <= 0:
        p.error(f"--chunk-size must be a positive integer, got {a.chunk_size}")


def build_system(a: argparse.Namespace):
    import netket_factored_vit as nfv

    if a.system == "j1j2":
        return nfv.systems.j1j2(a.L, a.J2, Ly=a.Ly)
    return nfv.systems.shastry_sutherland(a.L, a.J, a.J_prime, Ly=a.Ly)


def build_model(a: argparse.Namespace, system):
    import netket_factored_vit as nfv

    overrides = {
        k: v
        for k, v in {
            "d_model": a.d_model,
            "num_heads": a.num_heads,
            "num_layers": a.num_layers,
            "patch_size": a.patch_size,
        }.items()
        if v is not None
    }
    return nfv.models.vit_preset(
        a.preset, lattice_shape=system.lattice_shape, attention=a.attention, **overrides
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _check_args(parser, a)

    import netket as nk
    import optax

    import netket_factored_vit as nfv

    ranks = nfv.distributed.size()
    if a.n_samples % (ranks * a.n_chains):
        parser.error(
            f"--n-samples ({a.n_samples}) must be a multiple of the {ranks} rank(s) times "
            f"--n-chains ({a.n_chains})"
        )
    try:
        system = build_system(a)
        model = build_model(a, system)
    except ValueError as err:
        parser.error(str(err))

    root = nfv.distributed.is_root()
    out = Path(a.out)
    if root:
        out.mkdir(parents=True, exist_ok=True)
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=a.n_chains, sweep_size=system.n_sites
    )
    vstate = nk.vqs.MCState(
        sampler,
        model,
        n_samples=a.n_samples // ranks,  # the driver's n_samples is per rank
        seed=a.seed,
        sampler_seed=a.seed + 1,
        # every evaluation path is chunked: 16k unchunked samples of a 6x6 ViT asked for 27 GB
        chunk_size=a.chunk_size or min(a.n_samples // ranks, 1024),
    )
    diag_shift = optax.cosine_decay_schedule(
        a.diag_shift, a.n_iter, alpha=a.diag_shift_final / a.diag_shift
    )
    use_ntk = {"auto": None, "yes": True, "no": False}[a.use_ntk]
    driver = nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(a.lr),
        variational_state=vstate,
        diag_shift=diag_shift,
        use_ntk=use_ntk,
        momentum=a.momentum or None,
        system=system,
        checkpoint_path=out / "checkpoint",
        checkpoint_every=a.checkpoint_every,
        resume=a.resume,
    )
    say = print if root else (lambda *args, **kwargs: None)
    say(
        f"{system.name}: {model.num_parameters:,} parameters ({a.attention} attention), "
        f"{a.n_samples} samples on {ranks} rank(s), {'minSR' if driver.use_ntk else 'SR'}, "
        f"starting at step {driver.step_count}",
        flush=True,
    )
    t0 = time.perf_counter()
    driver.run(
        a.n_iter - driver.step_count if a.resume else a.n_iter,
        out=nk.logging.JsonLog(
            str(out / "log"), mode="append" if a.resume else "write", save_params=False
        ),
        show_progress=not a.no_progress,
    )
    elapsed = time.perf_counter() - t0
    energy = driver.estimate(system.hamiltonian)  # over the samples of all ranks
    e_site = float(energy.mean.real) / system.n_sites
    summary = {
        "system": system.name,
        "attention": a.attention,
        "parameters": model.num_parameters,
        "steps": driver.step_count,
        "energy_per_site": e_site,
        "energy_per_site_error": float(energy.error_of_mean) / system.n_sites,
        "seconds": elapsed,
    }
    reference = nfv.systems.best_known_energy(system)
    if reference is not None:
        summary["reference_energy_per_site"] = reference
        summary["relative_error"] = abs(e_site - reference) / abs(reference)
    if root:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for k, v in summary.items():
        say(f"  {k:28s} {v}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

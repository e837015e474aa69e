"""Seconds per step of exact training (``nfv.vqs.OrbitSumState``) against Monte Carlo.

The main job's model (the ``small`` factored ViT, C4v-projected, on the 4x4 J1-J2 model at
J2 = 0.5) is trained by ``nfv.driver.VMC_SR`` with the settings of ``nfv run``, once on a
512-sample ``MCState`` (16 chains, one sweep of 16 moves between samples, as ``nfv run``)
and once on the exact orbit-sum state. The drivers are compiled first and then timed one
step each in turn (``interleaved_timing``). Two more exact states are timed beside them:
the bare ViT, summed over the orbits of its whole-patch translations, or over the whole
basis with the general positional table (no symmetry), and the projection with the shifts
inside a patch (every translation and C4v, fewer orbits).

Run::

    .venv/bin/python bench/bench_exact_step.py --steps 8 \
        --out bench/results/bench_exact_step_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import netket as nk
import numpy as np
import optax
from interleaved_timing import time_in_turns

import netket_factored_vit as nfv


def driver_of(system, state):
    """``nfv run``'s driver settings at the start of the main job."""
    return nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(0.05),
        variational_state=state,
        diag_shift=1e-3,
        momentum=0.8,
    )


def states(system, n_samples: int):
    """The timed variational states by name, and their rows (samples or orbits)."""
    vit = nfv.models.vit_preset("small", lattice_shape=system.lattice_shape)
    general = nfv.models.vit_preset(
        "small",
        lattice_shape=system.lattice_shape,
        attention=nfv.models.FactoredAttention(translation_invariant=False),
    )
    c4v = nfv.models.Symmetrized(model=vit, translations="none")
    every = nfv.models.Symmetrized(model=vit, translations="patch")
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=16, sweep_size=system.n_sites
    )
    mc = nk.vqs.MCState(
        sampler, c4v, n_samples=n_samples, seed=0, sampler_seed=1, chunk_size=n_samples
    )
    out = {"monte_carlo_c4v": mc}
    for name, model in (
        ("exact_c4v", c4v),
        ("exact_bare_patch_translations", vit),
        ("exact_bare_whole_basis", general),
        ("exact_c4v_every_translation", every),
    ):
        out[name] = nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per driver")
    parser.add_argument("--warmup", type=int, default=2, help="steps to compile")
    parser.add_argument("--samples", type=int, default=512, help="Monte Carlo samples")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    system = nfv.systems.j1j2(4, J2=0.5)
    vstates = states(system, args.samples)
    drivers = {name: driver_of(system, s) for name, s in vstates.items()}
    per_step, _ = time_in_turns(
        drivers, steps=args.steps, warmup=args.warmup, phases_of="monte_carlo_c4v"
    )
    base = float(np.median(per_step["monte_carlo_c4v"]))
    rows = []
    for name, times in per_step.items():
        state = vstates[name]
        exact = isinstance(state, nfv.vqs.OrbitSumState)
        median = float(np.median(times))
        rows.append(
            {
                "state": name,
                "rows": state.n_orbits if exact else state.n_samples,
                "symmetries": len(state.symmetry_group) if exact else None,
                "minsr": drivers[name].use_ntk,
                "seconds_per_step": median,
                "ratio_to_monte_carlo": median / base,
            }
        )
    print(f"{'state':32s} {'rows':>6s} {'|G|':>4s} {'solve':>6s} {'s/step':>8s} {'ratio':>6s}")
    for r in rows:
        g = "" if r["symmetries"] is None else str(r["symmetries"])
        solve = "minSR" if r["minsr"] else "SR"
        print(
            f"{r['state']:32s} {r['rows']:6d} {g:>4s} {solve:>6s} "
            f"{r['seconds_per_step']:8.3f} {r['ratio_to_monte_carlo']:6.2f}"
        )
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.2f}; {platform.processor() or platform.machine()}")
    if args.out:
        result = {"rows": rows, "steps": args.steps, "load_average": load}
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

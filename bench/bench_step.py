"""Seconds per step of ``nfv.driver.VMC_SR`` against NetKet's default ``nk.driver.VMC_SR``.

Both drivers optimise copies of the same variational state (the ``small`` factored ViT
preset on the lattice, same seeds, hence the same samples at the first step) on the
J1-J2 model at J2 = 0.5, minSR (``use_ntk=True``), the same diag shift and optimizer.
NetKet's driver runs its default path (``on_the_fly=True`` for minSR), as a NetKet user
gets it. The drivers are compiled first, then timed one step each in turn, so that a
change of machine load hits both; the script reports medians, the ratio, where our step
goes, the load average, and the memory XLA reserves for our minSR step.

Which Hamiltonian each driver gets (``--ours-operator``, ``--netket-operator``):
``netket`` is ``nk.operator.Heisenberg`` on the system's graph, what a NetKet user
writes; ``system`` is ``system.hamiltonian``, the package's operator.

Run::

    .venv/bin/python bench/bench_step.py                      # 4x4 and 6x6, about 5 minutes
    .venv/bin/python bench/bench_step.py --lattices 4 --steps 4 --warmup 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import jax
import netket as nk
import numpy as np
import optax
from interleaved_timing import time_in_turns

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import sr_solves, step_inputs

MiB = 2**20


def netket_heisenberg(system):
    """The J1-J2 Hamiltonian as a NetKet user writes it (S.S units: Pauli / 4)."""
    couplings = dict(system.couplings)
    return nk.operator.Heisenberg(
        system.hilbert, system.graph, J=[couplings["J1"] / 4, couplings["J2"] / 4]
    )


def operator(name, system):
    return system.hamiltonian if name == "system" else netket_heisenberg(system)


def build_state(system, n_samples, chunk_size, seed=0):
    model = nfv.models.vit_preset("small", lattice_shape=system.lattice_shape)
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=16, d_max=2
    )
    return nk.vqs.MCState(
        sampler,
        model,
        n_samples=n_samples,
        chunk_size=chunk_size,
        n_discard_per_chain=2,
        seed=seed,
        sampler_seed=seed + 1,
    )


def build_drivers(system, args):
    kw = dict(diag_shift=1e-3, use_ntk=True)
    return {
        "ours": nfv.driver.VMC_SR(
            operator(args.ours_operator, system),
            optax.sgd(0.02),
            variational_state=build_state(system, args.samples, args.chunk_size),
            **kw,
        ),
        "netket": nk.driver.VMC_SR(
            operator(args.netket_operator, system),
            optax.sgd(0.02),
            variational_state=build_state(system, args.samples, args.chunk_size),
            **kw,
        ),
    }


def step_memory(driver) -> dict:
    """Bytes XLA reserves (arguments + outputs + temporaries) for the two compiled
    parts of our minSR step, against the estimate 2M P 8 + (2M)^2 8."""
    vs = driver.state
    samples = vs.samples.reshape(-1, vs.hilbert.size)
    eloc = vs.local_estimators(driver._ham)
    eloc = getattr(eloc, "data", eloc).reshape(-1)
    kw = dict(mode=driver.mode, chunk_size=driver.chunk_size_bwd, collectives=driver.collectives)
    args = (vs._apply_fun, vs.parameters, vs.model_state, samples, eloc, None)
    jac = step_inputs.jacobian_rows.lower(*args, **kw).compile()
    X, f = jax.eval_shape(lambda: step_inputs.jacobian_rows(*args, **kw))
    solve = sr_solves.solve_update.lower(
        X, f, 1e-3, None, None, use_ntk=True, collectives=driver.collectives
    ).compile()

    def total(compiled):
        m = compiled.memory_analysis()
        return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes

    rows, n_params = X.shape
    estimate = rows * n_params * X.dtype.itemsize + rows**2 * X.dtype.itemsize
    return {
        "rows": rows,
        "parameters": n_params,
        "jacobian_MiB": total(jac) / MiB,
        "solve_MiB": total(solve) / MiB,
        "estimate_MiB": estimate / MiB,
        "peak_over_estimate": max(total(jac), total(solve)) / estimate,
    }


def bench_lattice(L, args):
    system = nfv.systems.j1j2(L, J2=0.5)
    drivers = build_drivers(system, args)
    n_params = drivers["ours"].state.n_parameters
    print(f"\n## {L}x{L}: P = {n_params}, M = {args.samples}, minSR, mode {drivers['ours'].mode}")
    load_before = os.getloadavg()[0]
    per_step, split = time_in_turns(drivers, steps=args.steps, warmup=args.warmup)
    load_after = os.getloadavg()[0]
    medians = {k: float(np.median(v)) for k, v in per_step.items()}
    ratios = [a / b for a, b in zip(per_step["ours"], per_step["netket"], strict=True)]
    result = {
        "lattice": f"{L}x{L}",
        "parameters": n_params,
        "samples": args.samples,
        "ours_s_per_step": medians["ours"],
        "netket_s_per_step": medians["netket"],
        "ours_over_netket": medians["ours"] / medians["netket"],
        "median_stepwise_ratio": float(np.median(ratios)),
        "ours_phases_s": split,
        "load_average": [load_before, load_after],
        "ours_operator": args.ours_operator,
        "netket_operator": args.netket_operator,
    }
    if not args.no_memory:
        result["memory"] = step_memory(drivers["ours"])
    print(json.dumps(result, indent=1))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lattices", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="MCState chunk_size (default: none)"
    )
    parser.add_argument("--steps", type=int, default=8, help="timed steps per driver")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation)")
    parser.add_argument("--ours-operator", choices=("system", "netket"), default="system")
    parser.add_argument("--netket-operator", choices=("system", "netket"), default="netket")
    parser.add_argument("--no-memory", action="store_true", help="skip XLA's memory analysis")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    print(
        f"jax {jax.__version__}, netket {nk.__version__}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores, device {jax.devices()[0].platform}"
    )
    results = [bench_lattice(L, args) for L in args.lattices]
    print("\n| lattice | P | ours (s/step) | NetKet VMC_SR (s/step) | ours / NetKet | load |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['lattice']} | {r['parameters']:,} | {r['ours_s_per_step']:.3f} | "
            f"{r['netket_s_per_step']:.3f} | {r['ours_over_netket']:.2f} | "
            f"{r['load_average'][0]:.1f}-{r['load_average'][1]:.1f} |"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

"""Wall time to accuracy on 4x4 J1-J2 (J2 = 0.5): our driver, NetKet's, and float32.

Every run trains the same model from the same seeds with the same recipe: the
``small`` factored ViT projected on the C4v point group (the recipe of
``tests/driver/test_training.py``: 512 samples from 16 MetropolisExchange chains,
``optax.sgd(0.05)``, SPRING momentum 0.8, minSR, diag shift decaying exponentially
from 1e-2 to 3e-3 over ``--steps``). Runs (``--runs``) name a driver and a
parameter precision:

=================  ===========================================================
``ours:float64``   ``nfv.driver.VMC_SR``, float64 parameters
``netket:float64`` ``nk.driver.VMC_SR`` with its defaults (on-the-fly minSR)
``ours:float32``   ``nfv.driver.VMC_SR``, float32 parameters: sampling and local
                   energies in float32, the update solved in float64
=================  ===========================================================

All runs start from the same parameters (rounded to float32 for float32 runs) and
the same sampler seed. The runs advance one step each in turn, so that machine load
hits them alike. Every ``--eval-every`` steps the exact relative error of each run's
current parameters (a full sum over the 12,870 configurations of Sz = 0, no Monte
Carlo noise) is computed outside the timed region. The script reports the training time at which
each run first measured a relative error below 1e-2 and 1e-3, the final error and
the median time per step.

Run::

    .venv/bin/python bench/bench_accuracy.py                  # 100 steps, about 15 minutes
    .venv/bin/python bench/bench_accuracy.py --steps 20 --runs ours:float64 ours:float32
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import optax

import netket_factored_vit as nfv

THRESHOLDS = (1e-2, 1e-3)


def build_driver(kind: str, dtype: str, system, args, seed: int):
    model = nfv.models.Symmetrized(
        model=nfv.models.vit_preset("small", param_dtype=jnp.dtype(dtype)), translations="none"
    )
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=16, d_max=2
    )
    vs = nk.vqs.MCState(
        sampler,
        model,
        n_samples=args.samples,
        chunk_size=args.samples,
        n_discard_per_chain=2,
        seed=seed,
        sampler_seed=seed + 1,
    )
    diag_shift = optax.exponential_decay(1e-2, args.steps, 0.3, end_value=3e-3)
    kw = dict(variational_state=vs, diag_shift=diag_shift, momentum=0.8, use_ntk=True)
    if kind == "ours":
        return nfv.driver.VMC_SR(system.hamiltonian, optax.sgd(0.05), **kw), model
    return nk.driver.VMC_SR(system.hamiltonian, optax.sgd(0.05), **kw), model


def exact_relative_error(model, variables, states, H_sparse, e_exact) -> float:
    # The model in its own precision; the energy summed in float64.
    log_psi = np.asarray(jax.jit(model.apply)(variables, states)).astype(np.complex128)
    psi = np.exp(log_psi - log_psi.real.max())
    energy = float(np.real(np.vdot(psi, H_sparse @ psi)) / np.real(np.vdot(psi, psi)))
    return abs((energy - e_exact) / e_exact)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", nargs="+", default=["ours:float64", "netket:float64", "ours:float32"]
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    for run in args.runs:
        kind, _, dtype = run.partition(":")
        if kind not in ("ours", "netket") or dtype not in ("float64", "float32"):
            raise SystemExit(f"--runs entry {run!r}: expected ours|netket:float64|float32")

    system = nfv.systems.j1j2(4, J2=0.5)
    e_exact = nfv.systems.exact_energy(system) * system.n_sites
    states = system.hilbert.all_states()
    H_sparse = system.hamiltonian.to_sparse()
    runs = {}
    # Every run starts from the same parameters: float32 runs from the float64
    # initial parameters rounded to float32 (their own initialiser would draw others).
    start = build_driver("ours", "float64", system, args, args.seed)[0].state.parameters
    for run in args.runs:
        kind, _, dtype = run.partition(":")
        driver, model = build_driver(kind, dtype, system, args, args.seed)
        driver.state.parameters = jax.tree.map(lambda x, d=dtype: x.astype(d), start)
        runs[run] = {"driver": driver, "model": model, "train_s": 0.0, "steps_s": [],
                     "errors": [], "reached": {}}  # fmt: skip
    load = [os.getloadavg()[0]]
    for step in range(1, args.steps + 1):
        for run in runs.values():
            t0 = time.perf_counter()
            run["driver"].run(1, show_progress=False)
            jax.block_until_ready(run["driver"].state.parameters)
            dt = time.perf_counter() - t0
            run["train_s"] += dt
            if step > 2:  # the first steps compile
                run["steps_s"].append(dt)
        if step % args.eval_every == 0 or step == args.steps:
            for name, run in runs.items():
                vs = run["driver"].state
                err = exact_relative_error(run["model"], vs.variables, states, H_sparse, e_exact)
                run["errors"].append((step, run["train_s"], err))
                for th in THRESHOLDS:
                    if err < th and th not in run["reached"]:
                        run["reached"][th] = (step, run["train_s"])
                print(f"step {step} {name}: relative error {err:.2e}, train {run['train_s']:.1f} s")
            load.append(os.getloadavg()[0])

    results = {}
    print(
        "\n| run | s/step (median) | final relative error | to 1e-2 (step, s) | to 1e-3 (step, s) |"
    )
    print("|---|---|---|---|---|")
    for name, run in runs.items():
        reached = {f"{th:g}": run["reached"].get(th) for th in THRESHOLDS}
        results[name] = {
            "s_per_step": float(np.median(run["steps_s"])),
            "final_relative_error": run["errors"][-1][2],
            "reached": reached,
            "errors": run["errors"],
        }
        cells = ["not reached" if r is None else f"{r[0]}, {r[1]:.0f} s" for r in reached.values()]
        print(
            f"| {name} | {results[name]['s_per_step']:.3f} | "
            f"{results[name]['final_relative_error']:.2e} | {cells[0]} | {cells[1]} |"
        )
    print(f"load average during the run: {min(load):.1f}-{max(load):.1f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "load": load, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()

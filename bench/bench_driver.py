"""Time per step of ``nfv.driver.VMC_SR`` against ``nk.driver.VMC_SR``, in one process.

Both drivers optimise copies of the same variational state (same model, same
seeds, hence the same samples at the first step) on the 4x4 J1-J2 model at
J2 = 0.5, in the same mode (SR or minSR) and with the same diag shift. For each
regime the script prints the median wall time per step of ``run``, the ratio,
where our step spends its time, and for minSR the memory XLA reserves for the
Jacobian and the solve against the estimate 2M x P x 8 + (2M)^2 x 8 bytes.

Run::

    .venv/bin/python bench/bench_driver.py            # about 3-5 minutes on 2 cores
    .venv/bin/python bench/bench_driver.py --steps 3  # quicker
"""

from __future__ import annotations

import argparse
import platform

import jax
import netket as nk
import numpy as np
import optax
from interleaved_timing import time_in_turns

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import sr_solves, step_inputs


def build_state(model, system, n_samples):
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=16, d_max=2
    )
    return nk.vqs.MCState(
        sampler, model, n_samples=n_samples, chunk_size=n_samples, seed=0, sampler_seed=1
    )


def minsr_memory(driver):
    """Bytes XLA reserves (arguments + outputs + temporaries) for the Jacobian and
    for the minSR solve of ``driver``'s current step, each compiled alone."""
    vs = driver.state
    samples = vs.samples.reshape(-1, vs.hilbert.size)
    eloc = vs.local_estimators(driver._ham)
    eloc = getattr(eloc, "data", eloc).reshape(-1)
    kw = dict(mode=driver.mode, chunk_size=driver.chunk_size_bwd, collectives=driver.collectives)
    jac = step_inputs.jacobian_rows.lower(
        vs._apply_fun, vs.parameters, vs.model_state, samples, eloc, None, **kw
    ).compile()
    X, f = jax.eval_shape(
        lambda: step_inputs.jacobian_rows(
            vs._apply_fun, vs.parameters, vs.model_state, samples, eloc, None, **kw
        )
    )
    solve = sr_solves.solve_update.lower(
        X, f, 1e-3, None, None, use_ntk=True, collectives=driver.collectives
    ).compile()

    def total(compiled):
        m = compiled.memory_analysis()
        return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes

    return total(jac), total(solve), X.shape


def bench(name, model, n_samples, use_ntk, args, system):
    results = {}
    diag_shift = 1e-3
    opt = optax.sgd(0.02)
    drivers = {
        "ours": nfv.driver.VMC_SR(
            system.hamiltonian,
            opt,
            variational_state=build_state(model, system, n_samples),
            diag_shift=diag_shift,
            use_ntk=use_ntk,
        ),
        "netket": nk.driver.VMC_SR(
            system.hamiltonian,
            opt,
            variational_state=build_state(model, system, n_samples),
            diag_shift=diag_shift,
            use_ntk=use_ntk,
            on_the_fly=False,
        ),
    }
    if use_ntk:
        drivers["netket_onthefly"] = nk.driver.VMC_SR(
            system.hamiltonian,
            opt,
            variational_state=build_state(model, system, n_samples),
            diag_shift=diag_shift,
            use_ntk=True,
            on_the_fly=True,
        )
    n_params = drivers["ours"].state.n_parameters
    print(
        f"\n## {name}: P = {n_params}, M = {n_samples}, mode = {drivers['ours'].mode}, "
        f"{'minSR' if use_ntk else 'SR'}"
    )
    # Interleave the drivers, so that a change of machine load hits all of them.
    per_step, split = time_in_turns(drivers, steps=args.steps, warmup=args.warmup)
    for k, v in per_step.items():
        results[k] = float(np.median(v))
    print("| driver | median s / step | ratio to ours |")
    print("|---|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v:.3f} | {v / results['ours']:.2f} |")
    print("ours, median per phase (s): " + ", ".join(f"{p} {v:.3f}" for p, v in split.items()))
    if use_ntk:
        jac_bytes, solve_bytes, shape = minsr_memory(drivers["ours"])
        rows, P = shape
        estimate = rows * P * 8 + rows**2 * 8
        print(
            f"minSR memory (XLA: arguments + outputs + temporaries): Jacobian step "
            f"{jac_bytes / 2**20:.1f} MiB, solve step {solve_bytes / 2**20:.1f} MiB; "
            f"estimate 2M P 8 + (2M)^2 8 = {estimate / 2**20:.1f} MiB (2M = {rows}, P = {P})"
        )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per driver")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation)")
    args = parser.parse_args()
    print(
        f"jax {jax.__version__}, netket {nk.__version__}, {platform.processor() or 'cpu'}, "
        f"{jax.device_count()} device(s): {jax.devices()[0].platform}"
    )
    system = nfv.systems.j1j2(4, J2=0.5)
    # SR regime: 968 real parameters < 2M = 2048 rows.
    small = nfv.models.ViT(lattice_shape=(4, 4), patch_size=2, d_model=8, num_heads=2, num_layers=1)
    bench("SR regime, ViT d=8, 1 layer", small, 1024, False, args, system)
    # minSR regime: 6,208 real parameters > 2M = 1024 rows.
    vit = nfv.models.ViT(lattice_shape=(4, 4), patch_size=2, d_model=16, num_heads=2, num_layers=2)
    bench("minSR regime, ViT d=16, 2 layers", vit, 512, True, args, system)


if __name__ == "__main__":
    main()

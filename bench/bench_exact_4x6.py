"""The exact orbit-sum state on the largest lattice it accepts: 4x6 J1-J2 with Sz = 0.

Builds ``nfv.vqs.OrbitSumState`` for the ``small`` ViT projected on the rectangle's point
group (with the spin flip unless ``--no-spin-flip``), evaluates the energy once and times
``--steps`` steps of ``nfv.driver.VMC_SR`` (the first includes compilation); prints one
JSON line per stage and the peak memory of the process::

    .venv/bin/python bench/bench_exact_4x6.py --steps 2
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import jax
import optax

import netket_factored_vit as nfv


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="driver steps to time")
    parser.add_argument("--no-spin-flip", action="store_true", help="twice the orbits")
    args = parser.parse_args()

    system = nfv.systems.j1j2(4, J2=0.5, Ly=6)
    vit = nfv.models.vit_preset("small", lattice_shape=(4, 6))
    model = nfv.models.Symmetrized(model=vit, translations="none", spin_flip=not args.no_spin_flip)
    out = {"spin_flip": not args.no_spin_flip}
    t = time.perf_counter()
    state = nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)
    out.update(build_s=time.perf_counter() - t, orbits=state.n_orbits)
    out["group"] = len(state.symmetry_group)
    t = time.perf_counter()
    energy = state.expect(system.hamiltonian)
    out.update(first_expect_s=time.perf_counter() - t, energy=float(energy.mean.real))
    print(json.dumps(out), flush=True)
    driver = nfv.driver.VMC_SR(
        system.hamiltonian, optax.sgd(0.05), variational_state=state, diag_shift=1e-3,
        momentum=0.8,
    )  # fmt: skip
    out["minsr"] = driver.use_ntk
    for k in range(args.steps):
        t = time.perf_counter()
        driver.run(1, show_progress=False)
        jax.block_until_ready(state.parameters)
        out[f"step{k}_s"] = time.perf_counter() - t
        print(json.dumps(out), flush=True)
    out["max_rss_GiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

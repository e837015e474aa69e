"""The study's comparison in miniature: factored, T5 and decoupled attention at equal width,
heads and depth, trained the same way on the same system.

    python examples/compare_attentions.py --L 4 --steps 200

The command line does the same, resumably, with a table and a figure:
``nfv compare --n-iter 200 --out runs/compare``.
"""

import argparse
import time

import netket as nk
import optax

import netket_factored_vit as nfv

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--L", type=int, default=4, help="lattice side")
parser.add_argument("--J2", type=float, default=0.5, help="diagonal coupling (J1 = 1)")
parser.add_argument("--steps", type=int, default=100, help="optimisation steps")
parser.add_argument("--samples", type=int, default=512, help="samples per step")
parser.add_argument("--chains", type=int, default=16, help="Markov chains")
parser.add_argument("--d-model", type=int, default=16, help="width of the 'small' preset")
args = parser.parse_args()

system = nfv.systems.j1j2(args.L, J2=args.J2)
reference = nfv.systems.best_known_energy(system)
rows = []
for attention in ("factored", "t5", "decoupled"):
    model = nfv.models.vit_preset(
        "small", lattice_shape=system.lattice_shape, attention=attention, d_model=args.d_model
    )
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=args.chains
    )
    vstate = nk.vqs.MCState(sampler, model, n_samples=args.samples, seed=0, sampler_seed=1)
    driver = nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(0.05),
        variational_state=vstate,
        diag_shift=optax.exponential_decay(1e-2, args.steps, 0.1, end_value=1e-3),
        momentum=0.8,
        system=system,
    )
    t0 = time.perf_counter()
    driver.run(args.steps, show_progress=False)
    seconds = time.perf_counter() - t0
    e = driver.estimate(system.hamiltonian)  # over all ranks
    rows.append(
        (
            attention,
            model.num_parameters,
            e.mean.real / system.n_sites,
            e.error_of_mean / system.n_sites,
            seconds / args.steps,
        )
    )

if nfv.distributed.is_root():
    print(f"{system.name}, {args.steps} steps, reference E/N = {reference}")
    print("attention   parameters   E/N                 rel. error   s/step")
    for name, p, e, err, s in rows:
        rel = abs(e / reference - 1) if reference else float("nan")
        print(f"{name:10s}  {p:10,d}   {e:.6f} +- {err:.6f}   {rel:.2e}     {s:.2f}")

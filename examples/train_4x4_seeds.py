"""The 4x4 J1-J2 (J2 = 0.5) training of the driver test, over several seeds and settings.

Prints one JSON line per seed: the final relative error (judged on 4,096 fresh samples),
the wall time and the relative error every 10 steps. The tables in docs/driver.md come
from runs like

    python examples/train_4x4_seeds.py --seeds 0,1,2,3
    python examples/train_4x4_seeds.py --seeds 0,1,2,3 --project c4v --final-diag-shift 3e-3
"""

import argparse
import json
import time

import netket as nk
import numpy as np
import optax

import netket_factored_vit as nfv

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--seeds", default="0", help="comma-separated model seeds")
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--samples", type=int, default=512)
parser.add_argument("--chains", type=int, default=16)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--lr-end", type=float, default=None, help="cosine decay to this value")
parser.add_argument("--momentum", type=float, default=0.8)
parser.add_argument("--diag-shift", type=float, default=1e-2)
parser.add_argument("--final-diag-shift", type=float, default=1e-3)
parser.add_argument("--d-model", type=int, default=16)
parser.add_argument("--project", choices=("none", "c4v", "c4v+patch"), default="none")
args = parser.parse_args()

system = nfv.systems.j1j2(4, J2=0.5)
exact = nfv.systems.exact_energy(system)
for seed in (int(s) for s in args.seeds.split(",")):
    model = nfv.models.vit_preset("small", d_model=args.d_model)
    if args.project != "none":
        translations = "none" if args.project == "c4v" else "patch"
        model = nfv.models.Symmetrized(model=model, translations=translations)
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=args.chains, d_max=2
    )
    vstate = nk.vqs.MCState(
        sampler,
        model,
        n_samples=args.samples,
        chunk_size=args.samples,
        n_discard_per_chain=2,
        seed=seed,
        sampler_seed=seed + 1,
    )
    learning_rate = args.lr
    if args.lr_end is not None:
        learning_rate = optax.cosine_decay_schedule(args.lr, args.steps, args.lr_end / args.lr)
    ratio = args.final_diag_shift / args.diag_shift
    diag_shift = optax.exponential_decay(
        args.diag_shift, args.steps, ratio, end_value=args.final_diag_shift
    )
    driver = nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(learning_rate),
        variational_state=vstate,
        diag_shift=diag_shift,
        momentum=args.momentum,
        system=system,
    )
    log = nk.logging.RuntimeLog()
    t0 = time.perf_counter()
    driver.run(args.steps, out=log, show_progress=False)
    elapsed = time.perf_counter() - t0
    vstate.n_samples = 4096
    energy = vstate.expect(system.hamiltonian).mean.real / system.n_sites
    along = np.asarray(log.data["relative_error"].value)[9::10]
    print(
        json.dumps(
            {
                "seed": seed,
                "relative_error": float(abs((energy - exact) / exact)),
                "seconds": round(elapsed, 1),
                "every_10_steps": [float(f"{x:.3g}") for x in along],
                "settings": vars(args),
            }
        ),
        flush=True,
    )

"""One script for one process or many: train the small factored ViT on the 4x4 J1-J2 model.

    python examples/train_mpi.py                      # one process, into runs/train_mpi
    mpirun -np 2 python examples/train_mpi.py         # 2 ranks, 2 x 256 samples per step
    python examples/train_mpi.py --steps 120          # run it again: continues to step 120

Each rank samples ``--samples`` from its own chains (the driver re-seeds them per rank),
every rank applies the same update, and only rank 0 writes, into ``--out``: the log
``log.log`` and the checkpoint ``checkpoint``. Run it again to continue from the checkpoint
(on as many ranks as the first time). The command line does the same with more options:
``nfv run --help``.
"""

import argparse
from pathlib import Path

import netket_factored_vit as nfv  # before any JAX work: binds each rank to its GPU

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--out", default="runs/train_mpi", help="folder of the log and checkpoint")
parser.add_argument("--steps", type=int, default=60, help="total steps (a rerun continues)")
parser.add_argument("--samples", type=int, default=256, help="samples per step per rank")
parser.add_argument("--chains", type=int, default=16, help="Markov chains per rank")
parser.add_argument("--d-model", type=int, default=16, help="width of the 'small' preset")
args = parser.parse_args()

import netket as nk  # noqa: E402
import optax  # noqa: E402

out = Path(args.out)
system = nfv.systems.j1j2(4, J2=0.5)
model = nfv.models.vit_preset("small", d_model=args.d_model)
sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=args.chains)
# The same seed on every rank: identical parameters; the driver derives per-rank chains.
vstate = nk.vqs.MCState(sampler, model, n_samples=args.samples, n_discard_per_chain=4, seed=0)

driver = nfv.driver.VMC_SR(
    system.hamiltonian,
    optax.sgd(0.05),
    variational_state=vstate,
    diag_shift=1e-2,
    momentum=0.8,
    system=system,
    checkpoint_path=out / "checkpoint",
    checkpoint_every=20,
    resume=True,
)
# The log beside the checkpoint; `out` and the progress bar are ignored on ranks other than 0.
log = nk.logging.JsonLog(
    str(out / "log"), mode="append" if driver.step_count else "write", save_params=False
)
driver.run(max(args.steps - driver.step_count, 0), out=log)

# Statistics over the samples of every rank (a collective: every rank calls it).
energy = driver.estimate(system.hamiltonian).mean.real / system.n_sites
exact = nfv.systems.exact_energy(system)
if nfv.distributed.is_root():
    ranks = nfv.distributed.size()
    print(
        f"{ranks} rank(s), step {driver.step_count}: E/N = {energy:.6f}, exact {exact:.6f}, "
        f"relative error {abs(energy / exact - 1):.2e}"
    )

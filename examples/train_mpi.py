"""One script for one process or many: train the small factored ViT on the 4x4 J1-J2 model.

    python examples/train_mpi.py                 # one process
    mpirun -np 2 python examples/train_mpi.py    # 2 ranks, 2 x 256 samples per step

Each rank samples ``n_samples`` from its own chains (the driver re-seeds them
per rank), every rank applies the same update, and only rank 0 writes the log
``train_mpi.log`` and the checkpoint ``train_mpi.mpack``. Run it again to
continue from the checkpoint (on as many ranks as the first time).
"""

import netket as nk
import optax

import netket_factored_vit as nfv  # before any JAX work: binds each rank to its GPU

system = nfv.systems.j1j2(4, J2=0.5)
model = nfv.models.vit_preset("small")
sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=16)
# The same seed on every rank: identical parameters; the driver derives per-rank chains.
vstate = nk.vqs.MCState(sampler, model, n_samples=256, n_discard_per_chain=4, seed=0)

driver = nfv.driver.VMC_SR(
    system.hamiltonian,
    optax.sgd(0.05),
    variational_state=vstate,
    diag_shift=1e-2,
    momentum=0.8,
    system=system,
    checkpoint_path="train_mpi.mpack",
    checkpoint_every=20,
    resume=True,
)
# `out` and the progress bar are ignored on ranks other than 0.
driver.run(60, out="train_mpi")

# Statistics over the samples of every rank (a collective: every rank calls it).
energy = driver.estimate(system.hamiltonian).mean.real / system.n_sites
exact = nfv.systems.exact_energy(system)
if nfv.distributed.is_root():
    ranks = nfv.distributed.size()
    print(
        f"{ranks} rank(s), step {driver.step_count}: E/N = {energy:.6f}, exact {exact:.6f}, "
        f"relative error {abs(energy / exact - 1):.2e}"
    )

"""Train the small factored ViT on the 4x4 J1-J2 model at J2 = 0.5 and compare with exact
diagonalization.

    python examples/train_j1j2.py            # about 1 minute on a laptop CPU
    mpirun -np 2 python examples/train_j1j2.py
"""

import netket as nk
import optax

import netket_factored_vit as nfv

system = nfv.systems.j1j2(4, J2=0.5)
model = nfv.models.vit_preset("small", attention="factored")  # 6,208 parameters
sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=16)
vstate = nk.vqs.MCState(sampler, model, n_samples=512, n_discard_per_chain=4, seed=0)

driver = nfv.driver.VMC_SR(
    system.hamiltonian,
    optax.sgd(0.05),
    variational_state=vstate,
    diag_shift=optax.exponential_decay(1e-2, 100, 0.1, end_value=1e-3),
    momentum=0.8,
    system=system,
)
driver.run(100, out=nk.logging.JsonLog("j1j2_4x4"))

energy = driver.estimate(system.hamiltonian).mean.real / system.n_sites  # all ranks
exact = nfv.systems.exact_energy(system)
if nfv.distributed.is_root():
    print(f"E/N = {energy:.6f}, exact {exact:.6f}, relative error {abs(energy / exact - 1):.2e}")

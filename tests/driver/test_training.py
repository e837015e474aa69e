"""End to end: the small factored ViT learns the 4x4 J1-J2 ground state at J2 = 0.5.

Measured numbers and the runs behind these settings are in docs/driver.md.
"""

import time

import netket as nk
import numpy as np
import optax
import pytest

import netket_factored_vit as nfv

N_STEPS = 100
N_SAMPLES = 512
LEARNING_RATE = 0.05
MOMENTUM = 0.8


def small_factored_vit():
    # d = 16, 2 heads, 2 layers, 2x2 patches, factored attention: 6,208 parameters on 4x4
    return nfv.models.vit_preset("small")


CASES = [
    # Projected onto C4v (8 images per configuration): the target of 3e-2. Without the
    # projection the state keeps a d-wave (B1) admixture of the first excited state and
    # plateaus near 3e-2 (docs/driver.md), so the plain model only guards against regressions.
    pytest.param(
        lambda: nfv.models.Symmetrized(model=small_factored_vit(), translations="none"),
        3e-3,
        3e-2,
        id="c4v-projected",
    ),
    pytest.param(small_factored_vit, 1e-3, 5e-2, id="plain"),
]


@pytest.mark.slow
@pytest.mark.parametrize("make_model, final_diag_shift, target", CASES)
def test_small_factored_vit_learns_4x4_j1j2(make_model, final_diag_shift, target):
    system = nfv.systems.j1j2(4, J2=0.5)
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=16, d_max=2
    )
    vs = nk.vqs.MCState(
        sampler,
        make_model(),
        n_samples=N_SAMPLES,
        chunk_size=N_SAMPLES,
        n_discard_per_chain=2,
        seed=0,
        sampler_seed=1,
    )
    assert vs.n_parameters == 6208
    diag_shift = optax.exponential_decay(
        1e-2, N_STEPS, final_diag_shift / 1e-2, end_value=final_diag_shift
    )
    driver = nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(LEARNING_RATE),
        variational_state=vs,
        diag_shift=diag_shift,
        momentum=MOMENTUM,
        system=system,
    )
    assert driver.use_ntk  # 6,208 parameters > 2M = 1,024 rows
    log = nk.logging.RuntimeLog()
    t0 = time.perf_counter()
    driver.run(N_STEPS, out=log, show_progress=False)
    elapsed = time.perf_counter() - t0

    # Judge the final state on fresh, more numerous samples, not on the noisy last step.
    vs.n_samples = 4096
    energy = vs.expect(system.hamiltonian).mean.real / system.n_sites
    exact = nfv.systems.exact_energy(system)
    rel_error = abs((energy - exact) / exact)
    last = np.asarray(log.data["relative_error"].value[-10:])
    print(
        f"{N_STEPS} steps in {elapsed:.0f} s: relative error {rel_error:.2e} "
        f"(mean of the last 10 steps {last.mean():.2e}); every 10 steps: "
        + " ".join(f"{x:.2e}" for x in log.data["relative_error"].value[9::10])
    )
    assert rel_error < target

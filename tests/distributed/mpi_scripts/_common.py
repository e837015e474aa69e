"""Shared by the scripts that tests/distributed runs under mpirun."""

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def out_dir() -> Path:
    return Path(sys.argv[1])


def write(rank: int, result: dict) -> None:
    """Write this rank's result where the test reads it."""
    path = out_dir() / f"rank{rank}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)


def split_complex(a) -> dict:
    """A complex array as JSON: its real and imaginary parts as nested lists."""
    import numpy as np

    a = np.asarray(a)
    return {"re": a.real.tolist(), "im": a.imag.tolist()}


def flat(tree):
    """A pytree of arrays as one flat numpy array."""
    import numpy as np
    from jax.flatten_util import ravel_pytree

    return np.asarray(ravel_pytree(tree)[0])


def digest(tree) -> str:
    """A hash of the exact bytes of a pytree of arrays."""
    import hashlib

    return hashlib.blake2b(flat(tree).tobytes(), digest_size=16).hexdigest()


def small_driver(
    *,
    complex_logpsi=False,
    n_chains=4,
    n_samples=32,
    seed=1,
    sampler_seed=2,
    collectives=None,
    **kwargs,
):
    """A 4x4 J1-J2 RBM driver small enough for a test under mpirun on 2 cores."""
    import netket as nk
    import optax

    import netket_factored_vit as nfv

    system = nfv.systems.j1j2(4, J2=0.5)
    sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=n_chains)
    model = nk.models.RBMModPhase(alpha=1) if complex_logpsi else nk.models.RBM(alpha=1)
    vs = nk.vqs.MCState(
        sampler,
        model,
        n_samples=n_samples,
        seed=seed,
        sampler_seed=sampler_seed,
        n_discard_per_chain=2,
    )
    kwargs.setdefault("diag_shift", 1e-3)
    optimizer = kwargs.pop("optimizer", optax.sgd(0.02))
    return nfv.driver.VMC_SR(
        system.hamiltonian,
        optimizer,
        variational_state=vs,
        system=system,
        collectives=collectives,
        **kwargs,
    )

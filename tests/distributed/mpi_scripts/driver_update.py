"""The driver on 2 ranks vs one process on the concatenated samples.

Every rank draws the same global set of samples, keeps its own chains and runs
the distributed driver; it also runs a single-process driver on all the chains
and reports the largest differences of the updates and the energy statistics.
Also reports what the construction does to parameters and chains, and the
largest array of the distributed minSR solve.
"""

from functools import partial

import _common
import jax
import jax.numpy as jnp
import numpy as np

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import sr_solves as la

coll = nfv.distributed.get_collectives(require_mpi=True)
r, R = coll.rank, coll.size
N_CHAINS, LENGTH = 4, 8  # per rank

result = {}


def stats_dict(stats):
    return {k: complex(getattr(stats, k)) for k in ("mean", "error_of_mean", "variance", "R_hat")}


CASES = [
    # Every form of the algebra is checked on 2 ranks in test_mpi_algebra.py; here
    # the driver's plumbing: real and complex rows, both solves, the SPRING buffer.
    ("real/sr", dict(use_ntk=False)),
    ("complex/minsr/spring", dict(complex_logpsi=True, use_ntk=True, momentum=0.7)),
]
for name, kw in CASES:
    ref = _common.small_driver(
        n_chains=R * N_CHAINS,
        n_samples=R * N_CHAINS * LENGTH,
        collectives=nfv.distributed.LOCAL,
        **kw,
    )
    samples = coll.bcast(ref.state.sample())  # the global set, identical on every rank
    dist = _common.small_driver(n_chains=N_CHAINS, n_samples=N_CHAINS * LENGTH, **kw)
    ref.state._samples = samples
    dist.state._samples = samples[r * N_CHAINS : (r + 1) * N_CHAINS]
    diffs = {"update": 0.0, "stats": 0.0}
    # Twice with momentum: the second call uses the SPRING buffer.
    for _ in range(2 if "momentum" in kw else 1):
        ref_stats, ref_dp = ref.compute_loss_and_update()
        stats, dp = dist.compute_loss_and_update()
        a, b = _common.flat(dp), _common.flat(ref_dp)
        diffs["update"] = max(diffs["update"], float(np.abs(a - b).max()))
        diffs["scale"] = float(np.abs(b).max())
        s, t = stats_dict(stats), stats_dict(ref_stats)
        diffs["stats"] = max(diffs["stats"], max(abs(s[k] - t[k]) for k in s))
    diffs["n_rows"] = dist.n_real_rows
    diffs["ref_n_rows"] = ref.n_real_rows
    diffs["energy_error"] = float(np.real(ref_stats.error_of_mean))
    result[name] = diffs

# Observables through the driver: statistics over the samples of all ranks.
est = dist.estimate(dist._ham)
ref_est = ref.estimate(ref._ham)
result["estimate"] = abs(complex(est.mean) - complex(ref_est.mean))

# Construction: parameters initialised differently on each rank become rank 0's;
# each rank gets its own chains.
seeded = _common.small_driver(seed=10 + r, sampler_seed=20 + r)
rank0_init = _common.small_driver(seed=10, collectives=nfv.distributed.LOCAL)
result["params_digest"] = _common.digest(seeded.state.parameters)
result["params_are_rank0_init"] = bool(
    np.array_equal(_common.flat(seeded.state.parameters), _common.flat(rank0_init.state.parameters))
)
sigma = np.asarray(seeded.state.sampler_state.σ)
result["chains"] = sigma.tolist()
result["samples_digest"] = _common.digest(seeded.state.sample())

# minSR never holds the whole Jacobian: the largest array in the distributed
# solve is a column block (2M x P/R) or the kernel (2M x 2M).
m, P = 2 * N_CHAINS * LENGTH, 4 * 16 + 4 * 16 * 16  # local rows, real parameters (large P)
X = jnp.ones((m, P))
f = jnp.ones(m)
jaxpr = jax.make_jaxpr(partial(la.minsr_update, diag_shift=1e-3, collectives=coll))(X, f)


def sizes(jaxpr):
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            yield int(np.prod(v.aval.shape))
        for p in eqn.params.values():
            for sub in p if isinstance(p, tuple | list) else (p,):
                inner = getattr(sub, "jaxpr", sub)
                if isinstance(inner, jax.extend.core.Jaxpr):
                    yield from sizes(inner)


result["minsr_memory"] = {
    "largest": max(sizes(jaxpr.jaxpr)),
    "full_jacobian": R * m * P,
    "column_block": R * m * (-(-P // R)),
    "kernel": (R * m) ** 2,
}
_common.write(r, result)

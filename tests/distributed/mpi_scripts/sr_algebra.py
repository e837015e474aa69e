"""SR and minSR on samples split over the ranks vs one process on all of them.

Every rank draws the same global Jacobian and local energies, keeps its own
contiguous block of samples and runs the distributed algebra; it also runs the
single-process algebra on the concatenated samples and reports the largest
difference.
"""

import _common
import jax
import jax.numpy as jnp
import numpy as np

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import sr_solves as la

coll = nfv.distributed.get_collectives(require_mpi=True)
r, R = coll.rank, coll.size
M_LOCAL, P = 6, 13  # P not a multiple of R: the column split pads

rng = np.random.default_rng(0)
jac = rng.normal(size=(R * M_LOCAL, 2, P))  # (Re, Im) of d log psi / d theta
e_loc = rng.normal(size=R * M_LOCAL) + 1j * rng.normal(size=R * M_LOCAL)
old = rng.normal(size=P)
mine = slice(r * M_LOCAL, (r + 1) * M_LOCAL)
centre_and_scale = jax.jit(la.centre_and_scale, static_argnames=("mode", "collectives"))

result = {}
for mode in ("complex", "real"):
    jac_m = jac if mode == "complex" else jac[:, 0, :]
    e_m = e_loc if mode == "complex" else e_loc.real
    X_all, f_all, e_all = centre_and_scale(jnp.asarray(jac_m), jnp.asarray(e_m), mode=mode)
    X, f, e_mean = centre_and_scale(
        jnp.asarray(jac_m[mine]), jnp.asarray(e_m[mine]), mode=mode, collectives=coll
    )
    result[f"{mode}/mean_energy"] = float(jnp.abs(e_mean - e_all))
    result[f"{mode}/gradient"] = float(
        jnp.max(jnp.abs(la.energy_gradient(X, f, collectives=coll) - X_all.T @ f_all))
    )
    for use_ntk in (True, False):
        # Momentum only with the complex mode: the real mode adds no new code path.
        for momentum in (None, 0.7) if mode == "complex" else (None,):
            kwargs = dict(use_ntk=use_ntk)
            args = (1e-3, momentum, jnp.asarray(old) if momentum is not None else None)
            ref, ref_old, _ = la.solve_update(X_all, f_all, *args, **kwargs)
            dist, dist_old, _ = la.solve_update(X, f, *args, **kwargs, collectives=coll)
            name = f"{mode}/{'minsr' if use_ntk else 'sr'}/momentum={momentum}"
            result[name] = float(jnp.max(jnp.abs(dist - ref)))
            result[name + "/scale"] = float(jnp.max(jnp.abs(ref)))

_common.write(r, result)

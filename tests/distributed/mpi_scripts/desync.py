"""Ranks that disagree: settings at construction, parameters during a run."""

import _common
import jax
import jax.numpy as jnp

import netket_factored_vit as nfv

r = nfv.distributed.rank()
result = {}


def error_of(fun):
    try:
        fun()
    except nfv.distributed.RankMismatchError as err:
        return str(err)
    return None


result["diag_shift"] = error_of(lambda: _common.small_driver(diag_shift=1e-3 * (1 + r)))
result["n_samples"] = error_of(lambda: _common.small_driver(n_samples=32 * (1 + r)))

driver = _common.small_driver(check_every=2)


def nudge_rank_1(step, log_data, drv):
    # One ulp on one leaf of rank 1 after the first step: a silent divergence.
    if step == 0 and r == 1:
        leaves, tree = jax.tree.flatten(drv.state.parameters)
        leaves[0] = leaves[0].at[0].set(jnp.nextafter(leaves[0][0], jnp.inf))
        drv.state.parameters = jax.tree.unflatten(tree, leaves)
    return True


result["run"] = error_of(lambda: driver.run(5, callback=nudge_rank_1, show_progress=False))
result["stopped_at_step"] = driver.step_count
_common.write(r, result)

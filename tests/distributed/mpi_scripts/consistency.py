"""Rank 1 deliberately out of step: check_consistency must name it and what differs."""

import _common
import jax.numpy as jnp

import netket_factored_vit as nfv

coll = nfv.distributed.get_collectives(require_mpi=True)
r = coll.rank


def params(shift=0.0):
    return {
        "params": {
            "Dense_0": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)},
            "Dense_1": {"kernel": jnp.full((2, 2), 0.5) + shift, "bias": jnp.zeros(2)},
        }
    }


config = {"L": 4, "J2": 0.5, "n_samples": 512, "model": "factored", "seed": 1, "chunk": None}


def check(tree, what):
    try:
        nfv.distributed.check_consistency(tree, coll, what=what)
        return None
    except nfv.distributed.RankMismatchError as err:
        return str(err)


# One ulp on one leaf of rank 1 only.
desync = jnp.nextafter(jnp.float64(0.5), jnp.float64(1.0)) - 0.5 if r == 1 else 0.0
bad_config = dict(config, J2=0.6) if r == 1 else config
short_config = {k: v for k, v in config.items() if k != "seed"} if r == 1 else config

_common.write(
    r,
    {
        "same_params": check(params(), "parameters"),
        "same_config": check(dict(config), "configuration"),
        "desync_params": check(params(desync), "parameters"),
        "different_field": check(bad_config, "configuration"),
        "missing_field": check(short_config, "configuration"),
    },
)

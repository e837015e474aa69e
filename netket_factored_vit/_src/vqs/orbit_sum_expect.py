r"""Expectation values and forces of an :class:`.OrbitSumState`, registered with NetKet's
dispatch so that ``vstate.expect``, ``vstate.expect_and_grad`` and NetKet's drivers use
the sum over orbits.

With :math:`p_r` the orbit probabilities and :math:`\bar O_\mathrm{loc}` the
orbit-averaged local estimator (see :mod:`.orbits`), the forces are

.. math::

    F_k = \sum_r p_r\, \bigl(\bar O_\mathrm{loc}(r) - \langle O\rangle\bigr)^*\,
        \partial_{\theta_k}\log\psi(r),

as :class:`netket.vqs.FullSumState` computes them over the whole basis;
:func:`netket.vqs.expect_and_grad` turns them into the gradient.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax.core.scope import CollectionFilter
from netket import jax as nkjax
from netket.operator import DiscreteOperator
from netket.stats import Stats
from netket.vqs import expect, expect_and_forces

from netket_factored_vit._src.vqs.orbit_sum_state import OrbitSumState


@expect.dispatch
def expect_orbit_sum(vstate: OrbitSumState, operator: DiscreteOperator) -> Stats:  # noqa: F811
    return vstate.local_estimators_and_stats(operator)[1]


@expect_and_forces.dispatch
def expect_and_forces_orbit_sum(
    vstate: OrbitSumState,
    operator: DiscreteOperator,
    *,
    mutable: CollectionFilter = False,
):
    local, stats = vstate.local_estimators_and_stats(operator)
    forces = _forces(
        vstate._apply_fun,
        vstate.parameters,
        vstate.model_state,
        vstate.representatives,
        vstate.orbit_probabilities(),
        local,
        stats.mean,
    )
    return stats, forces


@partial(jax.jit, static_argnums=0)
def _forces(apply_fun, parameters, model_state, representatives, p, local, mean):
    _, vjp_fun = nkjax.vjp(
        lambda w: apply_fun({"params": w, **model_state}, representatives),
        parameters,
        conjugate=True,
    )
    return vjp_fun(p * jnp.conj(local - mean))[0]

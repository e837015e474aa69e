"""Non-finite steps: the driver never applies, nor checkpoints, non-finite parameters.

After the update is computed, the driver asks the optimizer for the new
parameters before applying them (:meth:`NonFiniteGuardMixin._accept_step`); a
non-finite energy, update or new parameters rejects the step, which NetKet's
``run`` loop retries (new samples, a diag shift ``retry_factor`` times larger,
the SPRING buffer of the step's start) up to ``max_retries`` times before
:class:`NonFiniteUpdateError` stops the run.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree


class NonFiniteUpdateError(FloatingPointError):
    """Raised when a step stays non-finite (energy, update or new parameters) after
    every retry; the step is not applied."""


@partial(jax.jit, static_argnums=0)
def optimizer_step(update_fun, dp, optimizer_state, parameters):
    """The optimizer's new state and the new parameters, and whether they are finite."""
    updates, new_state = update_fun(dp, optimizer_state, parameters)
    new_parameters = optax.apply_updates(parameters, updates)
    finite = jnp.all(jnp.isfinite(ravel_pytree(new_parameters)[0]))
    return new_state, new_parameters, finite


def injected_learning_rate(optimizer_state) -> float | None:
    """The learning rate of an :func:`optax.inject_hyperparams` optimizer (searched in
    chains too), as used by the update that produced ``optimizer_state``."""
    for node in jax.tree.leaves(
        optimizer_state, is_leaf=lambda x: isinstance(getattr(x, "hyperparams", None), dict)
    ):
        hyper = getattr(node, "hyperparams", None)
        if isinstance(hyper, dict) and "learning_rate" in hyper:
            return float(hyper["learning_rate"])
    return None


class NonFiniteGuardMixin:
    """The driver's acceptance test and parameter update; the driver provides the
    optimizer, the state, ``_last`` (what the step measured) and the retry settings."""

    def _optimizer_result(self, dp):
        """(new optimizer state, new parameters, finite) for ``dp``, computed once."""
        # Recomputed when a callback replaced the parameters after the check.
        params = self.state.parameters
        if self._pending is None or self._pending[0] is not dp or self._pending[1] is not params:
            result = optimizer_step(
                self._optimizer.update, dp, self._optimizer_state, self.state.parameters
            )
            self._pending = (dp, params, *result[:2], bool(result[2]))
        return self._pending[2:]

    def _accept_step(self) -> bool:
        if self._last is None:
            return True
        if not self._last["finite"]:
            what = f"the energy ({self._loss_stats.mean}) or the update is not finite"
        elif not self._optimizer_result(self._dp)[2]:
            what = "the optimizer turned the update into non-finite parameters"
        else:
            return True
        if self._step_attempt < self._max_retries:
            if self.is_root:
                print(
                    f"Step {self.step_count}: {what} (diag_shift="
                    f"{self._last['diag_shift']:.3g}); retrying with new samples and diag_shift "
                    f"x {self._retry_factor:g} (retry {self._step_attempt + 1}/"
                    f"{self._max_retries})."
                )
            return False
        raise NonFiniteUpdateError(
            f"Step {self.step_count}: {what} after {self._max_retries} retries with diag_shift "
            f"up to {self._last['diag_shift']:.3g} (update norm {self._last['update_norm']}); "
            f"the step was not applied and the parameters are those of step {self.step_count}."
            + self._checkpoint_note()
        )

    def _checkpoint_note(self) -> str:
        if self._last_checkpoint_step is None:
            return ""
        return (
            f" The checkpoint {self._checkpoint_path} holds the finite parameters of step "
            f"{self._last_checkpoint_step}."
        )

    def update_parameters(self, dp):
        """Apply ``dp`` through the optimizer; never applies non-finite parameters.

        Raises:
            NonFiniteUpdateError: the new parameters would not be finite.
        """
        new_state, new_parameters, finite = self._optimizer_result(dp)
        if not finite:
            raise NonFiniteUpdateError(
                f"Step {self.step_count}: the optimizer turned the update into non-finite "
                "parameters; they were not applied." + self._checkpoint_note()
            )
        self._optimizer_state = new_state
        self.state.parameters = new_parameters

r"""The SR / minSR driver: a drop-in replacement for :class:`netket.driver.VMC_SR`.

The class only orchestrates one step (sample, local energies, Jacobian, solve),
logging and checkpoints; the algebra lives in :mod:`.linear_algebra` and every
reduction over samples goes through the ``collectives`` object it is given.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from jax.flatten_util import ravel_pytree
from netket import jax as nkjax, stats as nkstats
from netket._src.callbacks.base import AbstractCallback
from netket._src.driver.abstract_optimization_driver import AbstractOptimizationDriver
from netket.operator import AbstractOperator
from netket.operator._abstract_observable import AbstractObservable
from netket.utils import struct
from netket.utils.types import Optimizer, PyTree, ScalarOrSchedule
from netket.vqs import FullSumState, MCState

from netket_factored_vit._src.distributed.collectives import Collectives
from netket_factored_vit._src.distributed.mpi import check_consistency, get_collectives, rank_seed
from netket_factored_vit._src.driver import checkpoint as ckpt
from netket_factored_vit._src.driver.linear_algebra import (
    cholesky_with_fallback,
    prepare_input,
    solve_update,
)
from netket_factored_vit._src.systems.references import best_known_energy


class NonFiniteUpdateError(FloatingPointError):
    """Raised when the energy or the update stays non-finite after every retry."""


@partial(jax.jit, static_argnames=("apply_fun", "mode", "chunk_size", "collectives"))
def _jacobian_rows(
    apply_fun,
    parameters,
    model_state,
    samples,
    local_energies,
    weights,
    *,
    mode: str,
    chunk_size: int | None,
    collectives: Collectives,
):
    """Stacked, centred and scaled Jacobian rows ``X`` and right-hand side ``f``."""
    jacobian = nkjax.jacobian(
        apply_fun,
        parameters,
        samples,
        model_state,
        mode=mode,
        dense=True,
        center=False,
        chunk_size=chunk_size,
    )
    X, f, _ = prepare_input(
        jacobian, local_energies, mode=mode, weights=weights, collectives=collectives
    )
    return X, f


@partial(jax.jit, static_argnums=0)
def _optimizer_update(update_fun, dp, optimizer_state, parameters):
    updates, new_state = update_fun(dp, optimizer_state, parameters)
    dot = lambda a, b: sum(  # noqa: E731
        jnp.vdot(x, y).real for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    # optax subtracts the learning rate times `dp`: -<u, dp> / <dp, dp> is that rate for sgd.
    learning_rate = -dot(updates, dp) / dot(dp, dp)
    return updates, new_state, learning_rate


_apply_updates = jax.jit(optax.apply_updates)


def _value_at(value, step: int):
    return value(step) if callable(value) else value


def _check_diag_shift(value, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"diag_shift{where} must be a positive finite number or an optax schedule, "
            f"got {value!r}."
        ) from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"diag_shift{where} must be positive and finite, got {v!r}.")
    return v


def _check_momentum(value, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"momentum{where} must be a number in [0, 1), a schedule, or None; got {value!r}."
        ) from None
    if not (0.0 <= v < 1.0):
        raise ValueError(f"momentum{where} must be in [0, 1), got {v!r}.")
    return v


class _CheckpointCallback(AbstractCallback, mutable=True):
    """Saves the driver every ``every`` steps and when a run ends without error."""

    every: int | None = struct.field(pytree_node=False, serialize=False, default=None)

    def __init__(self, every: int | None):
        self.every = every

    def on_step_end(self, step, log_data, driver):
        # `step` is the step that just ran; the driver will continue from step + 1.
        if self.every is not None and (step + 1) % self.every == 0:
            driver.save_checkpoint(step=step + 1)

    def on_run_end(self, step, driver):
        if driver._last_checkpoint_step != driver.step_count:
            driver.save_checkpoint()


class _ConsistencyCallback(AbstractCallback, mutable=True):
    """Checks that every rank holds the same parameters at the start of a run and
    every ``every`` steps."""

    every: int | None = struct.field(pytree_node=False, serialize=False, default=50)

    def __init__(self, every: int | None):
        self.every = every

    def on_run_start(self, step, driver):
        driver.check_ranks_agree()

    def on_step_end(self, step, log_data, driver):
        # Called after the update of step `step`: the parameters are those of step + 1.
        if self.every is not None and (step + 1) % self.every == 0:
            driver.check_ranks_agree(step=step + 1)


class VMC_SR(AbstractOptimizationDriver):
    r"""Energy minimisation by VMC with stochastic reconfiguration (SR) or minSR.

    A drop-in replacement for :class:`netket.driver.VMC_SR`: same keywords where
    the meaning is the same, same update on the same samples, and the same
    ``run(n_iter, out=..., obs=..., callback=..., show_progress=...)`` loop with
    NetKet's loggers and callbacks. On top of it: automatic choice between the
    two forms by the size of the matrices, a Cholesky solve with an
    eigendecomposition fallback, detailed per-step logging, checkpoints that
    resume a trajectory bit for bit, retries of non-finite steps, and a
    ``collectives`` hook through which every reduction over samples passes.

    With the stacked, centred Jacobian :math:`X` (:math:`N_r \times N_p` real
    rows: :math:`N_r = M` for a real :math:`\log\psi`, :math:`2M` for a complex
    one) and the centred local energies :math:`f`
    (see :mod:`~netket_factored_vit._src.driver.linear_algebra`):

    .. math::

        \delta = (X^T X + \lambda I_{N_p})^{-1} X^T f
               = X^T (X X^T + \lambda I_{N_r})^{-1} f .

    The first form (SR) solves an :math:`N_p \times N_p` system, the second
    (minSR, the kernel trick) an :math:`N_r \times N_r` one; ``use_ntk=None``
    picks minSR when :math:`N_p > N_r`. :math:`\delta` is handed to the optax
    optimizer, which should be :func:`optax.sgd`.

    With ``momentum`` :math:`\mu` the driver runs SPRING (Goldshlager et al. 2024):
    :math:`\delta = \mu\,\delta_\mathrm{old} + X^T (X X^T + \lambda)^{-1}
    (f - \mu X \delta_\mathrm{old})`.

    Checkpoints: with ``checkpoint_path`` and ``checkpoint_every`` the driver writes
    its full state (parameters, optimizer state, SPRING buffer, step count,
    sampler chains and random keys) every ``checkpoint_every`` steps and at the
    end of every ``run``. :meth:`load_checkpoint` (or ``resume=True``) restores
    it into a driver built the same way, and the run continues exactly as if it
    had not been interrupted.

    MPI: the same script runs on :math:`R` ranks under ``mpirun -np R`` unchanged.
    Each rank samples ``variational_state.n_samples`` samples from its own chains
    (the total is :math:`M = R \times` ``n_samples``), and every reduction over
    samples (energy statistics, gradient, SR matrix, minSR kernel) runs over all
    ranks. At construction the driver checks that every rank was built with the
    same settings, broadcasts rank 0's parameters and re-seeds each rank's sampler
    with :func:`~netket_factored_vit.distributed.rank_seed`; afterwards it checks
    every ``check_every`` steps, at the start of every ``run`` and on resume that
    the ranks still hold bit-identical parameters. Only rank 0 writes logs and
    checkpoints and draws the progress bar; every rank must call the driver's
    methods in the same order. With :math:`R = 1` (or without ``mpirun``) nothing
    of this happens and the driver is the single-process one.
    """

    _ham: AbstractOperator = struct.field(pytree_node=False, serialize=False)
    diag_shift: ScalarOrSchedule = struct.field(pytree_node=False, serialize=False)
    """The diag shift :math:`\\lambda`: a positive number or a schedule of the step."""
    momentum: ScalarOrSchedule | None = struct.field(pytree_node=False, serialize=False)
    """SPRING momentum :math:`\\mu \\in [0, 1)` (a number or a schedule), or None."""
    _use_ntk: bool = struct.field(pytree_node=False, serialize=False)
    _mode: str = struct.field(pytree_node=False, serialize=False)
    _chunk_size_bwd: int | None = struct.field(pytree_node=False, serialize=False)
    _linear_solver: Any = struct.field(pytree_node=False, serialize=False)
    _collectives: Collectives = struct.field(pytree_node=False, serialize=False)
    _check_every: int | None = struct.field(pytree_node=False, serialize=False, default=50)
    _settings: dict = struct.field(pytree_node=False, serialize=False, default=None)
    _system: Any = struct.field(pytree_node=False, serialize=False)
    _reference_energy: float | None = struct.field(pytree_node=False, serialize=False)
    _complex_parameters: bool = struct.field(pytree_node=False, serialize=False)
    _unravel: Any = struct.field(pytree_node=False, serialize=False)
    _old_updates: PyTree = struct.field(pytree_node=False, serialize=False, default=None)
    _checkpoint_path: Path | None = struct.field(pytree_node=False, serialize=False)
    _checkpoint_every: int | None = struct.field(pytree_node=False, serialize=False)
    _last_checkpoint_step: int | None = struct.field(
        pytree_node=False, serialize=False, default=None
    )
    _max_retries: int = struct.field(pytree_node=False, serialize=False, default=3)
    _retry_factor: float = struct.field(pytree_node=False, serialize=False, default=10.0)
    _header: dict = struct.field(pytree_node=False, serialize=False, default=None)
    # What the last call to compute_loss_and_update measured, for logging.
    _last: dict = struct.field(pytree_node=False, serialize=False, default=None)
    _pending: Any = struct.field(pytree_node=False, serialize=False, default=None)

    def __init__(
        self,
        hamiltonian: AbstractOperator,
        optimizer: Optimizer,
        *,
        variational_state: MCState | FullSumState,
        diag_shift: ScalarOrSchedule,
        use_ntk: bool | None = None,
        momentum: ScalarOrSchedule | None = None,
        chunk_size_bwd: int | None = None,
        linear_solver: Callable = cholesky_with_fallback,
        mode: str | None = None,
        system: Any = None,
        collectives: Collectives | None = None,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int | None = None,
        resume: bool = False,
        max_retries: int = 3,
        retry_factor: float = 10.0,
        check_every: int | None = 50,
    ):
        r"""Build the driver.

        Args:
            hamiltonian: The Hamiltonian; its Hilbert space must be the state's.
            optimizer: An optax optimizer, normally :func:`optax.sgd` (its learning
                rate may be an optax schedule).
            variational_state: An :class:`~netket.vqs.MCState`, or a
                :class:`~netket.vqs.FullSumState` for exact sums on tiny systems.
            diag_shift: The diag shift :math:`\lambda > 0`, a number or an optax schedule.
            use_ntk: ``True`` for minSR (sample space), ``False`` for SR (parameter
                space), ``None`` to pick minSR when the real parameters outnumber the
                real rows of the Jacobian (:math:`M`, or :math:`2M` for complex
                :math:`\log\psi`).
            momentum: SPRING momentum in :math:`[0, 1)` (number or schedule), or None.
            chunk_size_bwd: Samples per chunk of the Jacobian; defaults to the state's
                ``chunk_size``.
            linear_solver: ``solver(A, b)`` returning ``x`` or ``(x, info)``; the default
                is a Cholesky solve with an eigendecomposition fallback, logged as
                ``solver_fallback``. NetKet's solvers work too.
            mode: ``"real"`` or ``"complex"`` Jacobian; by default from the model's output.
            system: Optional :mod:`netket_factored_vit.systems` object; enables the logging
                of the energy per site and of the relative error to its exact (small
                lattices) or published reference energy. Its Hamiltonian must be
                ``hamiltonian``.
            collectives: Cross-rank reductions. ``None`` (the default) takes
                :func:`~netket_factored_vit.distributed.get_collectives`: MPI ones under
                ``mpirun`` with more than one rank, else
                :data:`~netket_factored_vit.distributed.LOCAL` (single process), so one
                script runs both ways. Pass ``LOCAL`` to keep a rank on its own.
            checkpoint_path: File the checkpoints are written to.
            checkpoint_every: Write a checkpoint every this many steps (and at the end of
                every run); None writes only at the end of runs, if a path is given.
            resume: Load ``checkpoint_path`` now if it exists.
            max_retries: How many times a step with a non-finite energy or update is
                retried (with new samples and a diag shift ``retry_factor`` times larger
                each time) before :class:`NonFiniteUpdateError` stops the run.
            retry_factor: Factor applied to the diag shift at each retry.
            check_every: With several ranks, check every this many steps that all ranks
                hold bit-identical parameters and optimizer states (one hash of the
                parameters and a 16-byte all-gather); ``None`` checks only at construction,
                at the start of each ``run`` and on resume. A mismatch raises
                :class:`~netket_factored_vit.distributed.RankMismatchError` on every rank.

        Raises:
            ImportError: Launched by ``mpirun`` on several ranks (or ``collectives`` asked
                for MPI) without mpi4py / mpi4jax; the message gives the install command.
            RankMismatchError: With several ranks, the ranks were built with different
                settings (model, Hamiltonian, sampler, samples, diag shift, optimizer...);
                the message names the ranks and the fields.
        """
        if hamiltonian.hilbert != variational_state.hilbert:
            raise ValueError(
                f"The Hamiltonian acts on {hamiltonian.hilbert}, but the variational state "
                f"lives in {variational_state.hilbert}; they must be the same Hilbert space."
            )
        _check_diag_shift(_value_at(diag_shift, 0), " (at step 0)" if callable(diag_shift) else "")
        if momentum is not None:
            _check_momentum(_value_at(momentum, 0), " (at step 0)" if callable(momentum) else "")
        if chunk_size_bwd is not None and (
            not isinstance(chunk_size_bwd, int) or chunk_size_bwd <= 0
        ):
            raise ValueError(
                f"chunk_size_bwd must be a positive integer or None, got {chunk_size_bwd!r}."
            )
        if mode not in (None, "real", "complex"):
            raise ValueError(f"mode must be 'real', 'complex' or None, got {mode!r}.")
        if checkpoint_every is not None and (
            not isinstance(checkpoint_every, int) or checkpoint_every <= 0
        ):
            raise ValueError(
                f"checkpoint_every must be a positive integer or None, got {checkpoint_every!r}."
            )
        if checkpoint_every is not None and checkpoint_path is None:
            raise ValueError("checkpoint_every needs a checkpoint_path to write to.")
        if resume and checkpoint_path is None:
            raise ValueError("resume=True needs a checkpoint_path to read from.")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}.")
        if not retry_factor > 1:
            raise ValueError(f"retry_factor must be larger than 1, got {retry_factor!r}.")
        if check_every is not None and (
            isinstance(check_every, bool) or not isinstance(check_every, int) or check_every <= 0
        ):
            raise ValueError(
                f"check_every must be a positive integer or None, got {check_every!r}."
            )
        if system is not None:
            if system.hilbert != variational_state.hilbert:
                raise ValueError(
                    f"system {system.name} lives in {system.hilbert}, but the variational "
                    f"state lives in {variational_state.hilbert}."
                )
            if system.hamiltonian is not hamiltonian and ckpt.operator_fingerprint(
                system.hamiltonian
            ) != ckpt.operator_fingerprint(hamiltonian):
                raise ValueError(
                    f"hamiltonian is not the Hamiltonian of system {system.name} (their matrix "
                    f"elements differ); pass system.hamiltonian, which is in S.S units."
                )
        if collectives is None:
            collectives = get_collectives()
        if not isinstance(collectives, Collectives):
            raise ValueError(
                f"collectives must be a netket_factored_vit.distributed.Collectives or None, "
                f"got {collectives!r}."
            )
        if isinstance(variational_state, FullSumState) and collectives.size > 1:
            raise ValueError("A FullSumState cannot be split over several ranks.")

        super().__init__(variational_state, optimizer, minimized_quantity_name="Energy")

        self._collectives = collectives
        params = self.state.parameters
        leaves = jax.tree.leaves(params)
        self._complex_parameters = any(jnp.iscomplexobj(x) for x in leaves)
        if self._complex_parameters and not all(jnp.iscomplexobj(x) for x in leaves):
            raise ValueError(
                "Parameters must be all real or all complex; mixed pytrees are not supported."
            )
        _, self._unravel = ravel_pytree(params)

        if mode is None:
            mode = nkjax.jacobian_default_mode(
                self.state._apply_fun,
                params,
                self.state.model_state,
                self.state.hilbert.random_state(jax.random.key(1), 3),
                warn=False,
            )
            # NetKet returns a string-like JacobianMode; "holomorphic" is handled as complex.
            mode = "real" if mode == "real" else "complex"
        if self._complex_parameters and mode != "complex":
            raise ValueError("Complex parameters need mode='complex'.")
        self._mode = mode

        n_real_params = self.n_real_parameters
        if use_ntk is None:
            use_ntk = (
                False
                if isinstance(variational_state, FullSumState)
                else n_real_params > self.n_real_rows
            )
        self._use_ntk = bool(use_ntk)

        self._ham = hamiltonian
        self.diag_shift = diag_shift
        self.momentum = momentum
        self._chunk_size_bwd = (
            chunk_size_bwd if chunk_size_bwd is not None else variational_state.chunk_size
        )
        self._linear_solver = linear_solver
        self._system = system
        self._reference_energy = None if system is None else best_known_energy(system)
        self._old_updates = (
            None if momentum is None else jnp.zeros(n_real_params, dtype=_real_dtype(params))
        )
        self._max_retries = max_retries
        self._retry_factor = float(retry_factor)
        self._checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self._checkpoint_every = checkpoint_every
        self._last_checkpoint_step = None
        self._header = None
        self._last = None
        self._pending = None
        self._check_every = check_every
        self._settings = None

        if collectives.size > 1:
            self._setup_ranks(resume=resume)

        if resume and self._checkpoint_exists():
            self.load_checkpoint(self._checkpoint_path)

    # ------------------------------------------------------------------ ranks

    @property
    def is_root(self) -> bool:
        """Whether this is rank 0 of the driver's collectives, the only rank that writes."""
        return self._collectives.rank == 0

    def run_settings(self, *, resume: bool = False) -> dict:
        """What must agree across ranks: the checkpoint header (model, Hilbert space,
        Hamiltonian fingerprint, sampler, samples per rank, ...) and the driver's own
        settings, each as a string or a number, so that a mismatch names the field."""
        if self._settings is None:
            state = self.state
            path = self._checkpoint_path
            self._settings = {
                **self.checkpoint_header,
                "parameter_shapes": repr(
                    jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), state.parameters)
                ),
                "n_chains": getattr(getattr(state, "sampler", None), "n_chains", None),
                "n_discard_per_chain": getattr(state, "n_discard_per_chain", None),
                "chunk_size": getattr(state, "chunk_size", None),
                "chunk_size_bwd": self._chunk_size_bwd,
                "use_ntk": self._use_ntk,
                "diag_shift": _schedule_fingerprint(self.diag_shift),
                "momentum": _schedule_fingerprint(self.momentum),
                "optimizer": _optimizer_fingerprint(self._optimizer, state.parameters),
                "linear_solver": _callable_name(self._linear_solver),
                "checkpoint_path": None if path is None else str(path),
                "checkpoint_every": self._checkpoint_every,
                "check_every": self._check_every,
                "max_retries": self._max_retries,
                "retry_factor": self._retry_factor,
            }
        return {**self._settings, "resume": bool(resume)}

    def check_ranks_agree(self, *, step: int | None = None) -> None:
        """Check that every rank holds bit-identical parameters, model state, optimizer
        state, SPRING buffer and step count.

        Collective: every rank must call it. Free with a single rank.

        Raises:
            RankMismatchError: on every rank, naming the ranks and the leaves that differ
                from rank 0's.
        """
        if self._collectives.size == 1:
            return
        tree = {
            "step": self.step_count if step is None else int(step),
            "variables": self.state.variables,
            "optimizer_state": self._optimizer_state,
            "momentum_buffer": self._old_updates,
        }
        check_consistency(tree, self._collectives, what="parameters")

    def _setup_ranks(self, *, resume: bool) -> None:
        """Check the ranks' settings, share rank 0's parameters, give each rank its chains."""
        coll = self._collectives
        # Settings first: with different models a broadcast of the parameters would
        # mismatch in shape and hang instead of failing.
        check_consistency(self.run_settings(resume=resume), coll, what="settings")
        state = self.state
        state.variables = coll.bcast(jax.tree.map(jnp.asarray, state.variables))
        self._optimizer_state = self._optimizer.init(state.parameters)
        if isinstance(state, MCState):
            # Rank 0's sampler seed (random when the user gave none) seeds every rank's
            # own stream, so a run with a fixed seed is reproducible rank by rank.
            key = state._sampler_seed
            if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
                key = jax.random.key_data(key)
            key = np.asarray(coll.bcast(jnp.asarray(key, dtype=jnp.uint32))).reshape(-1)
            base = (int(key[0]) << 32) | int(key[-1])
            state.sampler_state = state.sampler.init_state(
                state._sampler_model, state._sampler_variables, seed=rank_seed(base, coll.rank)
            )
            state._sampler_state_previous = state.sampler_state
            state.reset()
        self.check_ranks_agree()

    def _all_ranks(self, flag: bool) -> np.ndarray:
        """Every rank's ``flag``, in rank order (collective)."""
        if self._collectives.size == 1:
            return np.asarray([bool(flag)])
        flags = self._collectives.all_gather(jnp.asarray(int(bool(flag)), dtype=jnp.int32))
        return np.asarray(flags).astype(bool).reshape(-1)

    def _checkpoint_exists(self) -> bool:
        path = self._checkpoint_path
        seen = self._all_ranks(path.exists() or ckpt.previous_path(path).exists())
        if seen.all() or not seen.any():
            return bool(seen.all())
        raise FileNotFoundError(
            f"The checkpoint {path} exists on rank(s) {np.flatnonzero(seen).tolist()} but not "
            f"on rank(s) {np.flatnonzero(~seen).tolist()}. Every rank reads the checkpoint "
            "rank 0 wrote: put it on a file system that all nodes see."
        )

    # ------------------------------------------------------------------ run and estimates

    def run(
        self,
        n_iter: int,
        out=(),
        obs=None,
        step_size: int = 1,
        show_progress: bool = True,
        save_params_every: int = 50,
        write_every: int = 50,
        callback=None,
        timeit: bool = False,
        **kwargs,
    ):
        """Run ``n_iter`` steps; as :meth:`netket.driver.AbstractVariationalDriver.run`.

        On ranks other than 0 the loggers ``out`` are dropped and there is no progress
        bar and no timing printout, so only rank 0 writes; callbacks run on every rank
        (they may call collectives). Returns the loggers (an empty tuple on other ranks).
        """
        if not self.is_root:
            out, show_progress, timeit = (), False, False
        return super().run(
            n_iter,
            out=out,
            obs=obs,
            step_size=step_size,
            show_progress=show_progress,
            save_params_every=save_params_every,
            write_every=write_every,
            callback=callback,
            timeit=timeit,
            **kwargs,
        )

    def estimate(self, observables, fullsum: bool = False):
        """Statistics of ``observables`` over the samples of all ranks.

        With a single rank this is :meth:`netket.driver.AbstractVariationalDriver.estimate`.
        With several, the local estimators of every rank's chains are gathered, so that
        each rank gets the statistics of all :math:`M` samples (collective).
        """
        if self._collectives.size == 1 or fullsum or not isinstance(self.state, MCState):
            return super().estimate(observables, fullsum=fullsum)

        def one(op):
            if not isinstance(op, AbstractOperator):
                return self.state.expect(op)
            return self._local_estimators_and_stats(op)[1]

        return jax.tree_util.tree_map(
            one, observables, is_leaf=lambda x: isinstance(x, AbstractObservable)
        )

    # ------------------------------------------------------------------ properties

    @property
    def use_ntk(self) -> bool:
        """True when the update is computed in sample space (minSR)."""
        return self._use_ntk

    @property
    def mode(self) -> str:
        """``"real"`` or ``"complex"``: how the Jacobian of :math:`\\log\\psi` is stacked."""
        return self._mode

    @property
    def chunk_size_bwd(self) -> int | None:
        """Samples per chunk when the Jacobian is computed."""
        return self._chunk_size_bwd

    @property
    def collectives(self) -> Collectives:
        """The cross-rank reductions in use."""
        return self._collectives

    @property
    def system(self):
        """The system given at construction, or None."""
        return self._system

    @property
    def n_real_parameters(self) -> int:
        """Number of real parameters (twice the count of complex ones)."""
        n = self.state.n_parameters
        return 2 * n if self._complex_parameters else n

    @property
    def n_real_rows(self) -> int:
        """Rows of the stacked Jacobian over all ranks: M, or 2M for complex mode."""
        n_samples = (
            self.state.hilbert.n_states
            if isinstance(self.state, FullSumState)
            else self.state.n_samples * self._collectives.size
        )
        return 2 * n_samples if self._mode == "complex" else n_samples

    # ------------------------------------------------------------------ one step

    def _samples_and_weights(self):
        if isinstance(self.state, FullSumState):
            return self.state.hilbert.all_states(), self.state.probability_distribution()
        samples = self.state.samples
        return samples.reshape(-1, samples.shape[-1]), None

    def _local_energies(self):
        """Local energies of the local samples (flat) and the energy statistics."""
        if isinstance(self.state, FullSumState):
            from netket.operator import to_sparse_cached

            psi = self.state.to_array()
            h_psi = to_sparse_cached(self._ham) @ psi
            energy = jnp.vdot(psi, h_psi)
            variance = jnp.sum(jnp.abs(h_psi - energy * psi) ** 2)
            stats = nkstats.Stats(mean=energy, error_of_mean=0.0, variance=variance)
            return h_psi / psi, stats
        local, stats = self._local_estimators_and_stats(self._ham)
        return local.reshape(-1), stats

    def _local_estimators_and_stats(self, op):
        """Local estimators of ``op`` on this rank's samples, and their statistics over
        every rank's chains (collective; the gather moves M numbers, cheap)."""
        local = self.state.local_estimators(op)
        local = getattr(local, "data", local)
        gathered = self._collectives.all_gather(local)
        return local, nkstats.statistics(gathered.reshape(-1, gathered.shape[-1]))

    def _hyperparameters(self) -> tuple[float, float | None]:
        step = self.step_count
        where = f" (at step {step})" if callable(self.diag_shift) else ""
        diag_shift = _check_diag_shift(_value_at(self.diag_shift, step), where)
        diag_shift *= self._retry_factor**self._step_attempt
        momentum = None
        if self.momentum is not None:
            where = f" (at step {step})" if callable(self.momentum) else ""
            momentum = _check_momentum(_value_at(self.momentum, step), where)
        return diag_shift, momentum

    def jacobian_and_rhs(self) -> tuple[jax.Array, jax.Array]:
        r"""The local rows of the stacked, centred and scaled Jacobian :math:`X` and of
        the right-hand side :math:`f` for the current samples; :math:`X^T f` (summed
        over ranks) is the energy gradient the driver uses."""
        samples, weights = self._samples_and_weights()
        local_energies, _ = self._local_energies()
        return self._stacked(samples, weights, local_energies)

    def _stacked(self, samples, weights, local_energies):
        return _jacobian_rows(
            self.state._apply_fun,
            self.state.parameters,
            self.state.model_state,
            samples,
            local_energies,
            weights,
            mode=self._mode,
            chunk_size=self._chunk_size_bwd,
            collectives=self._collectives,
        )

    def compute_loss_and_update(self):
        """Energy statistics and the update, from the state's current samples.

        The samples are drawn only if the state has none (``run`` resets them at
        the start of each step), so this can be compared with
        :meth:`netket.driver.VMC_SR.compute_loss_and_update` on the same samples.
        """
        diag_shift, momentum = self._hyperparameters()
        t0 = time.perf_counter()
        samples, weights = self._samples_and_weights()
        jax.block_until_ready(samples)
        t1 = time.perf_counter()
        local_energies, stats = self._local_energies()
        jax.block_until_ready((local_energies, stats))
        t2 = time.perf_counter()
        X, f = self._stacked(samples, weights, local_energies)
        jax.block_until_ready((X, f))
        t3 = time.perf_counter()
        update, old_updates, info = solve_update(
            X,
            f,
            diag_shift,
            momentum,
            self._old_updates if momentum is not None else None,
            use_ntk=self._use_ntk,
            linear_solver=self._linear_solver,
            collectives=self._collectives,
        )
        update_norm = float(jnp.linalg.norm(update))
        t4 = time.perf_counter()
        del X, f

        finite = math.isfinite(update_norm) and bool(np.isfinite(complex(stats.mean)))
        if finite and momentum is not None:
            self._old_updates = old_updates
        if self._complex_parameters:
            n = update.shape[-1] // 2
            update = update[:n] + 1j * update[n:]
        dp = self._unravel(update)
        fallback = info.get("solver_fallback") if isinstance(info, dict) else None
        self._last = {
            "finite": finite,
            "diag_shift": diag_shift,
            "update_norm": update_norm,
            "solver_fallback": None if fallback is None else bool(fallback),
            "timing": {
                "sampling": t1 - t0,
                "local_energies": t2 - t1,
                "jacobian": t3 - t2,
                "solve": t4 - t3,
            },
        }
        self._loss_stats = stats
        self._dp = dp
        return stats, dp

    def _accept_step(self) -> bool:
        if self._last is None or self._last["finite"]:
            return True
        if self._step_attempt < self._max_retries:
            if self.is_root:
                print(
                    f"Step {self.step_count}: non-finite energy or update with diag_shift="
                    f"{self._last['diag_shift']:.3g}; retrying with new samples and diag_shift "
                    f"x {self._retry_factor:g} (retry {self._step_attempt + 1}/"
                    f"{self._max_retries})."
                )
            return False
        where = (
            f" The last good checkpoint is {self._checkpoint_path} (step "
            f"{self._last_checkpoint_step})."
            if self._last_checkpoint_step is not None
            else ""
        )
        raise NonFiniteUpdateError(
            f"Step {self.step_count}: the energy ({self._loss_stats.mean}) or the update (norm "
            f"{self._last['update_norm']}) is not finite after {self._max_retries} retries with "
            f"diag_shift up to {self._last['diag_shift']:.3g}; the step was not applied.{where}"
        )

    # ------------------------------------------------------------------ update and logging

    def _optimizer_step(self, dp):
        if self._pending is None or self._pending[0] is not dp:
            self._pending = (
                dp,
                *_optimizer_update(
                    self._optimizer.update, dp, self._optimizer_state, self.state.parameters
                ),
            )
        return self._pending[1:]

    def update_parameters(self, dp):
        updates, new_state, _ = self._optimizer_step(dp)
        self._optimizer_state = new_state
        self.state.parameters = _apply_updates(self.state.parameters, updates)
        self._pending = None

    def _log_additional_data(self, log_dict: dict):
        super()._log_additional_data(log_dict)
        if self._last is None:
            return
        *_, learning_rate = self._optimizer_step(self._dp)
        log_dict["diag_shift"] = self._last["diag_shift"]
        log_dict["learning_rate"] = float(learning_rate)
        log_dict["update_norm"] = self._last["update_norm"]
        if self._last["solver_fallback"] is not None:
            log_dict["solver_fallback"] = self._last["solver_fallback"]
        log_dict["retries"] = self._step_attempt
        timing = dict(self._last["timing"])
        timing["total"] = sum(timing.values())
        log_dict["timing"] = timing
        if self._system is not None:
            e_site = float(np.real(complex(self._loss_stats.mean))) / self._system.n_sites
            log_dict["energy_per_site"] = e_site
            if self._reference_energy is not None:
                log_dict["relative_error"] = abs(
                    (e_site - self._reference_energy) / self._reference_energy
                )

    def _default_callbacks(self, callbacks, **kwargs):
        if self._collectives.size > 1:
            callbacks = [*callbacks, _ConsistencyCallback(self._check_every)]
        if self._checkpoint_path is not None:
            callbacks = [*callbacks, _CheckpointCallback(self._checkpoint_every)]
        return super()._default_callbacks(callbacks, **kwargs)

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_header(self) -> dict:
        """What a checkpoint of this driver records about the model and the system."""
        if self._header is None:
            self._header = self._make_header()
        return self._header

    def _make_header(self) -> dict:
        model = getattr(self.state, "model", None)
        model_name, model_fields = ckpt.model_description(model)
        sampler = getattr(self.state, "sampler", None)
        return {
            "model": model_name,
            "model_fields": model_fields,
            "n_parameters": int(self.state.n_parameters),
            "hilbert": repr(self.state.hilbert),
            "hamiltonian": type(self._ham).__name__,
            "hamiltonian_fingerprint": ckpt.operator_fingerprint(self._ham),
            "system": None if self._system is None else self._system.name,
            "sampler": None if sampler is None else ckpt.strip_addresses(repr(sampler)),
            "n_samples": int(getattr(self.state, "n_samples", 0) or 0),
            "n_ranks": int(self._collectives.size),
            "mode": self._mode,
            "momentum": self.momentum is not None,
        }

    def _state_dict(self) -> dict:
        vstate = serialization.to_state_dict(self.state)
        state = {
            "step": np.asarray(self.step_count),
            "variables": vstate["variables"],
            "optimizer_state": serialization.to_state_dict(self._optimizer_state),
        }
        if self._old_updates is not None:
            state["momentum_buffer"] = self._old_updates
        if "sampler_state" in vstate:
            # Each rank owns its chains: keep all of them, indexed by rank.
            state["sampler_state"] = self._collectives.all_gather(
                jax.tree.map(jnp.asarray, vstate["sampler_state"])
            )
        return state

    def save_checkpoint(self, path: str | Path | None = None, *, step: int | None = None) -> Path:
        """Write the driver's state to ``path`` (default: ``checkpoint_path``).

        Only rank 0 writes. ``step`` overrides the step count that is recorded (the
        checkpoint callback saves at the end of a step, before the count advances).
        """
        path = self._checkpoint_path if path is None else Path(path)
        if path is None:
            raise ValueError("No path given and the driver has no checkpoint_path.")
        state = self._state_dict()
        step = self.step_count if step is None else int(step)
        state["step"] = np.asarray(step)
        error = None
        if self.is_root:
            try:
                ckpt.write_checkpoint(path, {**self.checkpoint_header, "step": step}, state)
            except Exception as err:
                error = err
        # Also a barrier: no rank goes on (and possibly reads the file) before it exists.
        if not self._all_ranks(error is None)[0]:
            if error is not None:
                raise error
            raise OSError(f"Rank 0 could not write the checkpoint {path}; see rank 0's error.")
        self._last_checkpoint_step = step
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> int:
        """Restore a checkpoint written by :meth:`save_checkpoint` into this driver.

        The driver must be built like the one that wrote it (same model, system,
        sampler, number of samples and ranks); otherwise a :class:`ValueError`
        names the fields that differ. Returns the restored step count.
        """
        path = self._checkpoint_path if path is None else Path(path)
        if path is None:
            raise ValueError("No path given and the driver has no checkpoint_path.")
        error = None
        try:
            header, state, used = ckpt.read_checkpoint(path)
            ckpt.validate_header(header, self.checkpoint_header, path=used)
        except (OSError, ValueError) as err:
            error = err
        ok = self._all_ranks(error is None)
        if error is not None:
            raise error
        if not ok.all():
            raise OSError(
                f"Rank(s) {np.flatnonzero(~ok).tolist()} could not read the checkpoint {path} "
                "(see their errors); every rank must see the file rank 0 wrote."
            )

        target = serialization.to_state_dict(self.state)
        restored = {"variables": state["variables"]}
        if "sampler_state" in target:
            rank_states = state["sampler_state"]
            restored["sampler_state"] = jax.tree.map(
                lambda x: np.asarray(x)[self._collectives.rank], rank_states
            )
        new_vstate = serialization.from_state_dict(self.state, {**target, **restored})
        self.state.variables = new_vstate.variables
        if "sampler_state" in target:
            self.state.sampler_state = new_vstate.sampler_state
        self.state.reset()
        try:
            self._optimizer_state = serialization.from_state_dict(
                self._optimizer_state, state["optimizer_state"]
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"The optimizer state in {used} does not fit this driver's optimizer: {err}"
            ) from err
        if self._old_updates is not None:
            self._old_updates = jnp.asarray(state["momentum_buffer"])
        self._step_count = int(state["step"])
        self._last_checkpoint_step = self._step_count
        self._pending = None
        self.check_ranks_agree()
        return self._step_count

    def __repr__(self):
        return (
            f"{type(self).__name__}(step_count={self.step_count}, "
            f"use_ntk={self._use_ntk}, mode={self._mode!r}, state={self.state})"
        )


_SCHEDULE_PROBE_STEPS = (0, 1, 10, 100, 1_000, 10_000)


def _schedule_fingerprint(value) -> str | None:
    """A number, or a schedule by its values at a few steps, as a comparable string."""
    if value is None:
        return None
    if callable(value):
        return "schedule" + repr(tuple(float(value(s)) for s in _SCHEDULE_PROBE_STEPS))
    return repr(float(value))


def _optimizer_fingerprint(optimizer, params) -> str:
    """The optimizer's first update of a fixed gradient, hashed: differs with the
    learning rate or the kind of optimizer, even when their reprs agree."""
    try:
        probe = jax.tree.map(lambda x: jnp.full_like(x, 0.5), params)
        updates, _ = optimizer.update(probe, optimizer.init(probe), probe)
        flat = np.asarray(ravel_pytree(updates)[0])
    except Exception as err:  # an optimizer that needs extra arguments
        return f"{type(optimizer).__qualname__} (not probed: {type(err).__name__})"
    digest = hashlib.blake2b(flat.tobytes(), digest_size=8).hexdigest()
    return f"first update of 0.5-gradient: {flat[:1].tolist()} ... hash {digest}"


def _callable_name(fun) -> str:
    fun = getattr(fun, "func", fun)  # functools.partial
    name = getattr(fun, "__qualname__", type(fun).__qualname__)
    return f"{getattr(fun, '__module__', '')}.{name}"


def _real_dtype(params) -> Any:
    return jnp.finfo(jax.tree.leaves(params)[0].dtype).dtype

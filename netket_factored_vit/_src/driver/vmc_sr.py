r"""The SR / minSR driver: a drop-in replacement for :class:`netket.driver.VMC_SR`.

This file holds the step (sample, local energies, Jacobian, solve), the guard
against non-finite steps and what is logged each step. The algebra is in
:mod:`.sr_solves`, argument checks in :mod:`.arguments`, the MPI set-up and
checks in :mod:`.ranks`, checkpoints in :mod:`.checkpoint_state` and
:mod:`.checkpoint`, the loggers' files in :mod:`.log_files`, and the
callbacks the driver installs in :mod:`.callbacks`.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from netket import jax as nkjax
from netket.driver import AbstractOptimizationDriver
from netket.logging import JsonLog
from netket.operator import AbstractOperator
from netket.utils import struct
from netket.utils.deprecation import DeprecatedArg
from netket.utils.types import Optimizer, PyTree, ScalarOrSchedule
from netket.vqs import FullSumState, MCState

from netket_factored_vit._src.distributed.collectives import Collectives
from netket_factored_vit._src.distributed.mpi import get_collectives
from netket_factored_vit._src.driver import arguments as args, ranks
from netket_factored_vit._src.driver.callbacks import (
    CheckpointCallback,
    ConsistencyCallback,
    EnergyProgressBarCallback,
    SystemEnergyCallback,
)
from netket_factored_vit._src.driver.checkpoint_state import CheckpointingMixin
from netket_factored_vit._src.driver.log_files import check_no_collision, loggers_of, trim_logger
from netket_factored_vit._src.driver.nonfinite_guard import (
    NonFiniteGuardMixin,
    NonFiniteUpdateError,
    injected_learning_rate,
)
from netket_factored_vit._src.driver.sr_solves import cholesky_with_fallback, solve_update
from netket_factored_vit._src.driver.step_inputs import (
    estimate_over_ranks,
    jacobian_rows,
    local_energies,
    samples_and_weights,
    sampling_power,
)
from netket_factored_vit._src.vqs.orbit_sum_state import OrbitSumState

_NOT_GIVEN = DeprecatedArg()


class VMC_SR(NonFiniteGuardMixin, CheckpointingMixin, AbstractOptimizationDriver):
    r"""Energy minimisation by VMC with stochastic reconfiguration (SR) or minSR.

    A drop-in replacement for :class:`netket.driver.VMC_SR`: every keyword of
    NetKet 3.23's driver with its default and meaning, the same update on the same
    samples, and the same ``run(n_iter, out=..., obs=..., callback=...,
    show_progress=...)`` loop with NetKet's loggers and callbacks. On top of it:
    the SR/minSR choice by the size of the matrices, a Cholesky solve with an
    eigendecomposition fallback, per-step logging, checkpoints that resume a
    trajectory bit for bit (and keep the JSON log in step), retries of
    non-finite steps, and a ``collectives`` hook through which every reduction
    over samples passes (MPI).

    With the stacked, centred Jacobian :math:`X` (:math:`N_r \times N_p` real rows:
    :math:`N_r = M` for a real :math:`\log\psi`, :math:`2M` for a complex one) and
    the centred local energies :math:`f` (see
    :func:`~netket_factored_vit.driver.centre_and_scale`):

    .. math::

        \delta = (X^T X + \lambda I_{N_p})^{-1} X^T f
               = X^T (X X^T + \lambda I_{N_r} + \tfrac{\rho}{N_r} \mathbf{1}\mathbf{1}^T)^{-1} f ,

    with the projection regularisation :math:`\rho` (``proj_reg``) in the second,
    minSR, form only. SR solves an :math:`N_p \times N_p` system, minSR an
    :math:`N_r \times N_r` one; ``use_ntk=None`` picks minSR when
    :math:`N_p > N_r`. :math:`\delta` is handed to the optax optimizer, which
    should be :func:`optax.sgd`.

    With ``momentum`` :math:`\mu` the driver runs SPRING (Goldshlager et al. 2024):
    :math:`\delta = \mu\,\delta_\mathrm{old} + X^T (X X^T + \lambda)^{-1}
    (f - \mu X \delta_\mathrm{old})`.

    A sampler of :math:`|\psi|^p` with :math:`p \ne 2` (NetKet's ``machine_pow``) is
    reweighted: every sample enters the energy, the rows of :math:`X` and :math:`f` and
    :meth:`estimate` with the weight :math:`|\psi|^{2-p}`, normalised over all ranks, so
    that the update is the one of :math:`|\psi|^2` estimated from other samples (NetKet's
    own driver does not reweight). Drawn from :math:`|\psi|` (:math:`p = 1`), the samples visit the
    configurations of small amplitude where a frustrated state departs from Marshall's
    sign; see the accuracy page of the docs.

    Checkpoints: with ``checkpoint_path`` (and ``checkpoint_every``) the driver
    writes its full state (parameters, optimizer state, SPRING buffer, step count,
    sampler chains and random keys) every ``checkpoint_every`` steps and at the
    end of every ``run``, after writing the run's loggers to disk.
    :meth:`load_checkpoint` (or ``resume=True``) restores it into a driver built
    the same way, cuts the run's JSON logs back to the restored step, and the run
    continues exactly as if it had not been interrupted.

    MPI: the same script runs on :math:`R` ranks under ``mpirun -np R`` unchanged.
    Each rank samples ``variational_state.n_samples`` samples from its own chains
    (the total is :math:`M = R \times` ``n_samples``), and every reduction over
    samples runs over all ranks. At construction the driver checks that every rank
    was built with the same settings, broadcasts rank 0's parameters and re-seeds
    each rank's sampler with :func:`~netket_factored_vit.distributed.rank_seed`;
    afterwards it checks every ``check_every`` steps, at the start of every
    ``run`` and on resume that the ranks hold bit-identical parameters. Only rank
    0 writes logs and checkpoints and draws the progress bar.
    """

    _ham: AbstractOperator = struct.field(pytree_node=False, serialize=False)
    diag_shift: ScalarOrSchedule = struct.field(pytree_node=False, serialize=False)
    """The diag shift :math:`\\lambda`: a positive number or a schedule of the step."""
    proj_reg: ScalarOrSchedule | None = struct.field(pytree_node=False, serialize=False)
    """minSR projection regularisation (number or schedule), or None."""
    momentum: ScalarOrSchedule | None = struct.field(pytree_node=False, serialize=False)
    """SPRING momentum :math:`\\mu \\in [0, 1]` (a number or a schedule), or None."""
    info: Any = struct.field(pytree_node=False, serialize=False, default=None)
    """What the linear solver reported at the last step (a dict, possibly empty)."""
    _use_ntk: bool = struct.field(pytree_node=False, serialize=False)
    _on_the_fly: bool = struct.field(pytree_node=False, serialize=False)
    _mode: str = struct.field(pytree_node=False, serialize=False)
    _chunk_size_bwd: int | None = struct.field(pytree_node=False, serialize=False)
    _linear_solver: Any = struct.field(pytree_node=False, serialize=False)
    _collectives: Collectives = struct.field(pytree_node=False, serialize=False)
    _check_every: int | None = struct.field(pytree_node=False, serialize=False, default=50)
    _system: Any = struct.field(pytree_node=False, serialize=False)
    _system_callback: Any = struct.field(pytree_node=False, serialize=False, default=None)
    _complex_parameters: bool = struct.field(pytree_node=False, serialize=False)
    _unravel: Any = struct.field(pytree_node=False, serialize=False)
    _old_updates: PyTree = struct.field(pytree_node=False, serialize=False, default=None)
    _buffer_at_step_start: PyTree = struct.field(pytree_node=False, serialize=False, default=None)
    _checkpoint_path: Path | None = struct.field(pytree_node=False, serialize=False)
    _checkpoint_every: int | None = struct.field(pytree_node=False, serialize=False)
    _last_checkpoint_step: int | None = struct.field(
        pytree_node=False, serialize=False, default=None
    )
    _max_retries: int = struct.field(pytree_node=False, serialize=False, default=3)
    _retry_factor: float = struct.field(pytree_node=False, serialize=False, default=10.0)
    _header: dict = struct.field(pytree_node=False, serialize=False, default=None)
    _run_loggers: list = struct.field(pytree_node=False, serialize=False, default=())
    _resumed_at: int | None = struct.field(pytree_node=False, serialize=False, default=None)
    # What the last call to compute_loss_and_update measured, for logging.
    _last: dict = struct.field(pytree_node=False, serialize=False, default=None)
    # (dp, new optimizer state, new parameters, finite) of the update being applied.
    _pending: Any = struct.field(pytree_node=False, serialize=False, default=None)

    def __init__(
        self,
        hamiltonian: AbstractOperator,
        optimizer: Optimizer,
        *,
        diag_shift: ScalarOrSchedule,
        proj_reg: ScalarOrSchedule | None = None,
        momentum: ScalarOrSchedule | None = None,
        linear_solver: Callable = cholesky_with_fallback,
        linear_solver_fn: Callable | DeprecatedArg = _NOT_GIVEN,
        variational_state: MCState | FullSumState,
        chunk_size_bwd: int | None = None,
        mode: str | None = None,
        use_ntk: bool | None = None,
        on_the_fly: bool | None = None,
        system: Any = None,
        relative_error: bool = True,
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
            optimizer: An optax optimizer, normally :func:`optax.sgd`. Wrap it in
                :func:`optax.inject_hyperparams` to have its learning rate logged.
            diag_shift: The diag shift :math:`\lambda > 0`, a number or an optax schedule.
            proj_reg: minSR projection regularisation :math:`\rho \ge 0` (number or
                schedule), added as :math:`\rho / N_r` to every entry of the kernel, as
                in the Jacobian path of NetKet; ``ValueError`` with SR, as in NetKet.
            momentum: SPRING momentum in :math:`[0, 1]` (number or schedule), or None.
            linear_solver: ``solver(A, b)`` returning ``x`` or ``(x, info)``; the default
                is a Cholesky solve with an eigendecomposition fallback, logged as
                ``solver_fallback``. NetKet's solvers work too.
            linear_solver_fn: NetKet's deprecated name of ``linear_solver`` (a
                ``FutureWarning``).
            variational_state: An :class:`~netket.vqs.MCState`; a
                :class:`~netket.vqs.FullSumState` for exact sums on tiny systems (SR only); or
                an :class:`~netket_factored_vit.vqs.OrbitSumState`, exact and summed over the
                orbits of the model's symmetry group (SR and minSR).
            chunk_size_bwd: Samples per chunk of the Jacobian; defaults to the state's
                ``chunk_size``; can be changed later (``driver.chunk_size_bwd = 64``).
            mode: ``"real"`` or ``"complex"`` Jacobian; by default from the model's output.
            use_ntk: ``True`` for minSR (sample space), ``False`` for SR (parameter space),
                ``None`` to pick minSR when the real parameters outnumber the real rows of
                the Jacobian (:math:`M`, or :math:`2M` for complex :math:`\log\psi`).
            on_the_fly: NetKet's lazy-kernel switch: accepted (``None`` follows
                ``use_ntk``; ``True`` with SR raises, as in NetKet); the Jacobian is always
                built, in chunks, and the update is the same.
            system: Optional :mod:`netket_factored_vit.systems` object; installs a
                :class:`~netket_factored_vit.driver.SystemEnergyCallback` that logs
                ``energy_per_site``, ``energy_per_site_error`` and ``relative_error``,
                shown in the progress bar. Its Hamiltonian must be ``hamiltonian``.
            relative_error: With ``system``, whether to log the relative error to the
                best known energy (looked up at the start of the first run; on small
                lattices an exact diagonalisation). Nothing is diagonalised at construction.
            collectives: Cross-rank reductions. ``None`` takes
                :func:`~netket_factored_vit.distributed.get_collectives`: MPI ones under
                ``mpirun`` with several ranks, else
                :data:`~netket_factored_vit.distributed.LOCAL`.
            checkpoint_path: File the checkpoints are written to; no logger of a run may
                write to it.
            checkpoint_every: Write a checkpoint every this many steps (and at the end of
                every run); None writes only at the end of runs, if a path is given.
            resume: Load ``checkpoint_path`` now if it exists.
            max_retries: How many times a step with a non-finite energy, update or new
                parameters is retried (new samples, diag shift ``retry_factor`` times
                larger each time) before :class:`NonFiniteUpdateError` stops the run.
            retry_factor: Factor applied to the diag shift at each retry.
            check_every: With several ranks, check every this many steps that all ranks
                hold bit-identical parameters and optimizer states; ``None`` checks only
                at construction, at the start of each ``run`` and on resume.

        Raises:
            ValueError: a keyword out of its range (the message names the value and what
                is allowed), ``use_ntk=True`` or ``on_the_fly=True`` where NetKet refuses
                them, ``proj_reg`` with SR.
            ImportError: Launched by ``mpirun`` on several ranks without mpi4py / mpi4jax.
            RankMismatchError: With several ranks, the ranks were built differently.
        """
        linear_solver = args.resolve_linear_solver(linear_solver, linear_solver_fn)
        if hamiltonian.hilbert != variational_state.hilbert:
            raise ValueError(
                f"The Hamiltonian acts on {hamiltonian.hilbert}, but the variational state "
                f"lives in {variational_state.hilbert}; they must be the same Hilbert space."
            )
        args.check_diag_shift(diag_shift)
        args.check_momentum(momentum)
        args.check_proj_reg(proj_reg)
        args.check_chunk_size_bwd(chunk_size_bwd)
        args.check_mode(mode)
        checkpoint_path = args.check_checkpoint_settings(checkpoint_path, checkpoint_every, resume)
        max_retries, retry_factor = args.check_retries(max_retries, retry_factor)
        args.check_positive_int("check_every", check_every)
        full_sum = isinstance(variational_state, FullSumState)
        if full_sum and use_ntk and not isinstance(variational_state, OrbitSumState):
            raise ValueError(
                "use_ntk=True (minSR) makes no sense for a FullSumState and is not supported, "
                "as in netket.driver.VMC_SR; pass use_ntk=False or None (an "
                "netket_factored_vit.vqs.OrbitSumState supports both)."
            )
        if system is not None:
            args.check_system(system, hamiltonian, variational_state)
        if collectives is None:
            collectives = get_collectives()
        if not isinstance(collectives, Collectives):
            raise ValueError(
                f"collectives must be a netket_factored_vit.distributed.Collectives or None, "
                f"got {collectives!r}."
            )
        if full_sum and collectives.size > 1:
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
        self._header = None
        self._last = self._pending = self.info = None
        self._last_checkpoint_step = self._resumed_at = None
        self.mode = mode

        if use_ntk is None:
            use_ntk = (
                not full_sum or isinstance(variational_state, OrbitSumState)
            ) and self.n_real_parameters > self.n_real_rows
        self._use_ntk = bool(use_ntk)
        self._on_the_fly = args.resolve_on_the_fly(on_the_fly, self._use_ntk)
        if proj_reg is not None and not self._use_ntk:
            raise ValueError(
                f"proj_reg={proj_reg!r} is only defined for minSR (use_ntk=True); netket's "
                "VMC_SR raises for SR as well. Pass use_ntk=True or proj_reg=None."
            )

        self._ham = hamiltonian
        self.diag_shift = diag_shift
        self.proj_reg = proj_reg
        self.momentum = momentum
        self.chunk_size_bwd = (
            chunk_size_bwd if chunk_size_bwd is not None else variational_state.chunk_size
        )
        self._linear_solver = linear_solver
        self._system = system
        self._system_callback = (
            None if system is None else SystemEnergyCallback(system, relative_error=relative_error)
        )
        self._old_updates = (
            None if momentum is None else jnp.zeros(self.n_real_parameters, dtype=_real(params))
        )
        self._max_retries = max_retries
        self._retry_factor = retry_factor
        self._checkpoint_path = checkpoint_path
        self._checkpoint_every = checkpoint_every
        self._check_every = check_every
        self._run_loggers = ()

        if collectives.size > 1:
            ranks.setup_ranks(self, resume=resume)
        if resume and self._checkpoint_exists():
            self.load_checkpoint()

    # ------------------------------------------------------------------ properties

    @property
    def use_ntk(self) -> bool:
        """True when the update is computed in sample space (minSR)."""
        return self._use_ntk

    @property
    def on_the_fly(self) -> bool:
        """NetKet's choice of a lazy kernel; accepted for compatibility. The update is
        the same either way: this driver always builds the Jacobian, in chunks of
        :attr:`chunk_size_bwd` samples."""
        return self._on_the_fly

    @property
    def mode(self) -> str:
        """``"real"`` or ``"complex"``: how the Jacobian of :math:`\\log\\psi` is stacked."""
        return self._mode

    @mode.setter
    def mode(self, mode: str | None):
        mode = args.check_mode(mode)
        if mode is None:
            mode = nkjax.jacobian_default_mode(
                self.state._apply_fun,
                self.state.parameters,
                self.state.model_state,
                self.state.hilbert.random_state(jax.random.key(1), 3),
                warn=False,
            )
            # A string-like JacobianMode; "holomorphic" is handled as complex.
            mode = "real" if mode == "real" else "complex"
        if self._complex_parameters and mode != "complex":
            raise ValueError(f"Complex parameters need mode='complex', got mode={mode!r}.")
        self._mode = mode
        self._header = None

    @property
    def chunk_size_bwd(self) -> int | None:
        """Samples per chunk when the Jacobian is computed; settable, as in NetKet."""
        return self._chunk_size_bwd

    @chunk_size_bwd.setter
    def chunk_size_bwd(self, value: int | None):
        self._chunk_size_bwd = args.check_chunk_size_bwd(value)

    @property
    def collectives(self) -> Collectives:
        """The cross-rank reductions in use."""
        return self._collectives

    @property
    def system(self):
        """The system given at construction, or None."""
        return self._system

    @property
    def is_root(self) -> bool:
        """Whether this is rank 0 of the driver's collectives, the only rank that writes."""
        return self._collectives.rank == 0

    @property
    def n_real_parameters(self) -> int:
        """Number of real parameters (twice the count of complex ones)."""
        n = self.state.n_parameters
        return 2 * n if self._complex_parameters else n

    @property
    def n_real_rows(self) -> int:
        """Rows of the stacked Jacobian over all ranks: M, or 2M for complex mode."""
        if isinstance(self.state, OrbitSumState):
            n_samples = self.state.n_orbits
        elif isinstance(self.state, FullSumState):
            n_samples = self.state.hilbert.n_states
        else:
            n_samples = self.state.n_samples * self._collectives.size
        return 2 * n_samples if self._mode == "complex" else n_samples

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
        """Run ``n_iter`` steps; as :meth:`netket.driver.AbstractDriver.run`.

        On ranks other than 0 the loggers ``out`` are dropped and there is no progress
        bar and no timing printout, so only rank 0 writes; callbacks run on every rank
        (they may call collectives). Returns the loggers (an empty tuple on other ranks).

        Raises:
            ValueError: ``n_iter`` is not a non-negative integer, or a logger would
                write over the checkpoint file (checked before anything is written).
        """
        if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative integer, got {n_iter!r}.")
        check_no_collision(self._checkpoint_path, out)
        if not self.is_root:
            out, show_progress, timeit = (), False, False
        if isinstance(out, str | Path):
            out = JsonLog(str(out), "w", save_params_every, write_every)  # as NetKet does
        loggers = tuple(loggers_of(out))
        if self._resumed_at is not None:
            for logger in loggers:
                trim_logger(logger, self._resumed_at)
            self._resumed_at = None
        self._run_loggers = loggers
        return super().run(
            n_iter, out=loggers, obs=obs, step_size=step_size, show_progress=show_progress,
            callback=callback, timeit=timeit, **kwargs,
        )  # fmt: skip

    def _default_callbacks(self, callbacks, *, n_iter, show_progress, **kwargs):
        ours = []
        if self._system_callback is not None:
            ours.append(self._system_callback)
        if self._collectives.size > 1:
            ours.append(ConsistencyCallback(self._check_every))
        if self._checkpoint_path is not None:
            ours.append(CheckpointCallback(self._checkpoint_every))
        if show_progress:
            ours.append(EnergyProgressBarCallback(n_iter))
        callback_list = super()._default_callbacks(
            [*callbacks, *ours], n_iter=n_iter, show_progress=False, **kwargs
        )
        return type(callback_list)(list(callback_list.callbacks))

    def estimate(self, observables, fullsum: bool = False):
        r"""Statistics of ``observables`` over the samples of all ranks.

        With a single rank and samples of :math:`|\psi|^2` this is
        :meth:`netket.driver.AbstractDriver.estimate`. With several, the local estimators
        of every rank's chains are gathered, so that each rank gets the statistics of all
        :math:`M` samples (collective); samples of another power are reweighted.
        """
        plain = self._collectives.size == 1 and sampling_power(self.state) == 2.0
        if plain or fullsum or not isinstance(self.state, MCState):
            return super().estimate(observables, fullsum=fullsum)
        return estimate_over_ranks(self.state, observables, self._collectives)

    # ------------------------------------------------------------------ one step

    def jacobian_and_rhs(self) -> tuple[jax.Array, jax.Array]:
        r"""The local rows of the stacked, centred and scaled Jacobian :math:`X` and of
        the right-hand side :math:`f` for the current samples; :math:`X^T f` (summed
        over ranks) is the energy gradient the driver uses."""
        samples, weights = samples_and_weights(self.state, self._collectives)
        energies, _ = local_energies(self.state, self._ham, self._collectives, weights)
        return self._stacked(samples, weights, energies)

    def _stacked(self, samples, weights, local_energies):
        return jacobian_rows(
            self.state._apply_fun, self.state.parameters, self.state.model_state, samples,
            local_energies, weights, mode=self._mode, chunk_size=self._chunk_size_bwd,
            collectives=self._collectives,
        )  # fmt: skip

    def reset_step(self, hard: bool = False):
        """Resets the state (fresh samples) at the start of a step, as NetKet does.

        A retried step (see ``max_retries``) also starts again from the SPRING buffer
        of the step's start.
        """
        # A retried step starts again from the SPRING buffer of the step's start.
        if self._step_attempt == 0:
            self._buffer_at_step_start = self._old_updates
        else:
            self._old_updates = self._buffer_at_step_start
        super().reset_step(hard)

    def compute_loss_and_update(self):
        """Energy statistics and the update, from the state's current samples.

        The samples are drawn only if the state has none (``run`` resets them at
        the start of each step), so this can be compared with
        :meth:`netket.driver.VMC_SR.compute_loss_and_update` on the same samples.
        """
        step = self.step_count
        diag_shift = args.check_diag_shift(self.diag_shift, step)
        diag_shift *= self._retry_factor**self._step_attempt
        momentum = args.check_momentum(self.momentum, step)
        proj_reg = args.check_proj_reg(self.proj_reg, step)
        t0 = time.perf_counter()
        samples, weights = samples_and_weights(self.state, self._collectives)
        jax.block_until_ready((samples, weights))
        t1 = time.perf_counter()
        energies, stats = local_energies(self.state, self._ham, self._collectives, weights)
        jax.block_until_ready((energies, stats))
        t2 = time.perf_counter()
        X, f = self._stacked(samples, weights, energies)
        jax.block_until_ready((X, f))
        t3 = time.perf_counter()
        update, old_updates, info = solve_update(
            X, f, diag_shift, momentum, self._old_updates if momentum is not None else None,
            proj_reg, use_ntk=self._use_ntk, linear_solver=self._linear_solver,
            collectives=self._collectives,
        )  # fmt: skip
        update_norm = float(jnp.linalg.norm(update))
        t4 = time.perf_counter()
        del X, f

        # Single-precision parameters are solved for in double precision (see
        # jacobian_rows): the update goes back to the parameters' precision.
        real_dtype = _real(self.state.parameters)
        update = update.astype(real_dtype)
        if momentum is not None:
            self._old_updates = old_updates.astype(real_dtype)
        if self._complex_parameters:
            n = update.shape[-1] // 2
            update = update[:n] + 1j * update[n:]
        self.info = info
        fallback = info.get("solver_fallback") if isinstance(info, dict) else None
        self._last = {
            "finite": math.isfinite(update_norm) and bool(np.isfinite(complex(stats.mean))),
            "diag_shift": diag_shift,
            "update_norm": update_norm,
            "solver_fallback": None if fallback is None else bool(fallback),
            "timing": {
                "sampling": t1 - t0, "local_energies": t2 - t1, "jacobian": t3 - t2,
                "solve": t4 - t3,
            },
        }  # fmt: skip
        self._pending = None
        self._loss_stats = stats
        self._dp = self._unravel(update)
        return stats, self._dp

    def _log_additional_data(self, log_dict: dict):
        super()._log_additional_data(log_dict)
        if self._last is None:
            return
        log_dict["diag_shift"] = self._last["diag_shift"]
        learning_rate = injected_learning_rate(self._optimizer_result(self._dp)[0])
        if learning_rate is not None:
            log_dict["learning_rate"] = learning_rate
        log_dict["update_norm"] = self._last["update_norm"]
        if self._last["solver_fallback"] is not None:
            log_dict["solver_fallback"] = self._last["solver_fallback"]
        log_dict["retries"] = self._step_attempt
        timing = dict(self._last["timing"])
        timing["total"] = sum(timing.values())
        log_dict["timing"] = timing

    # ------------------------------------------------------------------ ranks

    def run_settings(self, *, resume: bool = False) -> dict:
        """What must agree across ranks (see :func:`.ranks.run_settings`)."""
        return ranks.run_settings(self, resume=resume)

    def check_ranks_agree(self, *, step: int | None = None) -> None:
        """Check that every rank holds bit-identical parameters, model state, optimizer
        state, SPRING buffer and step count (collective; free with one rank).

        Raises:
            RankMismatchError: on every rank, naming the ranks and the leaves that differ.
        """
        ranks.check_ranks_agree(self, step=step)

    def __repr__(self):
        return (
            f"{type(self).__name__}(step_count={self.step_count}, "
            f"use_ntk={self._use_ntk}, mode={self._mode!r}, state={self.state})"
        )


def _real(params) -> Any:
    return jnp.finfo(jax.tree.leaves(params)[0].dtype).dtype

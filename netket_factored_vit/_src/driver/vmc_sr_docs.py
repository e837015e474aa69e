r"""The documentation of :class:`~netket_factored_vit.driver.VMC_SR`, kept apart from
its code so that the driver's file shows the step."""

VMC_SR_DOC = r"""Energy minimisation by VMC with stochastic reconfiguration (SR) or minSR.

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

VMC_SR_INIT_DOC = r"""Build the driver.

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
    variational_state: An :class:`~netket.vqs.MCState`, or a
        :class:`~netket.vqs.FullSumState` for exact sums on tiny systems (SR only).
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

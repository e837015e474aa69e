r"""Stochastic reconfiguration in parameter space (SR) and sample space (minSR).

Everything here is a pure function of the local rows of the Jacobian, the local
energies, the diag shift and a :class:`~netket_factored_vit.distributed.Collectives`
object. Every reduction over samples goes through ``collectives``, so that a
single process (the identity :data:`LOCAL` collectives) and an MPI run execute
the same code.

Conventions follow :class:`netket.driver.VMC_SR`. With :math:`M` samples of
weight :math:`w_k` (all ones for Monte Carlo sampling), :math:`W = \sum_k w_k`,
the stacked, centred and scaled Jacobian and right-hand side are

.. math::

    X_{kp} = \sqrt{w_k / W}\,\bigl(O_{kp} - \bar O_p\bigr), \qquad
    f_k = 2 \sqrt{w_k / W}\,\bigl(E_\mathrm{loc}(\sigma_k) - \bar E\bigr),

with :math:`O_{kp} = \partial_{\theta_p} \log\psi(\sigma_k)`. When
:math:`\log\psi` is complex (``mode="complex"``) every sample gives two real
rows, :math:`(\mathrm{Re}\,X_k, \mathrm{Im}\,X_k)` and
:math:`(\mathrm{Re}\,f_k, \mathrm{Im}\,f_k)`, so that :math:`X^T f` is the
energy gradient :math:`2\,\mathrm{Re}\langle \Delta O^* \Delta E\rangle`.
The update handed to the optax optimizer (which subtracts it, times the
learning rate) is

.. math::

    \delta = (X^T X + \lambda I_P)^{-1} X^T f
           = X^T (X X^T + \lambda I_{2M})^{-1} f .
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import jax.scipy as jsp

from netket_factored_vit._src.distributed.collectives import LOCAL, Collectives

LinearSolver = Callable[[jax.Array, jax.Array], jax.Array | tuple[jax.Array, dict | None]]


def centre_and_scale(
    jacobian: jax.Array,
    local_energies: jax.Array,
    *,
    mode: str,
    weights: jax.Array | None = None,
    collectives: Collectives = LOCAL,
    chunk_size: int | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Centre and scale the local rows of the Jacobian and the local energies.

    Args:
        jacobian: Uncentred :math:`\partial_\theta \log\psi` of the local samples,
            shape ``(m, P)`` for ``mode="real"`` or ``(m, 2, P)`` (real and imaginary
            part) for ``mode="complex"``, as returned by :func:`netket.jax.jacobian`.
        local_energies: Local energies of the same samples, shape ``(m,)``.
        mode: ``"real"`` or ``"complex"``.
        weights: Optional non-negative, unnormalised sample weights of shape ``(m,)``
            (a full sum over the Hilbert space uses :math:`|\psi|^2`). ``None`` means
            equal weights, as for Monte Carlo samples.
        collectives: Cross-rank reductions.
        chunk_size: When given, the rows are centred ``chunk_size`` at a time in a
            loop that overwrites ``jacobian`` in place (under ``jax.jit``), so that
            no second array of its size is needed; the values are the same.

    Returns:
        ``(X, f, mean_energy)``: the local rows of the stacked Jacobian, shape
        ``(m, P)`` or ``(2m, P)``, the matching right-hand side, and the mean local
        energy over all ranks.
    """
    if mode not in ("real", "complex"):
        raise ValueError(f"mode must be 'real' or 'complex', got {mode!r}.")
    local_energies = local_energies.reshape(-1)
    n_local = local_energies.shape[0]
    if weights is None:
        total_weight = collectives.sum(jnp.asarray(n_local, dtype=jacobian.dtype))
        mean_energy = collectives.sum(jnp.sum(local_energies)) / total_weight
        mean_jac = collectives.sum(jnp.sum(jacobian, axis=0)) / total_weight
        scale = jnp.sqrt(1.0 / total_weight)
    else:
        weights = weights.reshape(-1).astype(jacobian.dtype)
        total_weight = collectives.sum(jnp.sum(weights))
        mean_energy = collectives.sum(jnp.sum(weights * local_energies)) / total_weight
        mean_jac = collectives.sum(jnp.tensordot(weights, jacobian, axes=1)) / total_weight
        scale = jnp.sqrt(weights / total_weight)

    f = 2.0 * (local_energies - mean_energy) * scale
    scale_rows = jnp.broadcast_to(
        jnp.reshape(scale, (-1,) + (1,) * (jacobian.ndim - 1)),
        (n_local,) + (1,) * (jacobian.ndim - 1),
    )
    X = _centre_rows(jacobian, mean_jac, scale_rows, chunk_size)

    if mode == "complex":
        # Rows ordered (Re_1, Im_1, Re_2, Im_2, ...), as NetKet does, so that the
        # rows of one sample stay on the rank that owns the sample.
        X = jax.lax.collapse(X, 0, 2)
        f = jax.lax.collapse(jnp.stack([jnp.real(f), jnp.imag(f)], axis=-1), 0, 2)
    else:
        f = jnp.real(f)
    return X, f, mean_energy


def _centre_rows(jacobian, mean, scale_rows, chunk_size):
    """``(jacobian - mean) * scale_rows``, in place chunk by chunk when ``chunk_size``
    is smaller than the number of rows."""
    n = jacobian.shape[0]
    if chunk_size is None or chunk_size >= n:
        return (jacobian - mean) * scale_rows
    n_chunks = n // chunk_size

    def centre_chunk(k, rows):
        start = k * chunk_size
        chunk = jax.lax.dynamic_slice_in_dim(rows, start, chunk_size)
        scale = jax.lax.dynamic_slice_in_dim(scale_rows, start, chunk_size)
        return jax.lax.dynamic_update_slice_in_dim(rows, (chunk - mean) * scale, start, 0)

    rows = jax.lax.fori_loop(0, n_chunks, centre_chunk, jacobian)
    done = n_chunks * chunk_size
    if done < n:
        rows = rows.at[done:].set((rows[done:] - mean) * scale_rows[done:])
    return rows


def energy_gradient(X: jax.Array, f: jax.Array, *, collectives: Collectives = LOCAL) -> jax.Array:
    r"""The energy gradient :math:`X^T f` with respect to the real parameters."""
    return collectives.sum(X.T @ f)


def cholesky_with_fallback(A: jax.Array, b: jax.Array, *, rcond: float = 1e-12):
    r"""Solve :math:`A x = b` by Cholesky; fall back to an eigendecomposition.

    When the Cholesky factor or the solution is not finite (the matrix is not
    numerically positive definite), the system is solved through the
    eigendecomposition of :math:`A`, discarding eigenvalues below
    ``rcond`` times the largest (a pseudo-inverse).

    Returns:
        ``(x, info)`` with ``info["solver_fallback"]`` true when the fallback ran.
    """
    return _cholesky_or_eigh(lambda: A, b, rcond=rcond)


def _cholesky_or_eigh(build: Callable[[], jax.Array], b: jax.Array, *, rcond: float = 1e-12):
    """:func:`cholesky_with_fallback` of the matrix ``build()``, which the fallback
    builds again: the matrix then need not outlive its factorisation, which saves
    one copy of it."""
    factor = jsp.linalg.cho_factor(build(), lower=True)
    x_chol = jsp.linalg.cho_solve(factor, b)
    ok = jnp.all(jnp.isfinite(x_chol))

    def _eigh_solve(_):
        w, V = jnp.linalg.eigh(build())
        cutoff = rcond * jnp.max(jnp.abs(w))
        w_inv = jnp.where(w > cutoff, 1.0 / jnp.where(w > cutoff, w, 1.0), 0.0)
        return V @ (w_inv * (V.T @ b))

    x = jax.lax.cond(ok, lambda _: x_chol, _eigh_solve, None)
    return x, {"solver_fallback": jnp.logical_not(ok)}


def _solve(solver: LinearSolver, A: jax.Array, b: jax.Array):
    out = solver(A, b)
    if isinstance(out, tuple):
        x, info = out
        return x, ({} if info is None else info)
    return out, {}


def gram(
    A: jax.Array, *, block_rows: int = 256, max_blocks: int = 8, panel_columns: int = 512
) -> jax.Array:
    r"""The symmetric matrix :math:`A A^T`, built in place block by block.

    The rows of :math:`A` are split into :math:`b` equal blocks (about
    ``block_rows`` rows each, at most ``max_blocks``, :math:`b` dividing the
    number of rows); only the :math:`b (b + 1) / 2` products
    :math:`A_i A_j^T, j \le i`, are computed, a fraction :math:`(b + 1) / 2b` of
    the multiply-adds of the full product, and each is also added, transposed,
    at :math:`(j, i)`, so that the result is exactly symmetric. The products run
    in a loop over block pairs and over panels of ``panel_columns`` columns, and
    are added into one :math:`n \times n` buffer: besides :math:`A` and the result,
    the memory is that of two blocks of one panel and of one product.
    """
    n, p = A.shape
    n_blocks = max(1, min(max_blocks, n // block_rows))
    while n % n_blocks:
        n_blocks -= 1
    rows = n // n_blocks
    pairs = [(i, j) for i in range(n_blocks) for j in range(i + 1)]
    pair_i = jnp.asarray([i for i, _ in pairs])
    pair_j = jnp.asarray([j for _, j in pairs])

    def add_panel(T, panel_of, width):
        def add_pair(q, T):
            i, j = pair_i[q] * rows, pair_j[q] * rows
            product = panel_of(i, width) @ panel_of(j, width).T
            diagonal = i == j
            upper = jnp.where(diagonal, 0.5 * (product + product.T), product)
            T = jax.lax.dynamic_update_slice(
                T, jax.lax.dynamic_slice(T, (i, j), (rows, rows)) + upper, (i, j)
            )
            lower = jnp.where(diagonal, 0.0, product.T)
            return jax.lax.dynamic_update_slice(
                T, jax.lax.dynamic_slice(T, (j, i), (rows, rows)) + lower, (j, i)
            )

        return jax.lax.fori_loop(0, len(pairs), add_pair, T)

    width = max(1, min(panel_columns, p))
    n_panels = p // width
    T = jnp.zeros((n, n), dtype=A.dtype)

    def add_full_panel(k, T):
        return add_panel(T, lambda r, w: jax.lax.dynamic_slice(A, (r, k * width), (rows, w)), width)

    T = jax.lax.fori_loop(0, n_panels, add_full_panel, T)
    rest = p - n_panels * width
    if rest:
        start = n_panels * width
        T = add_panel(T, lambda r, w: jax.lax.dynamic_slice(A, (r, start), (rows, w)), rest)
    return T


def _add_diag(A: jax.Array, shift) -> jax.Array:
    return A + shift * jnp.eye(A.shape[-1], dtype=A.dtype)


def sr_update(
    X: jax.Array,
    f: jax.Array,
    *,
    diag_shift,
    linear_solver: LinearSolver = cholesky_with_fallback,
    momentum=None,
    old_updates: jax.Array | None = None,
    proj_reg=None,
    collectives: Collectives = LOCAL,
):
    r"""The update in parameter space, :math:`(X^T X + \lambda I_P)^{-1} X^T f`.

    With SPRING momentum :math:`\mu` the right-hand side gains
    :math:`\lambda \mu\, \delta_\mathrm{old}`, which makes this exactly
    equivalent to :func:`minsr_update` with the same momentum.

    Args:
        X: Local rows of the stacked Jacobian (see :func:`centre_and_scale`).
        f: Local rows of the right-hand side.
        diag_shift: The diag shift :math:`\lambda`.
        linear_solver: ``solver(A, b)`` returning ``x`` or ``(x, info)``.
        momentum: SPRING momentum :math:`\mu`, or ``None`` to disable it.
        old_updates: The previous update (required when ``momentum`` is given).
        proj_reg: Must be ``None``: the projection regularisation exists only in
            sample space (:func:`minsr_update`), as in NetKet.
        collectives: Cross-rank reductions.

    Returns:
        ``(update, new_old_updates, info)``.
    """
    if proj_reg is not None:
        raise ValueError(
            f"proj_reg={proj_reg!r} is only defined for minSR (use_ntk=True); SR in parameter "
            "space has no projection regularisation, as in netket.driver.VMC_SR."
        )
    S = collectives.sum(gram(X.T))
    F = collectives.sum(X.T @ f)
    if momentum is not None:
        F = F + diag_shift * momentum * old_updates
    update, info = _solve(linear_solver, _add_diag(S, diag_shift), F)
    if momentum is not None:
        old_updates = update
    return update, old_updates, info


def rows_to_columns(X: jax.Array, *, collectives: Collectives = LOCAL) -> jax.Array:
    r"""Turn the local rows of ``X`` into all rows of a block of its columns.

    Rank :math:`r` ends up with :math:`X[:, P_r]`, where the columns (zero-padded
    to a multiple of the number of ranks) are split in equal contiguous blocks.
    Rows are ordered by rank, as :meth:`Collectives.all_gather` orders them.
    Every rank must hold the same number of rows.
    """
    n_rows, n_params = X.shape
    size = collectives.size
    block = -(-n_params // size)
    X = jnp.pad(X, ((0, 0), (0, block * size - n_params)))
    X = X.reshape(n_rows, size, block).transpose(1, 0, 2)
    X = collectives.all_to_all(X)
    return X.reshape(size * n_rows, block)


def minsr_update(
    X: jax.Array,
    f: jax.Array,
    *,
    diag_shift,
    linear_solver: LinearSolver = cholesky_with_fallback,
    momentum=None,
    old_updates: jax.Array | None = None,
    proj_reg=None,
    collectives: Collectives = LOCAL,
):
    r"""The update in sample space, :math:`X^T (X X^T + \lambda I)^{-1} f`.

    Distributed form: the row-split ``X`` is redistributed by columns
    (:func:`rows_to_columns`), every rank adds its share to the kernel
    :math:`T = \sum_r X[:, P_r] X[:, P_r]^T`, solves
    :math:`(T + \lambda I) y = f` and computes its block
    :math:`\delta[P_r] = X[:, P_r]^T y`; the blocks are gathered. The memory per
    rank is :math:`2 M P / R + (2M)^2` numbers, never the whole Jacobian.

    With SPRING momentum :math:`\mu`, :math:`f \to f - \mu X \delta_\mathrm{old}`
    and :math:`\delta \to \delta + \mu \delta_\mathrm{old}`.

    With ``proj_reg`` :math:`\rho` the kernel gains :math:`(\rho / N_r)\,\mathbf{1}\mathbf{1}^T`,
    :math:`N_r` being the number of rows of :math:`X` over all ranks (:math:`M`, or
    :math:`2M` for complex rows), as in the Jacobian path of :class:`netket.driver.VMC_SR`.

    Arguments and return value as in :func:`sr_update`.
    """
    n_params = X.shape[1]
    if momentum is not None:
        f = f - momentum * (X @ old_updates)
    X_cols = rows_to_columns(X, collectives=collectives)
    f_all = collectives.all_gather(f).reshape(-1)

    def kernel():
        T = _add_diag(collectives.sum(gram(X_cols)), diag_shift)
        return T if proj_reg is None else T + proj_reg / T.shape[-1]

    if linear_solver is cholesky_with_fallback and collectives.size == 1:
        # One kernel in memory, not two. Not across ranks: rebuilding the kernel in
        # the fallback branch would put a collective inside a branch that ranks
        # whose factorisations differ in the last bit might not all take.
        y, info = _cholesky_or_eigh(kernel, f_all)
    else:
        y, info = _solve(linear_solver, kernel(), f_all)
    # y @ X_cols, not X_cols.T @ y: XLA copied a large X to transpose it.
    update = collectives.all_gather(y @ X_cols).reshape(-1)[:n_params]
    if momentum is not None:
        update = update + momentum * old_updates
        old_updates = update
    return update, old_updates, info


@partial(jax.jit, static_argnames=("use_ntk", "linear_solver", "collectives"))
def solve_update(
    X: jax.Array,
    f: jax.Array,
    diag_shift,
    momentum=None,
    old_updates: jax.Array | None = None,
    proj_reg=None,
    *,
    use_ntk: bool,
    linear_solver: LinearSolver = cholesky_with_fallback,
    collectives: Collectives = LOCAL,
):
    """Jitted :func:`minsr_update` (``use_ntk=True``) or :func:`sr_update`."""
    fun = minsr_update if use_ntk else sr_update
    return fun(
        X,
        f,
        diag_shift=diag_shift,
        linear_solver=linear_solver,
        momentum=momentum,
        old_updates=old_updates,
        proj_reg=proj_reg,
        collectives=collectives,
    )

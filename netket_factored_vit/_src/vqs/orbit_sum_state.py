r"""A variational state summed exactly over the orbits of its model's symmetry group.

.. math::

    \langle O\rangle = \sum_{r} p_r\, \bar O_\mathrm{loc}(r), \qquad
    p_r = \frac{|[r]|\,|\psi(r)|^2}{\sum_{r'} |[r']|\,|\psi(r')|^2},

over one representative :math:`r` per orbit (see :mod:`.orbits`). It equals the sum over
the whole basis of :class:`netket.vqs.FullSumState` for every operator, with far fewer
evaluations of the model: 538 representatives instead of 12,870 states for a
C4v-projected ViT on the 4x4 :math:`S^z = 0` sector.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from netket import jax as nkjax
from netket.stats import Stats
from netket.vqs import FullSumState

from netket_factored_vit._src.models.symmetry_group import SymmetryGroup
from netket_factored_vit._src.vqs.orbits import OrbitOperator, Orbits, basis_codes, state_codes

MAX_ORBIT_SUM_STATES = 2**22
"""The largest Hilbert space (basis states, before the orbits) an :class:`OrbitSumState`
accepts by default: 4x6 with :math:`S^z = 0` (2,704,156 states) fits, 6x6 does not."""

_INVARIANCE_SAMPLES = 16
"""Random configurations on which the model's invariance is checked."""


def basis_size(hilbert) -> int:
    """The number of basis states of ``hilbert``, also for spaces too large for NetKet to
    index (a spin-1/2 space, with or without a fixed magnetisation)."""
    if hilbert.is_indexable:
        return int(hilbert.n_states)
    n = hilbert.size
    if not hilbert.constrained:
        return math.prod(int(k) for k in hilbert.shape)
    total = getattr(hilbert.constraint, "sum_value", None)  # sum of the +-1 spins
    if total is not None and sorted(np.asarray(hilbert.local_states).tolist()) == [-1, 1]:
        return math.comb(n, int(round((n + total) / 2)))
    raise ValueError(f"{hilbert} is too large to be indexed, and so to be summed over.")


class OrbitSumState(FullSumState):
    r"""An exact variational state: sums over the orbits of the model's symmetry group.

    A drop-in for :class:`netket.vqs.FullSumState` (it is one): ``expect``,
    ``expect_and_grad``, ``to_array``, serialization and
    :class:`~netket_factored_vit.driver.VMC_SR`, with SR or minSR, work unchanged, and
    give the same numbers. The model is evaluated on one representative per orbit of
    its ``symmetry_group`` (:class:`~netket_factored_vit.models.SymmetryGroup`), so the
    Jacobian has one row per orbit:

    .. math::

        \langle O\rangle = \sum_r p_r\,\bar O_\mathrm{loc}(r), \qquad
        p_r \propto |[r]|\,|\psi(r)|^2 .

    :math:`\bar O_\mathrm{loc}` averages the local estimator over the orbit, so the sum is
    exact for every operator; an operator that commutes with the whole group (as the
    J1-J2 Hamiltonian does with the lattice symmetries) costs one row of connections per
    orbit, others one row per coset of the subgroup they commute with.

    The group is read from ``model.symmetry_group`` (the ViT's translations by whole
    patches; :class:`~netket_factored_vit.models.Symmetrized` adds its images and the
    spin flip), or given as ``symmetry_group``; a model without one is summed over the
    whole basis. The model's invariance is checked on random configurations when the
    state is built, and a group that the model does not respect is refused, naming the
    operation.

    Args:
        hilbert: a discrete Hilbert space with at most ``max_states`` basis states.
        model: the flax model (its ``symmetry_group`` is used, if it has one).
        symmetry_group: the group to sum over instead of the model's.
        max_states: the largest basis accepted (default
            :data:`MAX_ORBIT_SUM_STATES`); larger ones are refused before anything is
            built.
        **kwargs: as :class:`netket.vqs.FullSumState` (``variables``, ``seed``,
            ``chunk_size``, ...).

    Example:

    >>> import netket_factored_vit as nfv
    >>> system = nfv.systems.j1j2(4, J2=0.5)
    >>> vit = nfv.models.ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)
    >>> model = nfv.models.Symmetrized(model=vit, translations="none")
    >>> vstate = nfv.vqs.OrbitSumState(system.hilbert, model, seed=0)
    >>> vstate.n_orbits, vstate.hilbert.n_states
    (538, 12870)
    """

    def __init__(
        self,
        hilbert,
        model=None,
        *,
        symmetry_group: SymmetryGroup | None = None,
        max_states: int = MAX_ORBIT_SUM_STATES,
        **kwargs,
    ):
        if not getattr(hilbert, "is_finite", False):
            raise ValueError(f"OrbitSumState needs a finite discrete Hilbert space, got {hilbert}.")
        n_states = basis_size(hilbert)
        if n_states > max_states:
            raise ValueError(
                f"The Hilbert space has {n_states:,} basis states, more than the limit of "
                f"{max_states:,} of an exact (orbit-sum) state; use Monte Carlo (MCState)."
            )
        if symmetry_group is None:
            symmetry_group = getattr(model, "symmetry_group", None)
        if symmetry_group is None:
            symmetry_group = SymmetryGroup.trivial(hilbert.size)
        if not isinstance(symmetry_group, SymmetryGroup):
            raise ValueError(
                f"symmetry_group must be a netket_factored_vit.models.SymmetryGroup or None, "
                f"got {symmetry_group!r}."
            )
        if symmetry_group.n_sites != hilbert.size:
            raise ValueError(
                f"The symmetry group acts on {symmetry_group.n_sites} sites, the Hilbert space "
                f"has {hilbert.size}."
            )
        super().__init__(hilbert, model, **kwargs)
        self._orbits = Orbits(basis_codes(hilbert), symmetry_group)
        self._representatives = jnp.asarray(self._orbits.representatives)
        self._log_sizes = jnp.asarray(np.log(self._orbits.sizes.astype(np.float64)))
        self._orbit_of_state = None  # of hilbert.all_states(), built by to_array
        # id -> (operator, its OrbitOperator, its columns and elements on the device)
        self._operators: dict[int, tuple[Any, OrbitOperator, jax.Array, jax.Array]] = {}
        self._log_psi = None
        self.check_invariance()

    # ------------------------------------------------------------------ the orbits

    @property
    def symmetry_group(self) -> SymmetryGroup:
        """The group whose orbits are summed over."""
        return self._orbits.group

    @property
    def orbits(self) -> Orbits:
        """The orbits of the basis (representatives, sizes, look-up)."""
        return self._orbits

    @property
    def n_orbits(self) -> int:
        """Number of orbits: the rows of the Jacobian."""
        return len(self._orbits)

    @property
    def representatives(self) -> jax.Array:
        """One configuration per orbit, shape ``(n_orbits, N)``."""
        return self._representatives

    def check_invariance(self, n_configurations: int = _INVARIANCE_SAMPLES, seed: int = 0):
        r"""Check that :math:`\log\psi(g\sigma) = \log\psi(\sigma)` (modulo :math:`2\pi i`)
        for every element of the group on random configurations, with the current
        parameters.

        Raises:
            ValueError: naming the first element that fails and by how much.
        """
        group = self.symmetry_group
        if len(group) == 1:
            return
        sigma = np.asarray(self.hilbert.random_state(jax.random.key(seed), n_configurations))
        images = np.stack([group.apply(sigma, k) for k in range(len(group))])
        flat = jnp.asarray(images.reshape(-1, sigma.shape[1]))
        log_psi = np.asarray(_log_values(self._apply_fun, self.variables, flat))
        log_psi = log_psi.reshape(len(group), n_configurations)
        delta = log_psi - log_psi[0]
        real = np.abs(delta.real)
        imag = np.abs(np.angle(np.exp(1j * delta.imag)))
        # single precision anywhere (parameters or output) sets the tolerance: a float32
        # model may still return log psi as complex128
        dtypes = [log_psi.dtype, *(leaf.dtype for leaf in jax.tree.leaves(self.parameters))]
        single = any(
            jnp.issubdtype(dtype, jnp.inexact) and jnp.finfo(dtype).bits <= 32 for dtype in dtypes
        )
        tolerance = 1e-3 if single else 1e-8
        scale = np.maximum(1.0, np.abs(log_psi[0].real))
        bad = np.nonzero(np.any((real > tolerance * scale) | (imag > tolerance * scale), axis=1))[0]
        if len(bad):
            k = int(bad[0])
            raise ValueError(
                f"The model is not invariant under {group.names[k]!r} of its symmetry group "
                f"({len(group)} elements): log psi changes by up to "
                f"{float(max(real[k].max(), imag[k].max())):.3g} on random configurations. "
                "Declare only the symmetries the model has (symmetry_group)."
            )

    # ------------------------------------------------------------------ evaluations

    def reset(self):
        """Forget the cached amplitudes; called whenever the parameters change."""
        super().reset()
        self._log_psi = None

    def log_representatives(self) -> jax.Array:
        r""":math:`\log\psi` of the representatives (cached until the parameters change)."""
        if self._log_psi is None:
            self._log_psi = _log_values(
                self._apply_fun, self.variables, self._representatives, self.chunk_size
            )
        return self._log_psi

    def orbit_probabilities(self) -> jax.Array:
        r""":math:`p_r = |[r]|\,|\psi(r)|^2 / \sum_{r'} |[r']|\,|\psi(r')|^2`."""
        return _probabilities(self.log_representatives(), self._log_sizes)

    def to_array(self, normalize: bool = True, allgather: bool = True) -> jax.Array:
        """The wave function on every basis state (in the order of ``hilbert.all_states()``),
        read from the representatives: ``psi[i] = psi(r)`` for the orbit of state ``i``."""
        if normalize and self._array is not None:
            return self._array
        log_psi = self.log_representatives()
        if normalize:
            log_psi = log_psi - jnp.max(log_psi.real)
        if self._orbit_of_state is None:
            states = np.asarray(self._all_states)
            self._orbit_of_state = jnp.asarray(self._orbits.orbit_index(state_codes(states)))
        psi = jnp.exp(log_psi)[self._orbit_of_state]
        if not normalize:
            return psi
        self._array = psi / jnp.linalg.norm(psi)
        return self._array

    def orbit_operator(self, operator) -> OrbitOperator:
        """``operator`` written on the orbits (built once per operator object)."""
        if operator.hilbert != self.hilbert:
            raise ValueError(
                f"The operator acts on {operator.hilbert}, the state lives in {self.hilbert}."
            )
        key = id(operator)
        if key not in self._operators or self._operators[key][0] is not operator:
            orbit_op = OrbitOperator(operator, self._orbits)
            self._operators[key] = (
                operator, orbit_op, jnp.asarray(orbit_op.columns), jnp.asarray(orbit_op.elements)
            )  # fmt: skip
        return self._operators[key][1]

    def local_estimators(self, operator) -> jax.Array:
        r"""The orbit-averaged local estimator :math:`\bar O_\mathrm{loc}(r)` of each
        representative, shape ``(n_orbits,)``."""
        return self.local_estimators_and_stats(operator)[0]

    def local_estimators_and_stats(self, operator) -> tuple[jax.Array, Stats]:
        """The orbit-averaged local estimators and their exact statistics (mean and
        variance over :math:`|\\psi|^2`, no error of the mean)."""
        self.orbit_operator(operator)  # built and moved to the device once per operator
        _, _, columns, elements = self._operators[id(operator)]
        local, mean, variance = _local_and_stats(
            self.log_representatives(), self._log_sizes, columns, elements
        )
        return local, Stats(mean=mean, error_of_mean=0.0, variance=variance)

    def __repr__(self):
        return (
            f"OrbitSumState(\n  hilbert = {self.hilbert},\n  symmetry_group = "
            f"{self.symmetry_group},\n  n_orbits = {self.n_orbits},\n  n_parameters = "
            f"{self.n_parameters})"
        )

    def __str__(self):
        return f"OrbitSumState(hilbert = {self.hilbert}, n_orbits = {self.n_orbits})"


@partial(jax.jit, static_argnums=(0, 3))
def _log_values(apply_fun, variables, configurations, chunk_size=None):
    if chunk_size is None or chunk_size >= configurations.shape[0]:
        return apply_fun(variables, configurations)
    return nkjax.apply_chunked(lambda x: apply_fun(variables, x), in_axes=0, chunk_size=chunk_size)(
        configurations
    )


@jax.jit
def _probabilities(log_psi, log_sizes):
    log_w = 2.0 * log_psi.real + log_sizes
    w = jnp.exp(log_w - jnp.max(log_w))
    return w / jnp.sum(w)


@jax.jit
def _local_and_stats(log_psi, log_sizes, columns, elements):
    # (cosets, orbits, connections): psi(r') / psi(r) for every connection of c r
    ratios = jnp.exp(log_psi[columns] - log_psi[None, :, None])
    per_coset = jnp.sum(elements * ratios, axis=-1)
    local = jnp.mean(per_coset, axis=0)
    p = _probabilities(log_psi, log_sizes)
    mean = jnp.sum(p * local)
    variance = jnp.sum(p * jnp.mean(jnp.abs(per_coset - mean) ** 2, axis=0))
    return local, mean, variance


def _serialize(vstate: OrbitSumState) -> dict:
    return {"variables": serialization.to_state_dict(vstate.variables)}


def _deserialize(vstate: OrbitSumState, state_dict: dict) -> OrbitSumState:
    import copy

    new = copy.copy(vstate)
    new.reset()
    variables = serialization.from_state_dict(vstate.variables, state_dict["variables"])
    new.variables = jax.tree.map(jnp.asarray, variables)
    return new


serialization.register_serialization_state(OrbitSumState, _serialize, _deserialize)

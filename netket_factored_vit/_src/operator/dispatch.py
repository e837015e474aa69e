"""Registers :class:`HeisenbergBonds` with NetKet's local-estimator dispatch.

With these two rules every NetKet path that goes through
``nk.vqs.get_local_kernel_arguments`` and ``nk.vqs.get_local_kernel`` on an
:class:`~netket.vqs.MCState` (``expect``, ``expect_and_grad``, ``expect_and_forces``,
``local_estimators``, NetKet's drivers and ours) uses
:func:`~netket_factored_vit._src.operator.local_energy.local_energies`. Other
variational states fall back to NetKet's generic rules for a
:class:`~netket.operator.DiscreteOperator`.
"""

from __future__ import annotations

import netket as nk

from netket_factored_vit._src.operator.heisenberg_bonds import HeisenbergBonds
from netket_factored_vit._src.operator.local_energy import bond_arguments, local_energies


@nk.vqs.get_local_kernel_arguments.dispatch
def _bond_kernel_arguments(vstate: nk.vqs.MCState, operator: HeisenbergBonds):
    if vstate.hilbert != operator.hilbert:
        raise ValueError(
            f"The operator acts on {operator.hilbert}, but the variational state on "
            f"{vstate.hilbert}: build both on the same Hilbert space."
        )
    samples = vstate.samples
    return samples, bond_arguments(
        samples, operator.bonds, operator.diagonal_elements, operator.exchange_elements
    )


@nk.vqs.get_local_kernel.dispatch
def _bond_kernel(vstate: nk.vqs.MCState, operator: HeisenbergBonds):
    return local_energies


@nk.vqs.get_local_kernel.dispatch
def _bond_kernel_chunked(vstate: nk.vqs.MCState, operator: HeisenbergBonds, chunk_size: int):
    return local_energies

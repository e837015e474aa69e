r"""The attention weight as a function of the displacement between patches."""

from typing import Any

import jax
import numpy as np
from flax import linen as nn

from netket_factored_vit._src.analysis.maps import (
    attention_maps,
    check_chunk_size,
    check_configurations,
    chunks,
    unwrap_model,
)
from netket_factored_vit._src.models.attention import displacement_index


def positional_profile(
    model: nn.Module, variables: Any, sigma: jax.Array, *, chunk_size: int = 256
) -> np.ndarray:
    r"""Mean attention weight against the displacement on the torus of patches.

    For layer :math:`l`, head :math:`\mu` and a displacement
    :math:`\delta = (\delta_x, \delta_y)` between patches,

    .. math::

        \bar\alpha^\mu_l(\delta) = \frac{1}{B\, n} \sum_{b=1}^{B}
            \sum_{i=1}^{n} \alpha^\mu_{i,\, i+\delta}(\sigma_b),

    the weight with which a token reads the token displaced by :math:`\delta`,
    averaged over the :math:`n` tokens and the :math:`B` configurations (what a heat
    map of the attention shows). For translation-invariant factored attention it is
    the learned table :math:`a^\mu(\delta)` itself. Summed over :math:`\delta` it gives
    the mean row sum of :math:`\alpha`, which is 1 for T5 attention (a softmax).

    Args:
        model: a :class:`~netket_factored_vit.models.ViT`, possibly inside
            :class:`~netket_factored_vit.models.Symmetrized`.
        variables: ``{"params": ...}`` or the bare parameter tree.
        sigma: configurations of shape ``(B, N)`` (leading axes are merged into ``B``).
        chunk_size: configurations evaluated at once (bounds the memory used).

    Returns:
        A float array of shape ``(num_layers, num_heads, nx, ny)``, ``(nx, ny)`` the
        shape of the torus of patches (``model.patch_grid``); entry ``[l, mu, dx, dy]``
        is :math:`\bar\alpha^\mu_l(\delta_x, \delta_y)`, with displacements taken modulo
        ``(nx, ny)``, so the zero displacement is entry ``[..., 0, 0]``.
    """
    sigma = check_configurations(sigma, caller="positional_profile", flatten=True)
    chunk_size = check_chunk_size(chunk_size)
    inner, _ = unwrap_model(model, variables)
    grid = getattr(inner, "patch_grid", None)
    if grid is None:
        raise ValueError(
            f"positional_profile needs the shape of the torus of patches, read from "
            f"model.patch_grid; {type(inner).__name__} has no patch_grid."
        )
    nx, ny = (int(g) for g in grid)
    total = 0.0
    for batch in chunks(sigma, chunk_size):
        total = total + np.asarray(attention_maps(model, variables, batch)).sum(axis=1)
    mean = total / sigma.shape[0]  # (L, H, n, n)
    n = nx * ny
    if mean.shape[-1] != n:
        raise ValueError(
            f"The attention maps have {mean.shape[-1]} tokens, but patch_grid={(nx, ny)} has {n}."
        )
    index = displacement_index((nx, ny)).ravel()
    profile = np.zeros((*mean.shape[:2], n), dtype=mean.dtype)
    # every displacement occurs exactly once per row i, hence n times in all
    np.add.at(profile, (slice(None), slice(None), index), mean.reshape(*mean.shape[:2], -1))
    return (profile / n).reshape(*mean.shape[:2], nx, ny)

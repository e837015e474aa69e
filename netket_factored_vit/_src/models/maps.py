"""Reading the attention weights of a built model."""

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn


def attention_maps(model: nn.Module, variables: Any, sigma: jax.Array) -> jax.Array:
    r"""Attention weights :math:`\alpha^\mu_{ij}` of every layer and head.

    Every attention module stores its weights with ``sow("intermediates",
    "attention_weights", ...)``; this applies the model once with that
    collection mutable and stacks what was stored, layer by layer.

    Args:
        model: a :class:`~netket_factored_vit.models.ViT` (or any module whose
            attention layers are named ``block_<l>``).
        variables: the model variables (``{"params": ...}``, e.g. ``vstate.variables``)
            or the bare parameter tree (``vstate.parameters``).
        sigma: configurations of shape ``(B, N)``.

    Returns:
        An array of shape ``(num_layers, B, num_heads, n, n)``; entry
        ``[l, b, mu, i, j]`` is the weight with which token ``i`` reads token ``j``
        in head ``mu`` of layer ``l`` for sample ``b``. Input-independent weights
        (factored attention) are broadcast over the batch.

    Example:

    >>> alpha = nfv.models.attention_maps(model, vstate.variables, vstate.samples[:8, 0])
    """
    if "params" not in variables:
        variables = {"params": variables}
    sigma = jnp.asarray(sigma)
    if sigma.ndim != 2:
        raise ValueError(f"sigma must have shape (B, N), got shape {sigma.shape}.")
    _, state = model.apply(variables, sigma, mutable=["intermediates"])
    blocks = state["intermediates"]
    names = sorted(
        (k for k in blocks if k.startswith("block_")), key=lambda k: int(k.split("_")[1])
    )
    if not names:
        raise ValueError(f"{type(model).__name__} has no attention layers named 'block_<l>'.")
    batch = sigma.shape[0]
    maps = []
    for name in names:
        (alpha,) = blocks[name]["attention"]["attention_weights"]
        if alpha.ndim == 3:
            alpha = jnp.broadcast_to(alpha, (batch, *alpha.shape))
        maps.append(alpha)
    return jnp.stack(maps)

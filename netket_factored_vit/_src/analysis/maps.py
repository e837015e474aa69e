"""Reading the attention weights of a built model."""

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from netket_factored_vit._src.models.symmetrize import Symmetrized


def unwrap_model(model: nn.Module, variables: Any) -> tuple[nn.Module, dict]:
    """The model whose attention is analysed, and its variables as ``{"params": ...}``.

    Accepts the full variables or the bare parameter tree, and looks through a
    :class:`~netket_factored_vit.models.Symmetrized` wrapper to the model it projects: the
    attention weights are those of the wrapped network on the configurations given.
    """
    if "params" not in variables:
        variables = {"params": variables}
    while isinstance(model, Symmetrized):
        model = model.model
        variables = {**variables, "params": variables["params"]["model"]}
    return model, variables


def check_configurations(
    sigma: Any, *, minimum: int = 1, caller: str, flatten: bool = False
) -> jax.Array:
    """Return ``sigma`` as a ``(B, N)`` array, or raise a ValueError naming its shape or
    its values, which must be :math:`\\pm 1` (NetKet's ``Spin(0.5)``): the models take
    0/1 occupations without an error but give other amplitudes.

    With ``flatten``, any leading axes (e.g. the chains of ``vstate.samples``) are merged.
    """
    sigma = jnp.asarray(sigma)
    if flatten and sigma.ndim > 2:
        sigma = sigma.reshape(-1, sigma.shape[-1])
    if sigma.ndim != 2:
        allowed = "(..., N)" if flatten else "(B, N)"
        raise ValueError(f"{caller}: sigma must have shape {allowed}, got shape {sigma.shape}.")
    if sigma.shape[0] < minimum:
        raise ValueError(
            f"{caller}: needs at least {minimum} configurations, got sigma of shape {sigma.shape}."
        )
    if not bool(jnp.all(jnp.abs(sigma) == 1)):
        values = np.unique(np.asarray(sigma))
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise ValueError(
            f"{caller}: sigma must hold spins -1 and +1 (NetKet's Spin(0.5)), got the values "
            f"{shown}; convert 0/1 occupations with 2 * sigma - 1."
        )
    return sigma


def check_chunk_size(chunk_size: int) -> int:
    """Return ``chunk_size`` as an int, or raise a ValueError saying what is allowed."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    return int(chunk_size)


def chunks(sigma: jax.Array, chunk_size: int) -> Iterator[jax.Array]:
    """Consecutive slices of at most ``chunk_size`` configurations."""
    for start in range(0, sigma.shape[0], chunk_size):
        yield sigma[start : start + chunk_size]


def attention_maps(model: nn.Module, variables: Any, sigma: jax.Array) -> jax.Array:
    r"""Attention weights :math:`\alpha^\mu_{ij}` of every layer and head.

    Every attention module stores its weights with ``sow("intermediates",
    "attention_weights", ...)``; this applies the model once with that
    collection mutable and stacks what was stored, layer by layer.

    Args:
        model: a :class:`~netket_factored_vit.models.ViT` (or any module whose
            attention layers are named ``block_<l>``); a
            :class:`~netket_factored_vit.models.Symmetrized` model is read through the
            model it wraps.
        variables: the model variables (``{"params": ...}``, e.g. ``vstate.variables``)
            or the bare parameter tree (``vstate.parameters``).
        sigma: configurations of shape ``(B, N)``.

    Returns:
        An array of shape ``(num_layers, B, num_heads, n, n)``; entry
        ``[l, b, mu, i, j]`` is the weight with which token ``i`` reads token ``j``
        in head ``mu`` of layer ``l`` for sample ``b``. Input-independent weights
        (factored attention) are broadcast over the batch.

    Example:

    >>> alpha = nfv.analysis.attention_maps(model, vstate.variables, vstate.samples[:8, 0])
    """
    sigma = check_configurations(sigma, caller="attention_maps")
    model, variables = unwrap_model(model, variables)
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

r"""How much the attention weights depend on the input configuration.

Factored attention has weights :math:`\alpha^\mu_{ij}` that are the same for every
configuration; query-key attention (T5, decoupled) computes them from the
configuration. The measures here say how far a trained query-key model is from
the factored form, layer by layer and head by head.
"""

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
from netket_factored_vit._src.models.attention import (
    AttentionBase,
    DecoupledAttention,
    FactoredAttention,
    resolve_attention,
)


def input_dependence(
    model: nn.Module, variables: Any, sigma: jax.Array, *, chunk_size: int = 256
) -> np.ndarray:
    r"""Relative spread of the attention weights over configurations, per layer and head.

    For layer :math:`l` and head :math:`\mu`, with the weights
    :math:`\alpha_{ij}(\sigma)` evaluated on the :math:`B` configurations
    :math:`\sigma_1, \dots, \sigma_B`,

    .. math::

        I_{l\mu} = \frac{\sum_{ij} \mathrm{std}_b\, \alpha_{ij}(\sigma_b)}
                        {\sum_{ij} \mathrm{mean}_b\, |\alpha_{ij}(\sigma_b)|},
        \qquad
        \mathrm{std}_b\, x_b = \Big(\frac{1}{B}\sum_b (x_b - \bar x)^2\Big)^{1/2}:

    the mean over token pairs of the standard deviation of :math:`\alpha_{ij}` over
    configurations, divided by the mean of :math:`|\alpha_{ij}|`. It is scale-free
    (unchanged when every weight of a head is multiplied by the same non-zero number),
    exactly 0 for factored attention, whose weights do not depend on :math:`\sigma`, and
    positive for T5 or decoupled attention with generic query and key weights. A head
    whose weights are all zero gets 0.

    Deviations are taken from the first configuration's weights before they are
    squared, so input-independent weights give exactly 0, not a rounding error.

    Args:
        model: a :class:`~netket_factored_vit.models.ViT`, possibly inside
            :class:`~netket_factored_vit.models.Symmetrized`.
        variables: ``{"params": ...}`` or the bare parameter tree.
        sigma: configurations of shape ``(B, N)`` with ``B >= 2``, e.g. samples of the
            state (a few hundred are enough); leading axes, such as the chains of
            ``vstate.samples``, are merged into ``B``.
        chunk_size: configurations evaluated at once (bounds the memory used).

    Returns:
        A float array of shape ``(num_layers, num_heads)`` with entries :math:`\geq 0`.
    """
    sigma = check_configurations(sigma, minimum=2, caller="input_dependence", flatten=True)
    chunk_size = check_chunk_size(chunk_size)
    reference = None
    total = deviation = deviation_squared = magnitude = 0.0
    for batch in chunks(sigma, chunk_size):
        alpha = np.asarray(attention_maps(model, variables, batch))  # (L, b, H, n, n)
        if reference is None:
            reference = alpha[:, :1]
        d = alpha - reference
        total += alpha.shape[1]
        deviation = deviation + d.sum(axis=1)
        deviation_squared = deviation_squared + (d * d).sum(axis=1)
        magnitude = magnitude + np.abs(alpha).sum(axis=1)
    mean_deviation = deviation / total
    variance = np.maximum(deviation_squared / total - mean_deviation**2, 0.0)
    spread = np.sqrt(variance).sum(axis=(-2, -1))
    size = (magnitude / total).sum(axis=(-2, -1))
    safe = np.where(size > 0, size, 1.0)
    return np.where(size > 0, spread / safe, 0.0)


def _decoupled_parts(model: nn.Module, variables: dict, sigma: jax.Array) -> list:
    """``(content, position)`` of every decoupled layer, captured while the model runs."""
    parts = []

    def capture(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "attention_weights" and isinstance(module, DecoupledAttention):
            (x,) = args
            content = jax.nn.softmax(module.content_logits(x), axis=-1)
            parts.append((np.asarray(content), np.asarray(module.positional_term())))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(capture):
        model.apply(variables, sigma)
    return parts


def content_position_split(
    model: nn.Module, variables: Any, sigma: jax.Array, *, chunk_size: int = 256
) -> dict[str, np.ndarray]:
    r"""Relative size of the content and the positional part of decoupled attention.

    :class:`~netket_factored_vit.models.DecoupledAttention` adds a content part and a
    positional part,
    :math:`\alpha^\mu_{ij} = C^\mu_{ij}(\sigma) + P^\mu_{ij}` with
    :math:`C^\mu = \mathrm{softmax}_j(q^\mu_i\cdot k^\mu_j/\sqrt{d_h})` and
    :math:`P^\mu_{ij} = a^\mu(r_j - r_i)`. With Frobenius norms over the token pairs
    and the content norm averaged over the configurations,

    .. math::

        c_{l\mu} = \frac{\mathrm{mean}_b \lVert C^\mu(\sigma_b) \rVert}
                        {\mathrm{mean}_b \lVert C^\mu(\sigma_b) \rVert + \lVert P^\mu \rVert},
        \qquad p_{l\mu} = 1 - c_{l\mu}.

    Both lie in :math:`[0, 1]` and add up to 1. Note that the softmax rows sum to 1, so
    even with vanishing queries and keys the content part is the uniform
    :math:`1/n` (then decoupled attention is factored attention with a shifted table):
    read :math:`c` together with :func:`input_dependence`.

    Args:
        model: a :class:`~netket_factored_vit.models.ViT` with decoupled attention,
            possibly inside :class:`~netket_factored_vit.models.Symmetrized`.
        variables: ``{"params": ...}`` or the bare parameter tree.
        sigma: configurations of shape ``(B, N)`` (leading axes are merged into ``B``).
        chunk_size: configurations evaluated at once (bounds the memory used).

    Returns:
        ``{"content": c, "position": p}``, two float arrays of shape
        ``(num_layers, num_heads)``.

    Raises:
        ValueError: if the model's attention is not decoupled attention.
    """
    sigma = check_configurations(sigma, caller="content_position_split", flatten=True)
    chunk_size = check_chunk_size(chunk_size)
    inner, variables = unwrap_model(model, variables)
    attention = getattr(inner, "attention", None)
    if attention is not None and not isinstance(resolve_attention(attention), DecoupledAttention):
        raise ValueError(
            "content_position_split needs a model with DecoupledAttention (attention="
            f"'decoupled'); this {type(inner).__name__} uses "
            f"{type(resolve_attention(attention)).__name__}, whose weights have no separate "
            "content and positional parts."
        )
    content_norm = position_norm = 0.0
    for batch in chunks(sigma, chunk_size):
        parts = _decoupled_parts(inner, variables, batch)
        if not parts:
            raise ValueError(
                f"content_position_split found no DecoupledAttention layer in "
                f"{type(inner).__name__}; it applies to models with attention='decoupled'."
            )
        content = np.stack([c for c, _ in parts])  # (L, b, H, n, n)
        content_norm = content_norm + np.sqrt((content**2).sum(axis=(-2, -1))).sum(axis=1)
        position_norm = np.stack([np.sqrt((p**2).sum(axis=(-2, -1))) for _, p in parts])
    content_norm = content_norm / sigma.shape[0]
    content = content_norm / (content_norm + position_norm)
    return {"content": content, "position": 1.0 - content}


def is_input_dependent(attention: "str | AttentionBase") -> bool:
    """Whether an attention (name or module) computes its weights from the input.

    False for factored attention, True for T5 and decoupled (query-key) attention.
    """
    return not isinstance(resolve_attention(attention), FactoredAttention)

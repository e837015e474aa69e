r"""Multi-head attention with factored, T5 and decoupled attention weights.

The three mechanisms share everything except how the weights
:math:`\alpha^\mu_{ij}` are built: the value projection, the split into heads,
the merge and the output projection, and the learned positional table indexed
by the displacement between patches, live in :class:`AttentionBase`. Each
subclass only implements :meth:`AttentionBase.attention_weights`.

Tokens are the :math:`b \times b` patches of an :math:`L_x \times L_y` lattice
with periodic boundaries, so their positions :math:`r_i` live on the
:math:`(L_x/b) \times (L_y/b)` torus of patches; token ``i`` sits at
``(i // (Ly/b), i % (Ly/b))``.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from netket.utils.types import DType, NNInitFunc

default_kernel_init = nn.initializers.lecun_normal()
default_bias_init = nn.initializers.zeros
default_positional_init = nn.initializers.normal(stddev=0.1)


def check_size(owner: str, name: str, value: Any) -> None:
    """Raise a ``ValueError`` naming ``owner.name`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}.")


def check_lattice_shape(owner: str, name: str, value: Any) -> None:
    """Raise a ``ValueError`` unless ``value`` is a pair of positive integers."""
    try:
        sides = tuple(value)
    except TypeError:
        sides = ()
    if len(sides) != 2 or any(
        isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in sides
    ):
        raise ValueError(f"{owner}: {name} must be two positive integers (Lx, Ly), got {value!r}.")


def displacement_index(patch_grid: tuple[int, int]) -> np.ndarray:
    r"""Index of the displacement :math:`r_j - r_i` on the torus of patches.

    Args:
        patch_grid: shape :math:`(P_x, P_y)` of the torus of patches.

    Returns:
        An integer array ``D`` of shape ``(n, n)``, :math:`n = P_x P_y`, with
        ``D[i, j] = ((xj - xi) % Px) * Py + (yj - yi) % Py``.
    """
    px, py = patch_grid
    x, y = np.divmod(np.arange(px * py), py)
    dx = (x[None, :] - x[:, None]) % px
    dy = (y[None, :] - y[:, None]) % py
    return (dx * py + dy).astype(np.int32)


class AttentionBase(nn.Module):
    r"""Multi-head attention over patch tokens, generic in how the weights are made.

    For :math:`h` heads of size :math:`d_h = d / h` the layer computes

    .. math::

        v_j = W_V x_j + b_V, \qquad
        A^\mu_i = \sum_j \alpha^\mu_{ij} v^\mu_j, \qquad
        y_i = W_O \,\mathrm{concat}_\mu(A^\mu_i) + b_O,

    where the weights :math:`\alpha^\mu_{ij}` come from
    :meth:`attention_weights`, the only method a subclass implements.

    The geometric fields (``d_model``, ``num_heads``, ``patch_grid``) may be left
    to ``None`` when an instance is handed to :class:`~netket_factored_vit.models.ViT`:
    the ViT fills them in and clones the module once per layer, so every layer
    owns its parameters.

    The weights of every call are stored with ``self.sow("intermediates",
    "attention_weights", alpha)``: apply with ``mutable=["intermediates"]`` to
    read them, or use :func:`~netket_factored_vit.models.attention_maps`.
    """

    d_model: int | None = None
    """Width :math:`d` of the tokens (filled in by the ViT)."""
    num_heads: int | None = None
    """Number of heads :math:`h`; must divide ``d_model`` (filled in by the ViT)."""
    patch_grid: tuple[int, int] | None = None
    """Shape :math:`(L_x/b, L_y/b)` of the torus of patch positions (filled in by the ViT)."""
    translation_invariant: bool = True
    """If True the positional term depends on :math:`r_j - r_i` only (h n numbers), else on
    (i, j) (h n^2 numbers)."""
    param_dtype: DType = jnp.float64
    """Dtype of the (real) parameters."""
    kernel_init: NNInitFunc = default_kernel_init
    """Initializer of the projection matrices."""
    bias_init: NNInitFunc = default_bias_init
    """Initializer of the projection biases."""
    positional_init: NNInitFunc = default_positional_init
    """Initializer of the positional table."""

    @property
    def num_tokens(self) -> int:
        """Number of tokens :math:`n`, the sites of the torus of patches."""
        return int(self.patch_grid[0] * self.patch_grid[1])

    @property
    def head_size(self) -> int:
        """Size :math:`d_h = d / h` of each head."""
        return self.d_model // self.num_heads

    def num_parameters(self, *, d_model: int, num_heads: int, num_tokens: int) -> int:
        """Number of parameters of one layer of this attention, before it is built.

        Args:
            d_model: width of the tokens.
            num_heads: number of heads.
            num_tokens: number of tokens :math:`n`.
        """
        positional = num_heads * num_tokens
        if not self.translation_invariant:
            positional *= num_tokens
        # W_V and W_O, each with a bias
        return 2 * d_model * d_model + 2 * d_model + positional

    def _check_geometry(self):
        missing = [k for k in ("d_model", "num_heads", "patch_grid") if getattr(self, k) is None]
        if missing:
            raise ValueError(
                f"{type(self).__name__} needs {', '.join(missing)} to be set before it is "
                "used on its own; inside a ViT they are filled in automatically."
            )
        owner = type(self).__name__
        check_size(owner, "d_model", self.d_model)
        check_size(owner, "num_heads", self.num_heads)
        check_lattice_shape(owner, "patch_grid", self.patch_grid)
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}."
            )

    def setup(self):
        """Creates the positional table and the value and output projections.

        Raises:
            ValueError: if ``d_model``, ``num_heads`` or ``patch_grid`` is unset or not
                positive, or ``num_heads`` does not divide ``d_model``.
        """
        self._check_geometry()
        n = self.num_tokens
        if self.translation_invariant:
            self.positional_table = self.param(
                "positional_table", self.positional_init, (self.num_heads, n), self.param_dtype
            )
        else:
            self.positional_table = self.param(
                "positional_table",
                self.positional_init,
                (self.num_heads, n, n),
                self.param_dtype,
            )
        self.value = nn.Dense(
            self.d_model,
            param_dtype=self.param_dtype,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            name="value",
        )
        self.output = nn.Dense(
            self.d_model,
            param_dtype=self.param_dtype,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            name="output",
        )

    def positional_term(self) -> jax.Array:
        r"""The positional term :math:`a^\mu_{ij}` as an array of shape ``(h, n, n)``."""
        if self.translation_invariant:
            return self.positional_table[:, displacement_index(self.patch_grid)]
        return self.positional_table

    def split_heads(self, x: jax.Array) -> jax.Array:
        """Reshape ``(..., n, d)`` into ``(..., n, h, d_h)``."""
        return x.reshape(*x.shape[:-1], self.num_heads, self.head_size)

    def attention_weights(self, x: jax.Array) -> jax.Array:
        r"""The weights :math:`\alpha^\mu_{ij}` for tokens ``x`` of shape ``(B, n, d)``.

        Returns:
            An array of shape ``(B, h, n, n)``, or ``(h, n, n)`` when the weights
            do not depend on the input.
        """
        raise NotImplementedError

    def __call__(self, x: jax.Array) -> jax.Array:
        """Attention over tokens ``x`` of shape ``(B, n, d)``; returns ``(B, n, d)``."""
        alpha = self.attention_weights(x)
        self.sow("intermediates", "attention_weights", alpha)
        v = self.split_heads(self.value(x))
        if alpha.ndim == 3:
            # input-independent weights: no batch axis to carry around
            a = jnp.einsum("hij,bjhc->bihc", alpha, v)
        else:
            a = jnp.einsum("bhij,bjhc->bihc", alpha, v)
        return self.output(a.reshape(*a.shape[:-2], self.d_model))


class FactoredAttention(AttentionBase):
    r"""Factored attention: weights that depend on positions only.

    .. math::

        \alpha^\mu_{ij} = a^\mu(r_j - r_i)

    (or a full learned matrix :math:`a^\mu_{ij}` with
    ``translation_invariant=False``). No queries, no keys, no softmax: the
    weights are the same for every input.
    """

    def attention_weights(self, x: jax.Array) -> jax.Array:
        r"""The positional term :math:`a^\mu(r_j - r_i)`, shape ``(h, n, n)``; ``x`` is unused."""
        del x
        return self.positional_term()


class _QueryKeyAttention(AttentionBase):
    """Adds the query and key projections shared by T5 and decoupled attention."""

    def num_parameters(self, *, d_model: int, num_heads: int, num_tokens: int) -> int:
        base = super().num_parameters(d_model=d_model, num_heads=num_heads, num_tokens=num_tokens)
        # W_Q and W_K, each with a bias
        return base + 2 * d_model * d_model + 2 * d_model

    def setup(self):
        super().setup()
        self.query = nn.Dense(
            self.d_model,
            param_dtype=self.param_dtype,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            name="query",
        )
        self.key = nn.Dense(
            self.d_model,
            param_dtype=self.param_dtype,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            name="key",
        )

    def content_logits(self, x: jax.Array) -> jax.Array:
        r"""Logits :math:`q^\mu_i \cdot k^\mu_j / \sqrt{d_h}`, of shape ``(B, h, n, n)``."""
        q = self.split_heads(self.query(x))
        k = self.split_heads(self.key(x))
        return jnp.einsum("bihc,bjhc->bhij", q, k) / np.sqrt(self.head_size).astype(q.dtype)


class T5Attention(_QueryKeyAttention):
    r"""Query-key attention with a learned relative-position bias inside the softmax.

    .. math::

        \alpha^\mu_{ij} = \mathrm{softmax}_j\left(
            \frac{q^\mu_i \cdot k^\mu_j}{\sqrt{d_h}} + a^\mu(r_j - r_i) \right)
    """

    def attention_weights(self, x: jax.Array) -> jax.Array:
        r"""The softmax over ``j`` of the content logits plus :math:`a^\mu(r_j - r_i)`.

        Args:
            x: tokens of shape ``(B, n, d)``.

        Returns:
            An array of shape ``(B, h, n, n)`` whose rows sum to 1.
        """
        return jax.nn.softmax(self.content_logits(x) + self.positional_term(), axis=-1)


class DecoupledAttention(_QueryKeyAttention):
    r"""Query-key attention with the positional term added after the softmax.

    .. math::

        \alpha^\mu_{ij} = \mathrm{softmax}_j\left(
            \frac{q^\mu_i \cdot k^\mu_j}{\sqrt{d_h}} \right) + a^\mu(r_j - r_i)

    The content part and the positional part are computed separately, so each
    can be inspected on its own. This is the definition used by this package.
    """

    def attention_weights(self, x: jax.Array) -> jax.Array:
        r"""The softmax over ``j`` of the content logits, plus :math:`a^\mu(r_j - r_i)`.

        Args:
            x: tokens of shape ``(B, n, d)``.

        Returns:
            An array of shape ``(B, h, n, n)``; the rows of the content part sum to 1.
        """
        return jax.nn.softmax(self.content_logits(x), axis=-1) + self.positional_term()


ATTENTIONS: dict[str, Any] = {
    "factored": FactoredAttention,
    "t5": T5Attention,
    "decoupled": DecoupledAttention,
}
"""Attention classes by the name accepted by the ``attention`` field of the ViT."""


def resolve_attention(attention: "str | AttentionBase") -> AttentionBase:
    """Return an (unbound, geometry-free) attention module for a name or an instance."""
    if isinstance(attention, AttentionBase):
        return attention
    if isinstance(attention, str) and attention.lower() in ATTENTIONS:
        return ATTENTIONS[attention.lower()]()
    raise ValueError(
        f"Unknown attention {attention!r}; allowed names are {sorted(ATTENTIONS)}, "
        "or an instance of FactoredAttention, T5Attention or DecoupledAttention."
    )

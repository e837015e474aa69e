r"""The Vision Transformer wave function.

Architecture:

1. patch embedding :math:`x_i = W_e \sigma_{\mathrm{patch}\,i} + b_e`, no positional embedding;
2. ``num_layers`` pre-LayerNorm encoder blocks
   :math:`x \leftarrow x + \mathrm{MHA}(\mathrm{LN}(x))`,
   :math:`x \leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))`;
3. sum pooling :math:`z = \mathrm{LN}(\sum_i x_i)` and one of two heads (``output``):
   the complex :math:`\log\psi = \sum_a \log\cosh u_a`,
   :math:`u = \mathrm{LN}(W_r z + b_r) + i\,\mathrm{LN}(W_i z + b_i)`, or Marshall's sign
   times a real amplitude that can change sign.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from netket.nn.activation import log_cosh
from netket.utils.types import DType, NNInitFunc

from netket_factored_vit._src.models.attention import (
    AttentionBase,
    check_lattice_shape,
    check_size,
    default_bias_init,
    default_kernel_init,
    default_positional_init,
    resolve_attention,
)
from netket_factored_vit._src.models.symmetry_group import SymmetryGroup
from netket_factored_vit._src.systems.lattices import marshall_sublattice

OUTPUTS = ("log-cosh", "marshall-signed")
"""The heads of the :class:`ViT` (its ``output`` field)."""


def extract_patches(x: jax.Array, lattice_shape: tuple[int, int], patch_size: int) -> jax.Array:
    r"""Cut configurations into :math:`b \times b` patches.

    Args:
        x: configurations of shape ``(B, Lx * Ly)``, site ``i = x * Ly + y``.
        lattice_shape: ``(Lx, Ly)``.
        patch_size: side :math:`b` of a patch.

    Returns:
        Tokens of shape ``(B, n, b * b)`` with ``n = Lx Ly / b^2``; token ``px * (Ly / b) + py``
        holds the sites ``(px * b + u, py * b + v)`` in the order ``u * b + v``.
    """
    lx, ly = lattice_shape
    b = patch_size
    x = x.reshape(x.shape[0], lx // b, b, ly // b, b)
    x = x.transpose(0, 1, 3, 2, 4)
    return x.reshape(x.shape[0], (lx // b) * (ly // b), b * b)


def _dense(owner: nn.Module, features: int, name: str) -> nn.Dense:
    """A Dense layer with the owner's dtype and initializers."""
    return nn.Dense(
        features,
        param_dtype=owner.param_dtype,
        kernel_init=owner.kernel_init,
        bias_init=owner.bias_init,
        name=name,
    )


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer block: attention then feed-forward, both residual."""

    attention: AttentionBase | None = None
    """The attention module of this block (with its geometry filled in)."""
    d_model: int = 16
    """Width of the tokens."""
    mlp_ratio: int = 4
    """Hidden width of the feed-forward network in units of ``d_model``."""
    param_dtype: DType = jnp.float64
    """Dtype of the parameters."""
    kernel_init: NNInitFunc = default_kernel_init
    """Initializer of the dense matrices."""
    bias_init: NNInitFunc = default_bias_init
    """Initializer of the dense biases."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = nn.LayerNorm(param_dtype=self.param_dtype, name="norm_attention")(x)
        x = x + self.attention(y)
        y = nn.LayerNorm(param_dtype=self.param_dtype, name="norm_mlp")(x)
        y = _dense(self, self.mlp_ratio * self.d_model, "mlp_hidden")(y)
        y = nn.gelu(y)
        y = _dense(self, self.d_model, "mlp_output")(y)
        return x + y


class ViT(nn.Module):
    r"""Vision Transformer wave function on an :math:`L_x \times L_y` periodic lattice.

    Input: spin configurations of shape ``(..., Lx * Ly)`` with values in
    :math:`\{-1, +1\}` (NetKet's ``Spin(0.5)`` convention), site ``i = x * Ly + y``.
    Output: complex log-amplitudes of shape ``(...)``. All parameters are real.

    The values are not checked (that would cost a pass over every batch inside ``jit``):
    0/1 occupations, for example, give other log-amplitudes without an error. Convert
    them with ``2 * n - 1``. The functions of :mod:`netket_factored_vit.analysis` refuse
    such configurations.

    The configuration is cut into :math:`b \times b` patches (tokens), embedded
    linearly (no positional embedding: positions enter only through the
    attention weights), passed through ``num_layers`` pre-LayerNorm encoder
    blocks, summed over tokens and mapped to

    .. math::

        \log\psi(\sigma) = \sum_{a=1}^{d} \log\cosh(u_a), \qquad
        u = \mathrm{LN}(W_r z + b_r) + i\, \mathrm{LN}(W_i z + b_i), \qquad
        z = \mathrm{LN}\Big(\sum_i x_i\Big).

    With ``output="marshall-signed"`` the head is instead Marshall's sign times a real
    amplitude whose sign the network sets (the sign structure of A. Chen and M. Heyl,
    Nat. Phys. 20, 1476 (2024), whose ResNet multiplies real features that can change
    sign):

    .. math::

        \psi(\sigma) = (-1)^{N_\uparrow^A(\sigma)}\; s(\sigma)\,
            \exp\Big(\sum_{a=1}^{d} \log\cosh v_a\Big), \qquad
        v = \mathrm{LN}(W_r z + b_r), \qquad s = w_s \cdot z + b_s,

    with :math:`N_\uparrow^A` the up spins on the sites of even :math:`x + y`. The state is
    real and starts with Marshall's sign (:math:`w_s = 0`, :math:`b_s = 1`); a
    configuration leaves it where :math:`s` passes through zero, which needs no gradient
    along a phase. Both sides of the lattice must be even.

    With translation-invariant attention (the default for every kind), the
    network is exactly invariant under translations by whole patches.

    The number of parameters is known before initialisation
    (:attr:`num_parameters`); for factored attention with a translation-invariant
    table and ``patch_size = 2``, ``mlp_ratio = 4``:

    .. math::

        P = 13 d + 2 d^2 + n_l (10 d^2 + 11 d + h n).

    Example:

    >>> import netket_factored_vit as nfv
    >>> model = nfv.models.ViT(lattice_shape=(4, 4), d_model=16, num_heads=2, num_layers=2)
    >>> model.num_parameters
    6208
    """

    lattice_shape: tuple[int, int] = (4, 4)
    """Sides ``(Lx, Ly)`` of the periodic lattice; both multiples of ``patch_size``."""
    patch_size: int = 2
    """Side :math:`b` of the square patches that form the tokens."""
    d_model: int = 16
    """Embedding width :math:`d`."""
    num_heads: int = 2
    """Number of attention heads :math:`h`; must divide ``d_model``."""
    num_layers: int = 2
    """Number of encoder blocks :math:`n_l`."""
    attention: str | AttentionBase = "factored"
    """``"factored"``, ``"t5"``, ``"decoupled"``, or an attention module instance (cloned per
    layer)."""
    mlp_ratio: int = 4
    """Hidden width of the feed-forward network in units of ``d_model``."""
    param_dtype: DType = jnp.float64
    """Dtype of the (real) parameters; float32 also works."""
    kernel_init: NNInitFunc = default_kernel_init
    """Initializer of the dense matrices."""
    bias_init: NNInitFunc = default_bias_init
    """Initializer of the dense biases."""
    positional_init: NNInitFunc = default_positional_init
    """Initializer of the attention's positional table."""
    output: str = "log-cosh"
    """The head: ``"log-cosh"`` (complex, the study's) or ``"marshall-signed"`` (Marshall's
    sign times a real amplitude that can change sign); see above."""

    def __post_init__(self):
        # every size is checked here: a zero or negative one would otherwise fail deep in
        # flax or XLA (ZeroDivisionError, MLIRError), or not at all (num_layers=-1)
        check_lattice_shape("ViT", "lattice_shape", self.lattice_shape)
        for name in ("patch_size", "d_model", "num_heads", "num_layers", "mlp_ratio"):
            check_size("ViT", name, getattr(self, name))
        lx, ly = self.lattice_shape
        b = self.patch_size
        if lx % b != 0 or ly % b != 0:
            raise ValueError(
                f"lattice_shape={tuple(self.lattice_shape)} has sides that are not multiples of "
                f"patch_size={b}; choose a patch size dividing both sides."
            )
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}."
            )
        resolve_attention(self.attention)
        if self.output not in OUTPUTS:
            raise ValueError(f"output={self.output!r} is not one of {list(OUTPUTS)}.")
        if self.output == "marshall-signed" and (lx % 2 or ly % 2):
            raise ValueError(
                f"output='marshall-signed' needs Marshall's sign, which a periodic lattice has "
                f"only with both sides even; lattice_shape={tuple(self.lattice_shape)}."
            )
        super().__post_init__()

    @property
    def n_sites(self) -> int:
        """Number of lattice sites :math:`N = L_x L_y`."""
        return int(self.lattice_shape[0] * self.lattice_shape[1])

    @property
    def patch_grid(self) -> tuple[int, int]:
        """Shape ``(Lx / b, Ly / b)`` of the torus of patches."""
        return (self.lattice_shape[0] // self.patch_size, self.lattice_shape[1] // self.patch_size)

    @property
    def num_tokens(self) -> int:
        """Number of tokens :math:`n = N / b^2`."""
        return self.n_sites // self.patch_size**2

    @property
    def num_parameters(self) -> int:
        r"""Number of real parameters, computed from the fields without building the model.

        With :math:`m` = ``mlp_ratio`` and :math:`n` tokens,

        .. math::

            P = (b^2 + 9) d + 2 d^2 + n_l \left[ (2 m + 2) d^2 + (m + 7) d + P_\alpha \right],

        where :math:`P_\alpha` is :math:`h n` for a translation-invariant positional table
        (:math:`h n^2` for the general one), plus :math:`2 d^2 + 2 d` for the queries and keys
        of T5 and decoupled attention. The ``"marshall-signed"`` head has
        :math:`d^2 + 2 d - 1` parameters fewer.
        """
        d, b, m = self.d_model, self.patch_size, self.mlp_ratio
        embedding = (b * b + 1) * d
        # final LN on z, then Dense(d) + LayerNorm for the real part and, in the complex
        # head, for the imaginary part; the Marshall-signed head has Dense(1) for the sign
        real = d * d + d + 2 * d
        sign = d + 1
        head = 2 * d + real + (sign if self.output == "marshall-signed" else real)
        norms = 4 * d
        mlp = 2 * m * d * d + m * d + d
        attention = resolve_attention(self.attention).num_parameters(
            d_model=d, num_heads=self.num_heads, num_tokens=self.num_tokens
        )
        return embedding + head + self.num_layers * (norms + mlp + attention)

    @property
    def symmetry_group(self) -> SymmetryGroup:
        r"""The translations by whole patches, under which the ViT is exactly invariant when
        its attention is translation-invariant (the default); the identity alone for the
        general positional table."""
        if not resolve_attention(self.attention).translation_invariant:
            return SymmetryGroup.trivial(self.n_sites)
        lx, ly = self.lattice_shape
        b = self.patch_size
        x, y = np.divmod(np.arange(lx * ly), ly)
        generators = [
            (((x + dx) % lx) * ly + (y + dy) % ly, False, f"shift by ({dx}, {dy})")
            for dx, dy in ((b, 0), (0, b))
        ]
        return SymmetryGroup.generated_by(self.n_sites, generators)

    def _layer_attention(self) -> AttentionBase:
        # a fresh, unbound copy per layer: a user-passed instance must not share
        # its parameters between layers
        template = resolve_attention(self.attention)
        # an attention named by a string takes the ViT's initializers; an instance
        # keeps its own
        inits = (
            {
                "kernel_init": self.kernel_init,
                "bias_init": self.bias_init,
                "positional_init": self.positional_init,
            }
            if isinstance(self.attention, str)
            else {}
        )
        return template.clone(
            parent=None,
            d_model=self.d_model,
            num_heads=self.num_heads,
            patch_grid=self.patch_grid,
            param_dtype=self.param_dtype,
            name=None,
            **inits,
        )

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[-1] != self.n_sites:
            raise ValueError(
                f"Input configurations have length {x.shape[-1]}, but the ViT on lattice_shape="
                f"{tuple(self.lattice_shape)} expects Lx * Ly = {self.n_sites}."
            )
        batch_shape = x.shape[:-1]
        x = jnp.asarray(x, self.param_dtype).reshape(-1, self.n_sites)
        x_in = x

        x = extract_patches(x, self.lattice_shape, self.patch_size)
        x = _dense(self, self.d_model, "embedding")(x)
        for layer in range(self.num_layers):
            x = EncoderBlock(
                attention=self._layer_attention(),
                d_model=self.d_model,
                mlp_ratio=self.mlp_ratio,
                param_dtype=self.param_dtype,
                kernel_init=self.kernel_init,
                bias_init=self.bias_init,
                name=f"block_{layer}",
            )(x)

        z = jnp.sum(x, axis=-2)
        z = nn.LayerNorm(param_dtype=self.param_dtype, name="norm_pool")(z)
        re = nn.LayerNorm(param_dtype=self.param_dtype, name="norm_real")(
            _dense(self, self.d_model, "real")(z)
        )
        if self.output == "marshall-signed":
            return self._marshall_signed(x_in, re, z).reshape(batch_shape)
        im = nn.LayerNorm(param_dtype=self.param_dtype, name="norm_imag")(
            _dense(self, self.d_model, "imag")(z)
        )
        log_psi = jnp.sum(log_cosh(re + 1j * im), axis=-1)
        return log_psi.reshape(batch_shape)

    def _marshall_signed(self, sigma: jax.Array, v: jax.Array, z: jax.Array) -> jax.Array:
        """The ``"marshall-signed"`` head: the log of Marshall's sign times
        ``s exp(sum log cosh v)``."""
        # w_s = 0, b_s = 1 at the start: the initial state has Marshall's sign exactly
        s = nn.Dense(
            1,
            param_dtype=self.param_dtype,
            kernel_init=nn.initializers.zeros,
            bias_init=nn.initializers.ones,
            name="sign",
        )(z)[..., 0]
        on_a = jnp.asarray(marshall_sublattice(*self.lattice_shape))
        ups_on_a = jnp.sum(jnp.where(on_a, sigma > 0, False), axis=-1)
        # a negative s or an odd count of up spins on A each add a phase pi
        negative = jnp.logical_xor(s < 0, ups_on_a % 2 == 1)
        log_amplitude = jnp.sum(log_cosh(v), axis=-1) + jnp.log(jnp.abs(s))
        return jax.lax.complex(log_amplitude, jnp.where(negative, jnp.pi, 0.0).astype(s.dtype))

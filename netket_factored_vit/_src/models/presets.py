"""Named ViT sizes, decoded in one place.

================  ========  ===  ===  ======  =====  =========================================
name              lattice   d    h    layers  patch  parameters (factored attention)
================  ========  ===  ===  ======  =====  =========================================
published_10x10   10 x 10   72   12   8       2      434,760 (Rende & Viteritti 2025, 10x10)
small             4 x 4     16   2    2       2      6,208 (quick runs on a laptop CPU)
================  ========  ===  ===  ======  =====  =========================================
"""

from types import MappingProxyType

from flax import linen as nn

from netket_factored_vit._src.models.vit import ViT

PRESETS = MappingProxyType(
    {
        "published_10x10": MappingProxyType(
            {
                "lattice_shape": (10, 10),
                "patch_size": 2,
                "d_model": 72,
                "num_heads": 12,
                "num_layers": 8,
            }
        ),
        "small": MappingProxyType(
            {
                "lattice_shape": (4, 4),
                "patch_size": 2,
                "d_model": 16,
                "num_heads": 2,
                "num_layers": 2,
            }
        ),
    }
)
"""Fields of each named preset (read-only)."""


INITIALIZATIONS = MappingProxyType(
    {
        # the initialisation of the authors' public ViT: every dense kernel and the
        # positional table drawn from xavier_uniform, biases zero
        "xavier": MappingProxyType(
            {
                "kernel_init": nn.initializers.xavier_uniform(),
                "positional_init": nn.initializers.xavier_uniform(),
            }
        ),
        "lecun": MappingProxyType(
            {
                "kernel_init": nn.initializers.lecun_normal(),
                "positional_init": nn.initializers.normal(stddev=0.1),
            }
        ),
    }
)
"""Named initialisations: the ViT fields (initializers) each one sets (read-only)."""


def preset_names() -> tuple[str, ...]:
    """Names of the available presets."""
    return tuple(PRESETS)


def vit_preset(name: str, *, initialization: str | None = None, **overrides) -> ViT:
    """Build a :class:`~netket_factored_vit.models.ViT` from a named preset.

    Args:
        name: one of :func:`preset_names`: ``"published_10x10"`` (d = 72, h = 12, 8 layers,
            patch 2 on 10x10: 434,760 parameters with factored attention) or ``"small"``
            (d = 16, h = 2, 2 layers, patch 2 on 4x4: 6,208 parameters).
        initialization: a name of :data:`INITIALIZATIONS` (``"xavier"`` or ``"lecun"``)
            setting the initializers of the dense kernels and of the positional table;
            ``None`` keeps the ViT's defaults.
        overrides: ViT fields replacing the preset's, e.g. ``lattice_shape=(6, 6)`` or
            ``attention="t5"``; ``None`` values are ignored.

    Example:

    >>> import netket_factored_vit as nfv
    >>> nfv.models.vit_preset("published_10x10").num_parameters
    434760
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; available presets are {list(PRESETS)}.")
    inits = {}
    if initialization is not None:
        if initialization not in INITIALIZATIONS:
            raise ValueError(
                f"Unknown initialization {initialization!r}; available: {list(INITIALIZATIONS)}."
            )
        inits = INITIALIZATIONS[initialization]
    given = {k: v for k, v in overrides.items() if v is not None}
    return ViT(**{**PRESETS[name], **inits, **given})

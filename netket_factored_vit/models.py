"""Vision Transformer wave functions and their attention layers.

See ``docs/models.md`` for a user guide.
"""

from netket_factored_vit._src.analysis.maps import attention_maps as attention_maps
from netket_factored_vit._src.models.attention import (
    AttentionBase as AttentionBase,
    DecoupledAttention as DecoupledAttention,
    FactoredAttention as FactoredAttention,
    T5Attention as T5Attention,
    displacement_index as displacement_index,
)
from netket_factored_vit._src.models.presets import (
    INITIALIZATIONS as INITIALIZATIONS,
    PRESETS as PRESETS,
    preset_names as preset_names,
    vit_preset as vit_preset,
)
from netket_factored_vit._src.models.symmetrize import (
    Symmetrized as Symmetrized,
    symmetry_permutations as symmetry_permutations,
)
from netket_factored_vit._src.models.symmetry_group import SymmetryGroup as SymmetryGroup
from netket_factored_vit._src.models.vit import (
    OUTPUTS as OUTPUTS,
    EncoderBlock as EncoderBlock,
    ViT as ViT,
)

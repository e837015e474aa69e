"""Vision Transformer wave functions and their attention layers.

See ``docs/models.md`` for a user guide.
"""

from netket_factored_vit._src.models.attention import AttentionBase as AttentionBase
from netket_factored_vit._src.models.attention import DecoupledAttention as DecoupledAttention
from netket_factored_vit._src.models.attention import FactoredAttention as FactoredAttention
from netket_factored_vit._src.models.attention import T5Attention as T5Attention
from netket_factored_vit._src.models.attention import displacement_index as displacement_index
from netket_factored_vit._src.models.maps import attention_maps as attention_maps
from netket_factored_vit._src.models.presets import PRESETS as PRESETS
from netket_factored_vit._src.models.presets import preset_names as preset_names
from netket_factored_vit._src.models.presets import vit_preset as vit_preset
from netket_factored_vit._src.models.symmetrize import Symmetrized as Symmetrized
from netket_factored_vit._src.models.symmetrize import (
    symmetry_permutations as symmetry_permutations,
)
from netket_factored_vit._src.models.vit import EncoderBlock as EncoderBlock
from netket_factored_vit._src.models.vit import ViT as ViT

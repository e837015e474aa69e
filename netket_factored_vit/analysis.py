"""Analysis of trained models: attention maps, input dependence, exact diagnostics, figures.

See ``docs/analysis.md`` for a user guide.
"""

from netket_factored_vit._src.analysis.exact import (
    exact_diagnostics as exact_diagnostics,
    is_exact_feasible as is_exact_feasible,
    variational_energy as variational_energy,
)
from netket_factored_vit._src.analysis.input_dependence import (
    content_position_split as content_position_split,
    input_dependence as input_dependence,
    is_input_dependent as is_input_dependent,
)
from netket_factored_vit._src.analysis.logs import (
    energy_per_site as energy_per_site,
    load_log as load_log,
)
from netket_factored_vit._src.analysis.maps import attention_maps as attention_maps
from netket_factored_vit._src.analysis.marshall import (
    marshall_signs as marshall_signs,
    non_marshall_fraction as non_marshall_fraction,
    non_marshall_weight as non_marshall_weight,
)
from netket_factored_vit._src.analysis.plotting import (
    plot_attention as plot_attention,
    plot_energy as plot_energy,
    plot_input_dependence as plot_input_dependence,
    plot_non_marshall as plot_non_marshall,
)
from netket_factored_vit._src.analysis.positional import positional_profile as positional_profile

r"""The time one step takes, estimated before anything is built.

A step of :math:`M` samples over :math:`R` ranks on :math:`N` sites evaluates the model
(:math:`F` floating-point operations per configuration, the images of its projection
included) about :math:`3N + 3` times per sample: :math:`N` times while sampling (a sweep of
:math:`N` Metropolis moves between samples), about :math:`2N` times for the local energy
(the bonds with antiparallel spins, half of the J1-J2 model's :math:`4N`), and three times
for the Jacobian. The SR solve adds :math:`2(2M)^2P/R + (2M)^3/3` (minSR) or
:math:`2(2M)P^2/R + P^3/3` (SR). Divided by the rate of a dense matrix product measured on
the device, this is a lower bound on the time of a step: a step is never faster, and small
steps are much slower (each operation has a fixed cost).

:func:`forward_flops` counts :math:`F` for the ViT: per token and layer
:math:`4d^2` for the value and output projections (:math:`8d^2` with queries and keys),
:math:`4md^2` for the feed-forward network, and per pair of tokens :math:`2d` to mix the
values (:math:`4d` with the query-key logits).
"""

from __future__ import annotations

import functools
import sys
import time

WARN_SECONDS = 60.0
"""A step estimated to take longer than this gets a warning."""
SHOWN_SECONDS = 0.1
"""``nfv run`` prints estimates from this long up; shorter steps take their fixed costs
(dispatch, compilation, logging) more than their operations."""


def forward_flops(vit) -> int:
    """Floating-point operations of one evaluation of the (bare) ViT on one configuration."""
    from netket_factored_vit._src.models.attention import _QueryKeyAttention, resolve_attention

    d, n, m, b = vit.d_model, vit.num_tokens, vit.mlp_ratio, vit.patch_size
    query_key = isinstance(resolve_attention(vit.attention), _QueryKeyAttention)
    per_token = (8 if query_key else 4) * d * d + 4 * m * d * d
    per_pair = (4 if query_key else 2) * d
    layer = n * per_token + n * n * per_pair
    embedding = 2 * n * b * b * d
    head = 2 * 2 * d * d
    return int(embedding + vit.num_layers * layer + head)


def images(model) -> int:
    """Configurations the model evaluates its ViT on per configuration (its projection's
    images; 1 for the bare ViT)."""
    perms = getattr(model, "permutations", None)
    if perms is None:
        return 1
    return len(perms) * (2 if getattr(model, "spin_flip", False) else 1)


def step_flops(
    vit, model, n_samples: int, *, ranks: int = 1, use_ntk: bool | None = None, exact=False
) -> float:
    """Floating-point operations of one step on one rank (see the module's formula). With
    ``exact``, ``n_samples`` are the orbits of an exact state, each evaluated four times
    (once for the amplitudes the local energies reuse, three times for the Jacobian)."""
    n_sites, n_parameters = vit.n_sites, vit.num_parameters
    per_rank = n_samples / ranks
    per_row = 4 if exact else 3 * n_sites + 3
    model_flops = forward_flops(vit) * images(model) * per_rank * per_row
    rows = 2 * n_samples
    if use_ntk is None:
        use_ntk = n_parameters > rows
    if use_ntk:
        solve = 2 * rows**2 * n_parameters / ranks + rows**3 / 3
    else:
        solve = 2 * rows * n_parameters**2 / ranks + n_parameters**3 / 3
    return float(model_flops + solve)


@functools.lru_cache(maxsize=4)
def measured_rate(dtype: str = "float64", size: int = 512, repeats: int = 3) -> float:
    """Floating-point operations per second of a dense ``size x size`` matrix product on
    JAX's default device, measured now (a tenth of a second on a CPU)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((size, size), dtype=jnp.dtype(dtype))
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        product(a).block_until_ready()
    return 2 * size**3 * repeats / max(time.perf_counter() - start, 1e-9)


def format_duration(seconds: float) -> str:
    """``0.25`` -> ``"0.25 s"``, ``5400`` -> ``"1.5 h"``, ``3e7`` -> ``"0.95 years"``."""
    for unit, length in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.3g} {unit}"
    return f"{seconds:.2g} s"


def check_step_time(config, ranks, say) -> float | None:
    """On rank 0, estimate the time of one step of the run of ``config`` (a lower bound,
    see the module's description) and warn on stderr when it is beyond
    :data:`WARN_SECONDS`; returns it in seconds (None off rank 0)."""
    if not ranks.is_root:
        return None
    from netket_factored_vit._src.cli import build

    vit = build.build_vit(config)
    model = build.wrap_symmetrized(config, vit)
    use_ntk = {"auto": None, "yes": True, "no": False}[config.use_ntk]
    rows = config.n_samples
    if config.exact:  # at least one orbit per |G| basis states
        from netket_factored_vit._src.systems.references import hilbert_dimension

        rows = -(-hilbert_dimension(build.build_system(config)) // len(model.symmetry_group))
    flops = step_flops(vit, model, rows, ranks=ranks.size, use_ntk=use_ntk, exact=config.exact)
    rate = measured_rate(config.dtype)
    seconds = flops / rate
    if seconds > WARN_SECONDS:
        lx, ly = config.lattice_shape
        say(
            f"nfv: warning: one step of the {lx}x{ly} run is estimated "
            f"at {format_duration(seconds)} or more ({flops:.2g} floating-point operations, "
            f"at the {rate:.2g} per second of a matrix product here), {config.n_iter} steps at "
            f"{format_duration(seconds * config.n_iter)} or more; a smaller lattice, fewer "
            "samples, more ranks or an accelerator make it shorter",
            file=sys.stderr,
        )
    return seconds

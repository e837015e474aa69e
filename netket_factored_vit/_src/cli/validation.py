"""Checks of a resolved :class:`RunConfig`, before anything expensive is built."""

from __future__ import annotations

import math

from netket_factored_vit._src.cli.config import FIELDS, RunConfig, base_type, flag_name
from netket_factored_vit._src.cli.errors import UsageError


def _positive_int(config: RunConfig, name: str) -> None:
    value = getattr(config, name)
    if value is not None and value <= 0:
        raise UsageError(f"{flag_name(name)} must be a positive integer, got {value}")


def _positive_float(config: RunConfig, name: str) -> None:
    value = getattr(config, name)
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{flag_name(name)} must be a positive finite number, got {value}")


MAX_INTEGER = 2**31 - 1
"""The largest integer setting: the optimizer's step counter is a 32-bit integer (and
TOML 1.0 holds no integer beyond 64 bits)."""


def _check_integers(config: RunConfig) -> None:
    for name in FIELDS:
        value = getattr(config, name)
        if base_type(name) is int and value is not None and abs(value) > MAX_INTEGER:
            raise UsageError(
                f"{flag_name(name)} {value} is out of range: integer settings are between "
                f"-{MAX_INTEGER} and {MAX_INTEGER}"
            )


def check_config(config: RunConfig, *, ranks: int = 1) -> None:
    """Raise a :class:`UsageError` naming the first bad value of a resolved ``config``
    and what is allowed."""
    _check_integers(config)
    for name in (
        "n_iter",
        "schedule_steps",
        "n_samples",
        "n_chains",
        "checkpoint_every",
        "chunk_size",
        "input_dependence_samples",
        "d_model",
        "num_heads",
        "num_layers",
        "patch_size",
        "starts",
        "start_steps",
    ):
        _positive_int(config, name)
    if config.input_dependence_every < 0:
        raise UsageError(
            f"--input-dependence-every must be 0 (never) or a positive integer, "
            f"got {config.input_dependence_every}"
        )
    for name in ("lr", "diag_shift", "diag_shift_final", "pretrain_diag_shift"):
        _positive_float(config, name)
    _check_pretraining(config)
    _check_starts(config)
    if config.system == "shastry_sutherland" and config.symmetrize != "none":
        raise UsageError(
            f"--symmetrize {config.symmetrize} is not a symmetry of the shastry_sutherland "
            "lattice (the rotations and reflections about a site move its dimers onto bonds that "
            "are not dimers); allowed for this system: --symmetrize none (with or without "
            "--spin-flip)"
        )
    if config.time_limit is not None:
        _positive_float(config, "time_limit")
    if config.lr_final is not None:
        _positive_float(config, "lr_final")
        if config.lr_final > config.lr:
            raise UsageError(
                f"--lr-final {config.lr_final} is larger than --lr {config.lr}: the learning "
                "rate decays from --lr to --lr-final; lower --lr-final, or give "
                "--lr-final none for a constant rate"
            )
    _check_diag_shifts(config)
    if not (math.isfinite(config.sampling_power) and 0 < config.sampling_power <= 2):
        raise UsageError(
            f"--sampling-power must be in (0, 2], got {config.sampling_power:g}: the samples "
            "are drawn from |psi|^p, 2 being NetKet's |psi|^2 and 1 |psi|"
        )
    if not (math.isfinite(config.momentum) and 0 <= config.momentum <= 1):
        # NetKet's range, and the driver's
        raise UsageError(f"--momentum must be in [0, 1], got {config.momentum}")
    for name in ("J1", "J2", "J", "J_prime"):
        if not math.isfinite(getattr(config, name)):
            raise UsageError(
                f"{flag_name(name)} must be a finite number, got {getattr(config, name)}"
            )
    _check_lattice(config)
    _check_model(config)
    if config.exact:
        _check_exact(config, ranks)
    elif config.n_samples % (ranks * config.n_chains):
        raise UsageError(
            f"--n-samples ({config.n_samples}) must be a multiple of the {ranks} rank(s) times "
            f"--n-chains ({config.n_chains}), e.g. {ranks * config.n_chains * 32}"
        )


def _check_exact(config: RunConfig, ranks: int) -> None:
    """``--exact``: one process, and a Hilbert space the orbit sum accepts."""
    from netket_factored_vit._src.systems.references import hilbert_dimension
    from netket_factored_vit._src.vqs.orbit_sum_state import MAX_ORBIT_SUM_STATES

    if ranks > 1:
        raise UsageError(
            f"--exact runs on one process (an exact sum is not split over ranks), got {ranks} "
            "ranks; start it without mpirun"
        )
    from netket_factored_vit._src.cli.build import build_system

    dimension = hilbert_dimension(build_system(config))
    if dimension > MAX_ORBIT_SUM_STATES:
        lx, ly = config.lattice_shape
        raise UsageError(
            f"--exact on {lx}x{ly}: the Hilbert space has {dimension:,} basis states, more "
            f"than the {MAX_ORBIT_SUM_STATES:,} an exact run accepts (4x6 with Sz = 0 is the "
            "largest lattice); drop --exact to sample"
        )


def _check_diag_shifts(config: RunConfig) -> None:
    # The schedules decay, as the learning rate does: a final shift above the first one
    # would raise the regularisation during the run (1e-4 to 1.0 gave 0.75 by step 2).
    if config.diag_shift_final > config.diag_shift:
        raise UsageError(
            f"--diag-shift-final {config.diag_shift_final:g} is larger than --diag-shift "
            f"{config.diag_shift:g}: the diag shift decays from --diag-shift to "
            "--diag-shift-final; lower --diag-shift-final, or give it equal to --diag-shift "
            "for a constant shift"
        )
    if config.pretrain_steps and config.pretrain_diag_shift < config.diag_shift:
        raise UsageError(
            f"--pretrain-diag-shift {config.pretrain_diag_shift:g} is smaller than "
            f"--diag-shift {config.diag_shift:g}: during the pretraining the diag shift decays "
            "from --pretrain-diag-shift to --diag-shift; raise --pretrain-diag-shift, or give "
            "it equal to --diag-shift"
        )


def _check_lattice(config: RunConfig) -> None:
    lx, ly = config.lattice_shape
    minimum = 4 if config.system == "shastry_sutherland" else 3
    for flag, side in (("--L", lx), ("--Ly", ly)):
        if side < minimum:
            raise UsageError(
                f"{flag} must be an integer >= {minimum} for {config.system}, got {side}"
            )
        if config.system == "shastry_sutherland" and side % 2:
            raise UsageError(
                f"{flag} must be even for shastry_sutherland (every site belongs to one dimer), "
                f"got {side}"
            )
    n_sites = lx * ly
    sz = config.total_sz
    if sz is not None:
        if not math.isfinite(sz):
            raise UsageError(f"--total-sz must be a finite number or 'none', got {sz}")
        if n_sites % 2 and float(sz).is_integer():
            raise UsageError(
                f"the {lx}x{ly} lattice has {n_sites} sites, an odd number, so --total-sz {sz:g} "
                "is not a sector of it: use an even --L (and --Ly), or --total-sz 0.5, or "
                "--total-sz none"
            )
        if (round(2 * sz) != 2 * sz) or (round(2 * sz) - n_sites) % 2 or abs(sz) > n_sites / 2:
            raise UsageError(
                f"--total-sz {sz:g} is not a magnetisation sector of {n_sites} spins 1/2: "
                f"allowed are -{n_sites / 2:g}, -{n_sites / 2:g}+1, ..., {n_sites / 2:g}, or none"
            )
    if config.spin_flip and sz not in (None, 0.0):
        raise UsageError(
            f"--spin-flip maps the sector --total-sz {sz:g} onto {-sz:g}; use it with "
            "--total-sz 0 or none"
        )


def _check_model(config: RunConfig) -> None:
    lx, ly = config.lattice_shape
    b = config.patch_size
    if lx % b or ly % b:
        raise UsageError(
            f"the {lx}x{ly} lattice has sides that are not multiples of --patch-size {b}; "
            "choose a patch size dividing both sides"
        )
    if config.d_model % config.num_heads:
        raise UsageError(
            f"--d-model {config.d_model} is not divisible by --num-heads {config.num_heads}; "
            "choose heads that divide the width"
        )
    if config.output == "marshall-signed" and (lx % 2 or ly % 2):
        raise UsageError(
            f"--output marshall-signed needs Marshall's sign, which the periodic {lx}x{ly} "
            "lattice does not have (a side is odd); use even sides, or --output log-cosh"
        )


def _check_pretraining(config: RunConfig) -> None:
    steps = config.pretrain_steps
    if steps < 0 or steps >= config.n_iter:
        raise UsageError(
            f"--pretrain-steps must be 0 or more and below --n-iter ({config.n_iter}), got {steps}"
        )
    if steps and config.symmetrize == "none" and not config.spin_flip:
        raise UsageError(
            f"--pretrain-steps {steps} trains the ViT without its projection, but the model "
            "has none (--symmetrize none, no --spin-flip): give --pretrain-steps 0, or a "
            "projection"
        )


def _check_starts(config: RunConfig) -> None:
    if config.starts == 1:
        return
    steps = config.start_steps
    if steps >= config.n_iter:
        raise UsageError(
            f"--start-steps {steps} must be below --n-iter ({config.n_iter}) when --starts "
            f"is {config.starts}: give fewer --start-steps, or --starts 1 for a single start"
        )

"""The settings of a run, their defaults in one table, and their TOML form.

A run's settings are resolved from, in increasing priority: the defaults of
:class:`RunConfig`, a ``--config FILE.toml`` and the command-line flags. On ``--resume``
the settings stored in the run folder take the place of the defaults.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netket_factored_vit._src.cli.errors import UsageError

ATTENTIONS = ("factored", "t5", "decoupled")
"""Attention mechanisms of the ViT."""
QUERY_KEY_ATTENTIONS = ("t5", "decoupled")
"""Attentions whose weights depend on the input through queries and keys."""
SYSTEMS = ("j1j2", "shastry_sutherland")
"""Lattice models."""
SYMMETRIZATIONS = ("none", "point-group", "point-group+patch", "rotations", "rotations+patch")
"""Projections of the model: none, the point group or only its rotations, optionally with
the shifts inside a patch (with the ViT's invariance under whole-patch shifts, every
translation)."""
INITIALIZATIONS = ("lecun", "xavier")
"""Named initialisations of the ViT (``nfv.models.INITIALIZATIONS``)."""
OUTPUTS = ("log-cosh", "marshall-signed")
"""Heads of the ViT (``nfv.models.ViT``'s ``output``)."""
DTYPES = ("float64", "float32")
"""Dtypes of the ViT's parameters and arithmetic (``param_dtype``)."""
NTK_CHOICES = ("auto", "yes", "no")
"""``--use-ntk``: minSR (sample space) when ``yes``, SR when ``no``, the smaller when ``auto``."""


def setting(default, group: str, help: str, *, trajectory: bool = True, choices=None):
    """A field of :class:`RunConfig`: its default, help line, flag group, and whether a
    different value changes the trajectory of a run (refused on ``--resume``)."""
    meta = {"group": group, "help": help, "trajectory": trajectory, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run; the defaults are those of ``make run``."""

    # system
    system: str = setting("j1j2", "system", "lattice model", choices=SYSTEMS)
    L: int = setting(4, "system", "sites along x (and along y unless --Ly)")
    Ly: int | None = setting(None, "system", "sites along y (default: L)")
    J1: float = setting(1.0, "system", "J1-J2: nearest-neighbour coupling")
    J2: float = setting(0.5, "system", "J1-J2: next-nearest-neighbour (diagonal) coupling")
    J: float = setting(0.5, "system", "Shastry-Sutherland: square-lattice coupling")
    J_prime: float = setting(1.0, "system", "Shastry-Sutherland: dimer coupling")
    total_sz: float | None = setting(
        0.0, "system", "magnetisation sector, or 'none' for the full Hilbert space"
    )
    # model
    attention: str = setting("factored", "model", "attention mechanism", choices=ATTENTIONS)
    preset: str = setting("small", "model", "named ViT size (see nfv.models.PRESETS)")
    d_model: int | None = setting(None, "model", "width (default: the preset's)")
    num_heads: int | None = setting(None, "model", "attention heads (default: the preset's)")
    num_layers: int | None = setting(None, "model", "encoder blocks (default: the preset's)")
    patch_size: int | None = setting(None, "model", "patch side (default: the preset's)")
    symmetrize: str = setting(
        "auto",
        "model",
        "project onto the point group (C4v on a square) or only its rotations (C4), "
        "optionally with the shifts inside a patch (then every translation); auto: "
        "point-group for j1j2, none for "
        "shastry_sutherland, whose dimers the site-centred point group does not keep",
        choices=("auto", *SYMMETRIZATIONS),
    )
    spin_flip: bool = setting(False, "model", "also project onto the even spin-flip sector")
    initialization: str = setting(
        "lecun",
        "model",
        "initializers of the dense kernels and the positional table "
        "(see nfv.models.INITIALIZATIONS)",
        choices=INITIALIZATIONS,
    )
    output: str = setting(
        "auto",
        "model",
        "head of the ViT: the complex log-cosh sum, or Marshall's sign times a real "
        "amplitude that can change sign (both sides even); auto: marshall-signed for "
        "j1j2 sampled on even sides with 0 < J1 and J2 <= 0.6 J1, log-cosh otherwise",
        choices=("auto", *OUTPUTS),
    )
    dtype: str = setting(
        "float64",
        "model",
        "dtype of the ViT's parameters and arithmetic; float32 is faster, and the SR solve "
        "stays in float64",
        choices=DTYPES,
    )
    # optimisation
    n_iter: int = setting(
        250, "optimisation", "total optimisation steps, pretraining included", trajectory=False
    )
    pretrain_steps: int = setting(
        0,
        "optimisation",
        "first steps that train the ViT without its projection (--symmetrize, --spin-flip), "
        "each several times cheaper, before the projected model continues from its "
        "parameters (0: none)",
    )
    pretrain_diag_shift: float = setting(
        1e-2,
        "optimisation",
        "diag shift at the start of the pretraining; it decays (cosine) to --diag-shift at its end",
    )
    starts: int = setting(
        1,
        "optimisation",
        "train the first --start-steps steps from this many seeds (--seed + 1000 k) and go on "
        "with the one of lowest energy (1: a single start)",
    )
    start_steps: int = setting(40, "optimisation", "steps of each start when --starts is above 1")
    schedule_steps: int | None = setting(
        None,
        "optimisation",
        "steps after the pretraining over which the diag shift and the learning rate decay "
        "(default: those left of the first run's --n-iter; held at their final values beyond)",
    )
    exact: bool = setting(
        False,
        "optimisation",
        "sum exactly over the orbits of the model's symmetry group instead of sampling "
        "(nfv.vqs.OrbitSumState; lattices up to 4x6; --n-samples and --n-chains unused)",
    )
    n_samples: int = setting(512, "optimisation", "samples per step, all MPI ranks together")
    n_chains: int = setting(16, "optimisation", "Markov chains (per rank)")
    sampling_power: float = setting(
        1.0,
        "optimisation",
        "draw the samples from |psi|^p (NetKet's machine_pow) and reweight every estimate "
        "by |psi|^(2-p); p = 1 visits the small amplitudes where the sign departs from "
        "Marshall's, p = 2 is NetKet's sampling (unused with --exact)",
    )
    lr: float = setting(
        0.05, "optimisation", "learning rate of optax.sgd (constant during the pretraining)"
    )
    lr_final: float | None = setting(
        0.005,
        "optimisation",
        "learning rate after a cosine decay over the schedule's steps ('none': constant --lr)",
    )
    momentum: float = setting(0.8, "optimisation", "SPRING momentum (0 disables)")
    diag_shift: float = setting(1e-3, "optimisation", "diag shift after the pretraining")
    diag_shift_final: float = setting(1e-4, "optimisation", "diag shift after the cosine decay")
    use_ntk: str = setting(
        "auto", "optimisation", "minSR (yes), SR (no) or the cheaper (auto)", choices=NTK_CHOICES
    )
    chunk_size: int | None = setting(
        None,
        "optimisation",
        "samples per forward chunk (default: samples per rank, at most 1024)",
        trajectory=False,
    )
    seed: int = setting(0, "optimisation", "seed of the parameters (the sampler gets seed + 1)")
    # output
    checkpoint_every: int = setting(10, "output", "steps between checkpoints", trajectory=False)
    time_limit: float | None = setting(
        None,
        "output",
        "stop after the step that passes this many seconds of training, with a checkpoint "
        "and a summary; --resume continues ('none': no limit)",
        trajectory=False,
    )
    input_dependence_every: int = setting(
        10,
        "output",
        "log the attention's input dependence every this many steps (T5 and decoupled; 0: never)",
        trajectory=False,
    )
    input_dependence_samples: int = setting(
        256, "output", "samples the input dependence is measured on", trajectory=False
    )

    @property
    def lattice_shape(self) -> tuple[int, int]:
        """``(L, Ly)`` with ``Ly`` defaulting to ``L``."""
        return (self.L, self.L if self.Ly is None else self.Ly)

    def replace(self, **changes) -> RunConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
"""The fields of :class:`RunConfig` by name."""
TRAJECTORY_FIELDS = tuple(name for name, f in FIELDS.items() if f.metadata["trajectory"])
"""Fields whose change on ``--resume`` would change the trajectory of the run."""
_OPTIONAL = {name for name, f in FIELDS.items() if "None" in str(f.type)}


def flag_name(name: str) -> str:
    """The command-line flag of field ``name``: ``n_iter`` -> ``--n-iter``."""
    return "--" + name.replace("_", "-")


def is_optional(name: str) -> bool:
    """Whether field ``name`` may be None (``none`` on the command line and in TOML)."""
    return name in _OPTIONAL


_TYPES = {
    name: next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
    for name, hint in typing.get_type_hints(RunConfig).items()
}


def base_type(name: str) -> type:
    """The type of field ``name`` other than None: bool, int, float or str."""
    return _TYPES[name]


def check_value(name: str, value: Any, *, where: str) -> Any:
    """``value`` converted to the type of field ``name``, or a UsageError saying what is
    allowed (``where`` names the source, e.g. the TOML file)."""
    if value is None or (name in _OPTIONAL and isinstance(value, str) and value == "none"):
        if name in _OPTIONAL:
            return None
        raise UsageError(f"{where}: {name} cannot be none")
    kind = base_type(name)
    ok = (
        (kind is bool and isinstance(value, bool))
        or (kind is int and isinstance(value, int) and not isinstance(value, bool))
        or (kind is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind is str and isinstance(value, str))
    )
    if not ok:
        allowed = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
        extra = ' or "none"' if name in _OPTIONAL else ""
        raise UsageError(f"{where}: {name} = {value!r} is not {allowed[kind]}{extra}")
    if kind is float:
        value = float(value)
    choices = FIELDS[name].metadata["choices"]
    if choices is not None and value not in choices:
        raise UsageError(
            f"{where}: {name} = {value!r} is not one of {', '.join(map(repr, choices))}"
        )
    return value


def read_toml(path: str | Path, *, what: str = "--config") -> dict[str, Any]:
    """The settings of a TOML file, checked against :class:`RunConfig`'s fields."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a folder; give a TOML file") from None
    except OSError as err:
        raise UsageError(f"{what} {path} cannot be read: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{what} {path} is not valid TOML: {err}") from None
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise UsageError(
            f"{what} {path}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed keys are {', '.join(FIELDS)}"
        )
    return {k: check_value(k, v, where=f"{what} {path}") for k, v in data.items()}


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover - validated
        raise ValueError(f"{value} has no TOML form")
    return repr(value)


def to_toml(config: RunConfig) -> str:
    """``config`` as a flat TOML document, one key per line, grouped by flag group."""
    lines = ["# Settings of this run; `--config` reads this format, flags override it."]
    group = None
    for name, f in FIELDS.items():
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            lines.append(f"\n# {group}")
        lines.append(f"{name} = {_toml_value(getattr(config, name))}")
    return "\n".join(lines) + "\n"


STORED_BEFORE_THE_FIELD: dict[str, Any] = {"sampling_power": 2.0, "output": "log-cosh"}
"""The value a field had in effect in stored settings written before the field existed
(runs sampled |psi|^2 before ``--sampling-power`` and had the log-cosh head before
``--output``), where it differs from its default."""


def read_stored(path: str | Path) -> RunConfig:
    """The settings stored in a run folder's ``config.toml``; a field the file lacks
    because it was written before the field existed takes the value then in effect."""
    settings = read_toml(path, what="the stored settings")
    return from_settings({**STORED_BEFORE_THE_FIELD, **settings})


def from_settings(settings: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """``base`` (default: the defaults) with ``settings`` applied."""
    return (base or RunConfig()).replace(**settings)


def resolve(config: RunConfig) -> RunConfig:
    """Fill in what the defaults leave open: ``Ly``, the preset's model sizes, the
    symmetrization and the schedule's horizon, so that the stored settings do not depend
    on future defaults."""
    from netket_factored_vit._src.models.presets import PRESETS

    if config.preset not in PRESETS:
        raise UsageError(f"--preset {config.preset!r} is unknown; allowed: {', '.join(PRESETS)}")
    preset = PRESETS[config.preset]
    changes = {
        name: preset[name]
        for name in ("d_model", "num_heads", "num_layers", "patch_size")
        if getattr(config, name) is None
    }
    if config.Ly is None:
        changes["Ly"] = config.L
    if config.symmetrize == "auto":
        changes["symmetrize"] = "none" if config.system == "shastry_sutherland" else "point-group"
    if config.output == "auto":
        changes["output"] = _auto_output(config)
    if config.schedule_steps is None:
        changes["schedule_steps"] = max(1, config.n_iter - config.pretrain_steps)
    return config.replace(**changes)


MARSHALL_MAX_J2 = 0.6
"""``--output auto`` takes Marshall's prior up to this J2 / J1: the Neel phase and the
intermediate one (J2 / J1 near 0.4 to 0.6); the stripe phase beyond has another sign
structure."""


def _auto_output(config: RunConfig) -> str:
    """The head ``--output auto`` stands for. Sampled, Marshall's sign as a prior takes the
    J1-J2 main job from a median exact error of 1e-3 to 5e-5 (docs/accuracy.md); summed
    exactly, the log-cosh head goes on to 1e-11 where the prior stops near 1e-5. The
    Shastry-Sutherland dimers join sites of one sublattice, against Marshall's sign."""
    lx, ly = config.lattice_shape
    marshall = (
        config.system == "j1j2"
        and not config.exact
        and lx % 2 == 0
        and ly % 2 == 0
        and config.J1 > 0
        and config.J2 <= MARSHALL_MAX_J2 * config.J1
    )
    return "marshall-signed" if marshall else "log-cosh"


def trajectory_changes(stored: RunConfig, new: RunConfig) -> list[tuple[str, Any, Any]]:
    """``(field, stored value, new value)`` for each trajectory field that differs."""
    return [
        (name, getattr(stored, name), getattr(new, name))
        for name in TRAJECTORY_FIELDS
        if getattr(stored, name) != getattr(new, name)
    ]

"""From a resolved :class:`RunConfig` to the system, the model, the state and the driver."""

from __future__ import annotations

from pathlib import Path

from netket_factored_vit._src.cli.config import RunConfig
from netket_factored_vit._src.cli.output import CHECKPOINT_FILE


def build_system(config: RunConfig):
    """The lattice system of ``config``."""
    import netket_factored_vit as nfv

    lx, ly = config.lattice_shape
    if config.system == "j1j2":
        return nfv.systems.j1j2(lx, config.J2, Ly=ly, J1=config.J1, total_sz=config.total_sz)
    return nfv.systems.shastry_sutherland(
        lx, config.J, config.J_prime, Ly=ly, total_sz=config.total_sz
    )


def build_vit(config: RunConfig):
    """The ViT of ``config``, before any symmetrization."""
    import jax.numpy as jnp

    import netket_factored_vit as nfv

    return nfv.models.vit_preset(
        config.preset,
        lattice_shape=config.lattice_shape,
        attention=config.attention,
        d_model=config.d_model,
        num_heads=config.num_heads,
        num_layers=config.num_layers,
        patch_size=config.patch_size,
        initialization=config.initialization,
        output=config.output,
        param_dtype=jnp.dtype(config.dtype),
    )


def wrap_symmetrized(config: RunConfig, vit):
    """``vit`` projected as ``config.symmetrize`` and ``config.spin_flip`` ask."""
    import netket_factored_vit as nfv

    if config.symmetrize == "none" and not config.spin_flip:
        return vit
    return nfv.models.Symmetrized(
        model=vit,
        translations="patch" if config.symmetrize.endswith("+patch") else "none",
        point_group=config.symmetrize != "none",
        rotations_only=config.symmetrize.startswith("rotations"),
        spin_flip=config.spin_flip,
    )


def samples_per_rank(config: RunConfig, ranks: int) -> int:
    """Samples each rank draws per step."""
    return config.n_samples // ranks


def build_state(config: RunConfig, system, model, *, ranks: int):
    """The Monte Carlo state: ``n_samples / ranks`` samples on each rank; with
    ``--exact``, the exact sum over the orbits of the model's symmetry group."""
    import netket as nk

    import netket_factored_vit as nfv

    if config.exact:
        return nfv.vqs.OrbitSumState(
            system.hilbert, model, seed=config.seed, chunk_size=config.chunk_size
        )

    sampler = nk.sampler.MetropolisExchange(
        system.hilbert,
        graph=system.graph,
        n_chains=config.n_chains,
        sweep_size=system.n_sites,
        machine_pow=config.sampling_power,
    )
    per_rank = samples_per_rank(config, ranks)
    return nk.vqs.MCState(
        sampler,
        model,
        n_samples=per_rank,
        seed=config.seed,
        sampler_seed=config.seed + 1,
        # every evaluation path is chunked: 16k unchunked samples of a 6x6 ViT asked for 27 GB
        chunk_size=config.chunk_size or min(per_rank, 1024),
    )


def diag_shift_schedule(config: RunConfig):
    """During the pretraining, a cosine decay from ``pretrain_diag_shift`` to ``diag_shift``;
    then a cosine decay to ``diag_shift_final`` over ``schedule_steps``, held there beyond."""
    import optax

    decay = optax.cosine_decay_schedule(
        config.diag_shift, config.schedule_steps, alpha=config.diag_shift_final / config.diag_shift
    )
    if not config.pretrain_steps:
        return decay
    pretraining = optax.cosine_decay_schedule(
        config.pretrain_diag_shift,
        config.pretrain_steps,
        alpha=config.diag_shift / config.pretrain_diag_shift,
    )
    return optax.join_schedules([pretraining, decay], [config.pretrain_steps])


def learning_rate_schedule(config: RunConfig):
    """``--lr`` during the pretraining; then cosine-decayed to ``--lr-final`` over
    ``schedule_steps`` when that is given (held there beyond), else constant."""
    import optax

    if config.lr_final is None:
        return optax.constant_schedule(config.lr)
    decay = optax.cosine_decay_schedule(
        config.lr, config.schedule_steps, alpha=config.lr_final / config.lr
    )
    if not config.pretrain_steps:
        return decay
    return optax.join_schedules(
        [optax.constant_schedule(config.lr), decay], [config.pretrain_steps]
    )


def pretraining_model(model):
    """The ViT inside ``model`` (a :class:`~netket_factored_vit.models.Symmetrized`) with
    the identity for a group: the bare ViT, with the parameters of ``model``."""
    import netket_factored_vit as nfv

    return nfv.models.Symmetrized(
        model=model.model, translations="none", point_group=False, spin_flip=False
    )


def build_driver(config: RunConfig, system, vstate, out: Path, *, resume: bool):
    """The SR / minSR driver, checkpointing into ``out``; loads the checkpoint if ``resume``."""
    import optax

    import netket_factored_vit as nfv

    return nfv.driver.VMC_SR(
        system.hamiltonian,
        # injected, so that the driver logs the learning rate of each step
        optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate_schedule(config)),
        variational_state=vstate,
        diag_shift=diag_shift_schedule(config),
        use_ntk={"auto": None, "yes": True, "no": False}[config.use_ntk],
        momentum=config.momentum or None,
        system=system,
        checkpoint_path=out / CHECKPOINT_FILE,
        checkpoint_every=config.checkpoint_every,
        resume=resume,
    )

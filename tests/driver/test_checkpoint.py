"""Checkpoints: exact resume, atomic writes, validation of what is loaded."""

import json
import os
import subprocess
import sys
import textwrap

import netket as nk
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import checkpoint as ckpt


def _driver(path=None, *, alpha=1, n_samples=64, J2=0.0, momentum=0.6, **kwargs):
    system = nfv.systems.j1j2(4, J2=J2, Ly=3, pbc=False)
    sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
    vs = nk.vqs.MCState(
        sampler, nk.models.RBMModPhase(alpha=alpha), n_samples=n_samples, seed=7, sampler_seed=8
    )
    schedule = optax.cosine_decay_schedule(0.05, decay_steps=10)
    return nfv.driver.VMC_SR(
        system.hamiltonian,
        optax.sgd(schedule),
        variational_state=vs,
        diag_shift=optax.exponential_decay(1e-2, 1, 0.8),
        momentum=momentum,
        checkpoint_path=path,
        **kwargs,
    )


def _energies(driver, n):
    log = nk.logging.RuntimeLog()
    driver.run(n, out=log, show_progress=False)
    return np.asarray(log.data["Energy"]["Mean"])


def test_resume_continues_the_same_trajectory(tmp_path):
    n = 3
    straight_driver = _driver()
    straight = _energies(straight_driver, 2 * n)

    path = tmp_path / "run.mpack"
    first = _driver(path, checkpoint_every=2)
    first_half = _energies(first, n)  # writes at step 2 and at the end (step 3)
    assert ckpt.read_checkpoint(path)[0]["step"] == n
    assert ckpt.read_checkpoint(ckpt.previous_path(path))[0]["step"] == 2
    resumed = _driver(path, resume=True)
    assert resumed.step_count == n
    second_half = _energies(resumed, n)

    np.testing.assert_array_equal(first_half, straight[:n])
    np.testing.assert_array_equal(second_half, straight[n:])
    np.testing.assert_array_equal(
        ravel_pytree(resumed.state.parameters)[0],
        ravel_pytree(straight_driver.state.parameters)[0],
    )


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import netket as nk, optax
    import netket_factored_vit as nfv

    def build(path):
        system = nfv.systems.j1j2(4, J2=0.5)
        model = nfv.models.ViT(lattice_shape=(4, 4), patch_size=2, d_model=8, num_heads=2,
                               num_layers=1, attention="factored")
        sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
        vs = nk.vqs.MCState(sampler, model, n_samples=32, seed=1, sampler_seed=2)
        return nfv.driver.VMC_SR(system.hamiltonian, optax.sgd(0.02), variational_state=vs,
                                 diag_shift=1e-3, system=system, checkpoint_path=path,
                                 resume=path is not None)

    def energies(driver, n):
        log = nk.logging.RuntimeLog()
        driver.run(n, out=log, show_progress=False)
        return [float(e.real) for e in log.data["Energy"]["Mean"]]

    if __name__ == "__main__":
        print(json.dumps(energies(build(sys.argv[1]), int(sys.argv[2]))))
    """
)


@pytest.mark.slow
def test_package_model_resumes_in_a_fresh_process(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(FRESH_PROCESS)
    namespace = {"__name__": "not_main"}
    exec(compile(FRESH_PROCESS, str(script), "exec"), namespace)
    straight = namespace["energies"](namespace["build"](None), 4)

    path = tmp_path / "vit.mpack"
    first = namespace["energies"](namespace["build"](path), 2)
    out = subprocess.run(
        [sys.executable, str(script), str(path), "2"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    second = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(first + second, straight, rtol=1e-12)


def test_checkpoint_from_another_model_or_system_is_refused(tmp_path):
    path = tmp_path / "a.mpack"
    _driver(path).save_checkpoint()
    with pytest.raises(ValueError, match="model_fields") as err:
        _driver(alpha=2).load_checkpoint(path)
    assert "n_parameters" in str(err.value)
    with pytest.raises(ValueError, match="hamiltonian_fingerprint") as err:
        _driver(J2=0.5).load_checkpoint(path)
    assert "system" in str(err.value) and "model_fields" not in str(err.value)
    with pytest.raises(ValueError, match="n_samples"):
        _driver(n_samples=128).load_checkpoint(path)
    with pytest.raises(ValueError, match="momentum"):
        _driver(momentum=None).load_checkpoint(path)


def test_writes_are_atomic_and_keep_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.mpack"
    driver = _driver(path)
    driver.save_checkpoint(step=1)
    driver.save_checkpoint(step=2)
    assert ckpt.read_checkpoint(path)[0]["step"] == 2
    assert ckpt.read_checkpoint(ckpt.previous_path(path))[0]["step"] == 1

    # A crash in the middle of a write leaves both files as they were.
    good = path.read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        driver.save_checkpoint(step=3)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mpack", "c.mpack.prev"]

    # A damaged main file falls back to the previous one, with a warning.
    path.write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="cannot be read"):
        step = _driver(path).load_checkpoint()
    assert step == 1


def test_continue_from_hands_the_trajectory_to_another_model_with_the_same_parameters():
    system = nfv.systems.j1j2(4, J2=0.5)
    vit = nfv.models.ViT(lattice_shape=(4, 4), d_model=8, num_heads=2, num_layers=1)

    def driver(model):
        sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=8)
        vs = nk.vqs.MCState(sampler, model, n_samples=32, seed=3, sampler_seed=4)
        return nfv.driver.VMC_SR(
            system.hamiltonian, optax.sgd(0.05), variational_state=vs, diag_shift=1e-2,
            momentum=0.8,
        )  # fmt: skip

    bare = driver(nfv.models.Symmetrized(model=vit, translations="none", point_group=False))
    bare.run(2, show_progress=False)
    projected = driver(nfv.models.Symmetrized(model=vit, translations="none"))
    projected.continue_from(bare)
    assert projected.step_count == 2
    np.testing.assert_array_equal(
        ravel_pytree(projected.state.parameters)[0], ravel_pytree(bare.state.parameters)[0]
    )
    np.testing.assert_array_equal(projected.state.sampler_state.σ, bare.state.sampler_state.σ)
    assert np.all(np.asarray(projected._old_updates) == 0)
    assert np.any(np.asarray(bare._old_updates) != 0)
    projected.run(1, show_progress=False)
    assert projected.step_count == 3

    with pytest.raises(ValueError, match="same structure"):
        driver(vit).continue_from(bare)


def test_a_checkpoint_of_another_model_names_only_the_fields_that_differ():
    """The whole repr of both models, flattened into one line, hid 'd_model 16 vs 8'."""
    vit = nfv.models.ViT(lattice_shape=(4, 4), d_model=16, num_heads=2, num_layers=1)

    def header(model):
        name, fields = ckpt.model_description(model)
        return {"format": ckpt.CHECKPOINT_FORMAT, "version": 2, "model": name,
                "model_fields": fields}  # fmt: skip

    with pytest.raises(ValueError) as err:
        ckpt.validate_header(header(vit), header(vit.clone(d_model=8)))
    assert str(err.value).endswith(
        "these fields differ:\n  model_fields: d_model 16 in the checkpoint, 8 here"
    )
    projected = nfv.models.Symmetrized(model=vit)
    with pytest.raises(ValueError, match="model.num_layers 1 in the checkpoint, 2 here") as err:
        ckpt.validate_header(
            header(projected), header(projected.clone(model=vit.clone(num_layers=2)))
        )
    assert "d_model" not in str(err.value)
    with pytest.raises(ValueError, match="a Symmetrized in the checkpoint, a ViT here"):
        ckpt.validate_header(header(projected), header(vit))

"""Faults that used to lose or corrupt the user's files, each reproduced."""

import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import checkpoint as ckpt

BUILD = textwrap.dedent(
    """
    import netket as nk, optax
    import netket_factored_vit as nfv

    def build(path, optimizer=None, **kwargs):
        hi = nk.hilbert.Spin(0.5, 8, total_sz=0)
        g = nk.graph.Chain(8)
        sampler = nk.sampler.MetropolisExchange(hi, graph=g, n_chains=8)
        vs = nk.vqs.MCState(sampler, nk.models.RBM(alpha=1), n_samples=64, seed=1, sampler_seed=2)
        return nfv.driver.VMC_SR(nk.operator.Heisenberg(hi, g), optimizer or optax.sgd(0.02),
                                 variational_state=vs, diag_shift=1e-2, checkpoint_path=path,
                                 **kwargs)
    """
)
namespace = {}
exec(BUILD, namespace)
build = namespace["build"]


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def _iters(path):
    return list(nk.logging.RuntimeLog.deserialize(str(path))["Energy"].iters)


def test_nan_optimizer_never_applies_nor_checkpoints_nan(tmp_path):
    path = tmp_path / "ckpt.mpack"
    driver = build(path, optimizer=optax.sgd(float("nan")), max_retries=1)
    driver.save_checkpoint()
    before, params = path.read_bytes(), _flat(driver.state.parameters)
    with pytest.raises(nfv.driver.NonFiniteUpdateError, match="non-finite parameters") as err:
        driver.run(2, show_progress=False)
    assert "holds the finite parameters of step 0" in str(err.value)
    np.testing.assert_array_equal(_flat(driver.state.parameters), params)
    assert path.read_bytes() == before

    # Non-finite parameters set by hand are never written either.
    driver.state.parameters = jax.tree.map(lambda v: v * jnp.nan, driver.state.parameters)
    with pytest.raises(FloatingPointError, match="not finite"):
        driver.save_checkpoint()
    assert path.read_bytes() == before


def test_logger_writing_over_the_checkpoint_is_refused(tmp_path):
    driver = build(tmp_path / "X.mpack")
    with pytest.raises(ValueError, match="would overwrite the checkpoint"):
        driver.run(1, out=str(tmp_path / "X"), show_progress=False)
    with pytest.raises(ValueError, match="would overwrite the checkpoint"):
        driver.run(1, out=nk.logging.JsonLog(str(tmp_path / "X")), show_progress=False)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    driver.run(
        1, out=nk.logging.JsonLog(str(tmp_path / "X"), save_params=False), show_progress=False
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.log", "X.mpack"]


def test_negative_steps_are_refused(tmp_path):
    driver = build(None)
    for n in (-3, 1.5):
        with pytest.raises(ValueError, match="non-negative integer"):
            driver.run(n, show_progress=False)


class _Crash(nk.callbacks.AbstractCallback):
    """Raises after the loggers recorded step 4 (so the log is ahead of the checkpoint)."""

    @property
    def callback_order(self):
        return 50

    def on_step_end(self, step, log_data, driver):
        if step == 4:
            raise RuntimeError("crash")


def _log(tmp_path, mode):
    return nk.logging.JsonLog(str(tmp_path / "log"), mode=mode, save_params=False)


def test_resume_after_crash_logs_every_step_once(tmp_path):
    path = tmp_path / "checkpoint"
    with pytest.raises(RuntimeError, match="crash"):
        build(path, checkpoint_every=2).run(8, out=_log(tmp_path, "w"), callback=_Crash(),
                                            show_progress=False)  # fmt: skip
    assert _iters(tmp_path / "log.log") == [0, 1, 2, 3, 4]  # ahead of the checkpoint of step 4
    resumed = build(path, checkpoint_every=2, resume=True)
    assert resumed.step_count == 4
    resumed.run(4, out=_log(tmp_path, "append"), show_progress=False)
    assert _iters(tmp_path / "log.log") == list(range(8))


KILLED = BUILD + textwrap.dedent(
    """
    import os, signal, sys

    class Kill(nk.callbacks.AbstractCallback):
        @property
        def callback_order(self):
            return 50

        def on_step_end(self, step, log_data, driver):
            if step == 4:
                os.kill(os.getpid(), signal.SIGKILL)

    out = sys.argv[1]
    # The log is written only when the driver flushes it: without that flush it
    # would lag behind the checkpoint.
    log = nk.logging.JsonLog(out + "/log", save_params=False, write_every=10**6, autoflush_cost=0)
    build(out + "/checkpoint", checkpoint_every=2).run(8, out=log, callback=Kill(),
                                                      show_progress=False)
    """
)


@pytest.mark.slow
def test_resume_after_kill_9_logs_every_step_once(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "1"},
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _iters(tmp_path / "log.log") == [0, 1, 2, 3]  # flushed with the checkpoint of step 4
    resumed = build(tmp_path / "checkpoint", checkpoint_every=2, resume=True)
    assert resumed.step_count == 4
    resumed.run(4, out=_log(tmp_path, "append"), show_progress=False)
    assert _iters(tmp_path / "log.log") == list(range(8))


def test_truncated_log_is_set_aside_on_resume(tmp_path):
    path = tmp_path / "checkpoint"
    build(path).run(2, out=_log(tmp_path, "w"), show_progress=False)
    log_file = tmp_path / "log.log"
    log_file.write_bytes(log_file.read_bytes()[:50])  # a crash in the middle of a write
    with pytest.warns(UserWarning, match="cannot be read"):
        resumed = build(path, resume=True)
    assert (tmp_path / "log.log.damaged").exists() and not log_file.exists()
    resumed.run(1, out=_log(tmp_path, "append"), show_progress=False)
    assert _iters(log_file) == [2]


def test_damaged_checkpoint_falls_back_to_previous(tmp_path):
    path = tmp_path / "c.mpack"
    driver = build(path)
    driver.save_checkpoint()  # step 0
    params_0 = _flat(driver.state.parameters)
    driver.run(1, show_progress=False)  # writes step 1 at the end; step 0 becomes .prev
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04  # one flipped bit in the payload
    path.write_bytes(bytes(data))
    fresh = build(path)
    with pytest.warns(UserWarning, match="checksum does not match"):
        assert fresh.load_checkpoint() == 0
    np.testing.assert_array_equal(_flat(fresh.state.parameters), params_0)

    # Both damaged: one clear error naming both.
    prev = ckpt.previous_path(path)
    prev.write_bytes(prev.read_bytes()[:-7])
    with pytest.raises(ValueError, match="No readable checkpoint") as err:
        build(path).load_checkpoint()
    assert str(prev) in str(err.value) and str(path) in str(err.value)


def test_stale_temporary_files_are_removed(tmp_path):
    path = tmp_path / "c.mpack"
    stale = tmp_path / ".c.mpack.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    build(path).save_checkpoint()
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mpack"]

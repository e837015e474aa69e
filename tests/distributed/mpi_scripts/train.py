"""A short training on the ranks, with logs and checkpoints.

``train.py OUT write``: runs 4 steps straight (the reference trajectory), then
2 steps from the same start with a checkpoint every 2 steps. ``train.py OUT
resume``: a driver built from a differently seeded state resumes from that
checkpoint and runs the last 2 steps. Each rank reports its parameters, its
energies, what it wrote and which callbacks it ran.
"""

import sys

import _common
import netket as nk

import netket_factored_vit as nfv
from netket_factored_vit._src.driver import checkpoint as ckpt

out = _common.out_dir()
phase = sys.argv[2]
r = nfv.distributed.rank()

# Record which rank writes checkpoint files.
writes = []
_write = ckpt.write_checkpoint


def recording_write(path, header, state):
    writes.append(str(path))
    return _write(path, header, state)


ckpt.write_checkpoint = recording_write

callback_names = []


def run(driver, n, prefix):
    original = driver._default_callbacks

    def recording(callbacks, **kwargs):
        lst = original(callbacks, **kwargs)
        callback_names.append(sorted(type(c).__name__ for c in lst.callbacks))
        return lst

    driver._default_callbacks = recording
    log = nk.logging.RuntimeLog()
    loggers = driver.run(n, out=(log, nk.logging.JsonLog(str(out / f"{prefix}_rank{r}"))))
    energies = [] if not loggers else [float(e) for e in log.data["Energy"]["Mean"].real]
    return energies, len(loggers)


path = out / "ckpt.mpack"
kw = dict(complex_logpsi=True, momentum=0.5, check_every=1)
result = {"rank": r}
if phase == "write":
    straight = _common.small_driver(**kw)
    result["straight_energies"], result["n_loggers"] = run(straight, 4, "straight")
    result["straight_params"] = _common.flat(straight.state.parameters).tolist()
    result["straight_digest"] = _common.digest(straight.state.parameters)
    first = _common.small_driver(**kw, checkpoint_path=path, checkpoint_every=2)
    result["first_energies"], _ = run(first, 2, "first")
else:
    resumed = _common.small_driver(
        **kw, seed=99, sampler_seed=98, checkpoint_path=path, checkpoint_every=2, resume=True
    )
    result["resumed_step"] = resumed.step_count
    result["second_energies"], _ = run(resumed, 2, "second")
    result["resumed_params"] = _common.flat(resumed.state.parameters).tolist()
    result["resumed_digest"] = _common.digest(resumed.state.parameters)
result["writes"] = writes
result["callbacks"] = callback_names
_common.write(r, result)

"""MPI weak scaling of ``nfv.driver.VMC_SR``, and NetKet's own multi-process path.

Three runs of the same model (the ``small`` factored ViT preset on the 4x4
J1-J2 model at J2 = 0.5, minSR, float64), each launched by ``mpirun`` with
every rank pinned to one core (``--bind-to core`` and single-threaded XLA):

- ``ours x1``: our driver on 1 rank with ``S`` samples;
- ``ours x2``: our driver on 2 ranks with ``S`` samples each (weak scaling:
  ideally the same time per step; efficiency = t(1 rank) / t(2 ranks));
- ``netket x2``: ``nk.driver.VMC_SR`` on 2 processes joined by
  ``jax.distributed`` with gloo CPU collectives, ``2 S`` samples in total
  (NetKet shards the chains over the processes' devices), compared with
  ``ours x2`` at the same total.

Each run does ``--warmup`` steps (compilation) and then ``--steps`` timed
steps; the table gives the median wall time per step of rank 0 (sampling,
local energies, Jacobian, solve and update; the ranks wait for each other at
every reduction, so rank 0's time is the step's).

Run::

    .venv/bin/python bench/bench_mpi.py                 # about 3 minutes on 2 cores
    .venv/bin/python bench/bench_mpi.py --samples 256 --steps 3   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"


# ---------------------------------------------------------------- one rank's work


def _worker(args) -> None:
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    import jax

    if args.worker == "netket":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}", num_processes=size, process_id=rank
        )
    import netket as nk
    import optax

    import netket_factored_vit as nfv

    system = nfv.systems.j1j2(4, J2=0.5)
    model = nfv.models.vit_preset("small")
    # Our ranks each sample `samples`; NetKet's n_samples is the total over processes.
    n_chains = 16 if args.worker == "ours" else 16 * size
    n_samples = args.samples if args.worker == "ours" else args.samples * size
    sampler = nk.sampler.MetropolisExchange(
        system.hilbert, graph=system.graph, n_chains=n_chains, d_max=2
    )
    vs = nk.vqs.MCState(sampler, model, n_samples=n_samples, seed=0, sampler_seed=1)
    kw = dict(variational_state=vs, diag_shift=1e-3, use_ntk=True)
    if args.worker == "ours":
        driver = nfv.driver.VMC_SR(system.hamiltonian, optax.sgd(0.02), **kw)
    else:
        driver = nk.driver.VMC_SR(system.hamiltonian, optax.sgd(0.02), on_the_fly=False, **kw)

    stamps, phases = [], []

    def stamp(step, log, drv):
        jax.block_until_ready(drv.state.parameters)
        stamps.append(time.perf_counter())
        if args.worker == "ours":
            phases.append(drv._last["timing"])
        return True

    driver.run(args.warmup, show_progress=False)
    t0 = time.perf_counter()
    driver.run(args.steps, show_progress=False, callback=stamp)
    times = [b - a for a, b in zip([t0, *stamps[:-1]], stamps, strict=True)]
    if rank == 0:
        Path(args.out).write_text(
            json.dumps(
                {
                    "times": times,
                    "phases": phases,
                    "n_parameters": int(vs.n_parameters),
                    "devices": len(jax.devices()),
                    "processes": jax.process_count(),
                }
            )
        )


# ---------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(kind: str, n: int, args, tmp: Path) -> dict:
    out = tmp / f"{kind}{n}.json"
    env = dict(os.environ)
    for var in list(env):
        if var.startswith(("OMPI_COMM_WORLD", "PMI_", "PMIX_")):
            del env[var]
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        JAX_PLATFORMS="cpu",
        JAX_ENABLE_X64="1",
        XLA_FLAGS=SINGLE_THREAD,
        # Waiting ranks yield the core instead of spinning: fairer when cores are shared.
        OMPI_MCA_mpi_yield_when_idle="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    cmd = ["mpirun", "-np", str(n), "--bind-to", "core", "--oversubscribe"]
    cmd += [sys.executable, __file__, "--worker", kind, "--out", str(out)]
    cmd += ["--samples", str(args.samples), "--steps", str(args.steps)]
    cmd += ["--warmup", str(args.warmup), "--port", str(_free_port())]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    result = json.loads(out.read_text())
    result["wall"] = time.perf_counter() - t0
    return result


def _median(values):
    values = sorted(values)
    k = len(values) // 2
    return values[k] if len(values) % 2 else 0.5 * (values[k - 1] + values[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512, help="samples per rank (S)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation)")
    parser.add_argument("--worker", choices=("ours", "netket"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _worker(args)
        return
    if shutil.which("mpirun") is None:
        sys.exit("mpirun is not on PATH: install OpenMPI (and mpi4py, mpi4jax).")
    if args.samples <= 0 or args.samples % 16:
        sys.exit(f"--samples must be a positive multiple of 16 (the chains), got {args.samples}.")

    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "ours x1": _launch("ours", 1, args, Path(tmp)),
            "ours x2": _launch("ours", 2, args, Path(tmp)),
            "netket x2": _launch("netket", 2, args, Path(tmp)),
        }
    t = {k: _median(v["times"]) for k, v in runs.items()}
    split = {
        k: {p: _median([s[p] for s in runs[k]["phases"]]) for p in runs[k]["phases"][0]}
        for k in ("ours x1", "ours x2")
    }
    S = args.samples
    print(
        f"# bench_mpi: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"P = {runs['ours x1']['n_parameters']}, minSR, float64, S = {S} samples per rank, "
        f"median of {args.steps} steps after {args.warmup} warm-up"
    )
    print("| run | ranks | total samples | s / step | note |")
    print("|---|---|---|---|---|")
    print(f"| ours | 1 | {S} | {t['ours x1']:.3f} | |")
    print(
        f"| ours | 2 | {2 * S} | {t['ours x2']:.3f} | weak-scaling efficiency "
        f"{t['ours x1'] / t['ours x2']:.2f} |"
    )
    print(
        f"| netket (jax.distributed, gloo) | 2 | {2 * S} | {t['netket x2']:.3f} | "
        f"netket / ours = {t['netket x2'] / t['ours x2']:.2f} |"
    )
    for k, v in split.items():
        print(f"{k}, median per phase (s): " + ", ".join(f"{p} {x:.3f}" for p, x in v.items()))
    print(
        "command: .venv/bin/python bench/bench_mpi.py "
        f"--samples {S} --steps {args.steps} --warmup {args.warmup}"
    )


if __name__ == "__main__":
    main()

"""Cholesky of a 1024 x 1024 SPD matrix, numpy and jax, with 1 thread and with all cores.

Thread counts are fixed when BLAS and XLA start, so each setting runs in a fresh
process that imports ``netket_factored_vit`` first: ``NFV_THREADS_PER_RANK=n`` there
binds the process to ``n`` cores and sets the BLAS and XLA thread counts to ``n``
(what each rank gets under ``mpirun`` with several ranks per node); without it a plain
run keeps every core. The settings alternate, ``--rounds`` times, so that a change of
machine load hits them alike; each process reports the median of ``--repeats`` calls.

Run::

    .venv/bin/python bench/bench_threads.py      # about 1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = """
import json, os, time
import netket_factored_vit  # applies NFV_THREADS_PER_RANK before numpy and jax start
import numpy as np, jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
n, repeats = {n}, {repeats}
B = np.random.default_rng(0).normal(size=(n, n))
A = B @ B.T + n * np.eye(n)
def median_time(f):
    f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); f(); times.append(time.perf_counter() - t0)
    return float(np.median(times))
chol = jax.jit(jnp.linalg.cholesky)
Aj = jnp.asarray(A)
print(json.dumps({{
    "cores": len(os.sched_getaffinity(0)),
    "numpy_s": median_time(lambda: np.linalg.cholesky(A)),
    "jax_s": median_time(lambda: chol(Aj).block_until_ready()),
}}))
"""


def run(setting: str | None, n: int, repeats: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    for name in ("NFV_THREADS_PER_RANK", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS"):
        env.pop(name, None)
    if setting is not None:
        env["NFV_THREADS_PER_RANK"] = setting
    code = CHILD.format(n=n, repeats=repeats)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = {"all cores (default)": None, "NFV_THREADS_PER_RANK=1": "1"}
    results = {k: [] for k in settings}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, setting in settings.items():
            results[name].append(run(setting, args.size, args.repeats))
            loads.append(os.getloadavg()[0])
    print(f"{os.cpu_count()} cores, load average {min(loads):.1f}-{max(loads):.1f}")
    print("| setting | cores used | numpy cholesky (ms) | jax cholesky (ms) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        numpy_ms = 1e3 * np.median([r["numpy_s"] for r in rows])
        jax_ms = 1e3 * np.median([r["jax_s"] for r in rows])
        print(f"| {name} | {rows[0]['cores']} | {numpy_ms:.1f} | {jax_ms:.1f} |")


if __name__ == "__main__":
    main()

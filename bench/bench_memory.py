"""Memory of the minSR step, from XLA's compiled memory analysis, against 2M P 8 + (2M)^2 8.

For each case the two compiled parts of our step (the Jacobian rows
``step_inputs.jacobian_rows`` and the solve ``sr_solves.solve_update``) are lowered
and compiled, never run, and their arguments + outputs + temporaries are read from
``compiled.memory_analysis()``. The step's peak is the larger of the two (``X`` is the
output of the first and the argument of the second). As a baseline, the same is done
in the same run for the step as it was before this change: NetKet's dense Jacobian of
all samples at once then centred into a second array, and a kernel assembled from
row-block products (``jnp.block``) then factorised with ``cho_factor``.

Run::

    .venv/bin/python bench/bench_memory.py            # 4x4 and 6x6 small ViT; 1-2 minutes
    .venv/bin/python bench/bench_memory.py --published  # adds the 10x10 published ViT, M = 8192
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import jax.scipy as jsp
import numpy as np
from netket import jax as nkjax

import netket_factored_vit as nfv
from netket_factored_vit._src.distributed.collectives import LOCAL
from netket_factored_vit._src.driver import sr_solves, step_inputs

MiB = 2**20


@partial(jax.jit, static_argnames=("apply_fun", "chunk_size"))
def baseline_jacobian_rows(apply_fun, parameters, model_state, samples, local_energies, *,
                           chunk_size):  # fmt: skip
    jacobian = nkjax.jacobian(
        apply_fun, parameters, samples, model_state, mode="complex", dense=True,
        center=False, chunk_size=chunk_size,
    )  # fmt: skip
    X, f, _ = sr_solves.centre_and_scale(jacobian, local_energies, mode="complex")
    return X, f


@jax.jit
def baseline_minsr_solve(X, f, diag_shift):
    n = X.shape[0]
    n_blocks = max(1, min(8, n // 256))
    edges = [round(i * n / n_blocks) for i in range(n_blocks + 1)]
    blocks = [X[edges[i] : edges[i + 1]] for i in range(n_blocks)]
    T = [[None] * n_blocks for _ in range(n_blocks)]
    for i in range(n_blocks):
        for j in range(i + 1):
            T[i][j] = blocks[i] @ blocks[j].T
            if j != i:
                T[j][i] = T[i][j].T
    T = jnp.block(T) + diag_shift * jnp.eye(n)
    y = jsp.linalg.cho_solve(jsp.linalg.cho_factor(T, lower=False), f)
    return X.T @ y


def total_bytes(compiled) -> int:
    m = compiled.memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes


def case(name, model, lattice, n_samples, chunk_size):
    system = nfv.systems.j1j2(lattice, J2=0.5)
    samples = system.hilbert.random_state(jax.random.key(0), n_samples).astype(jnp.float64)
    variables = model.init(jax.random.key(1), samples[:2])
    params = variables["params"]
    model_state = {k: v for k, v in variables.items() if k != "params"}
    rng = np.random.default_rng(0)
    eloc = jnp.asarray(rng.normal(size=n_samples) + 1j * rng.normal(size=n_samples))
    args = (model.apply, params, model_state, samples, eloc, None)
    kw = dict(mode="complex", chunk_size=chunk_size, collectives=LOCAL)
    X, f = jax.eval_shape(lambda: step_inputs.jacobian_rows(*args, **kw))
    ours = {
        "jacobian": total_bytes(step_inputs.jacobian_rows.lower(*args, **kw).compile()),
        "solve": total_bytes(
            sr_solves.solve_update.lower(X, f, 1e-3, None, None, use_ntk=True).compile()
        ),
    }
    base = {
        "jacobian": total_bytes(
            baseline_jacobian_rows.lower(*args[:5], chunk_size=chunk_size).compile()
        ),
        "solve": total_bytes(baseline_minsr_solve.lower(X, f, 1e-3).compile()),
    }
    rows, n_params = X.shape
    estimate = rows * n_params * 8 + rows**2 * 8
    result = {
        "case": name,
        "samples": n_samples,
        "parameters": n_params,
        "chunk_size": chunk_size,
        "estimate_MiB": estimate / MiB,
        "ours_MiB": {k: v / MiB for k, v in ours.items()},
        "baseline_MiB": {k: v / MiB for k, v in base.items()},
        "ours_peak_over_estimate": max(ours.values()) / estimate,
        "baseline_peak_over_estimate": max(base.values()) / estimate,
    }
    print(json.dumps(result))
    return result


def time_solves(rows: int, n_params: int, repeats: int) -> dict:
    """Median seconds of our minSR solve and of the baseline's on the same random ``X``,
    called in turns."""
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(rows, n_params)) / np.sqrt(rows))
    f = jnp.asarray(rng.normal(size=rows))
    calls = {
        "ours": lambda: sr_solves.solve_update(X, f, 1e-3, None, None, use_ntk=True)[0],
        "baseline": lambda: baseline_minsr_solve(X, f, 1e-3),
    }
    for call in calls.values():
        jax.block_until_ready(call())
    times = {k: [] for k in calls}
    for _ in range(repeats):
        for k, call in calls.items():
            t0 = time.perf_counter()
            jax.block_until_ready(call())
            times[k].append(time.perf_counter() - t0)
    result = {k: float(np.median(v)) for k, v in times.items()}
    ours, ref = calls["ours"](), calls["baseline"]()
    result["max_abs_difference"] = float(jnp.max(jnp.abs(ours - ref)))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--published", action="store_true", help="add the 10x10 published ViT at M = 8192"
    )
    parser.add_argument(
        "--time-solve",
        type=int,
        default=0,
        metavar="N",
        help="also time our solve and the baseline's, N calls each in turns (2M = 1024)",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    if args.time_solve:
        timing = time_solves(1024, 6208, args.time_solve)
        print(f"minSR solve, 2M = 1024, P = 6208, load {os.getloadavg()[0]:.1f}: {timing}")
    small = nfv.models.vit_preset
    cases = [
        ("4x4 small, M=512", small("small"), 4, 512, None),
        ("4x4 small, M=512, chunk 512", small("small"), 4, 512, 512),
        ("6x6 small, M=512", small("small", lattice_shape=(6, 6)), 6, 512, None),
        ("6x6 small, M=768", small("small", lattice_shape=(6, 6)), 6, 768, None),
    ]
    if args.published:
        # The sample count that ran out of memory on one H200 (docs/benchmarks.md, GPU).
        cases.append(("10x10 published, M=8192", small("published_10x10"), 10, 8192, 256))
    results = [case(*c) for c in cases]
    print("\n| case | P | estimate (MiB) | ours: Jacobian / solve (MiB) | ours peak / estimate "
          "| before: Jacobian / solve (MiB) | before peak / estimate |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in results:
        o, b = r["ours_MiB"], r["baseline_MiB"]
        print(
            f"| {r['case']} | {r['parameters']:,} | {r['estimate_MiB']:.1f} | "
            f"{o['jacobian']:.1f} / {o['solve']:.1f} | {r['ours_peak_over_estimate']:.2f} | "
            f"{b['jacobian']:.1f} / {b['solve']:.1f} | {r['baseline_peak_over_estimate']:.2f} |"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

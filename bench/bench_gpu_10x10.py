"""One rank on one GPU: the published 10x10 ViT, ``nfv.driver.VMC_SR`` vs ``nk.driver.VMC_SR``.

The ``published_10x10`` preset (factored attention, d = 72, h = 12, 8 layers,
patch 2, 434,760 parameters) on the 10x10 J1-J2 model at J2 = 0.5, minSR,
float64, ``--samples`` samples per step. Both drivers optimise copies of the
same variational state (same seeds); they are compiled with ``--warmup``
steps and then timed in turns, one step each, so that both see the same
machine. The script stops timing when ``--budget`` seconds have passed, so
the whole run stays under 10 minutes on one GPU.

Prints a table and writes it as JSON to ``--out`` (default:
``$OUT/bench_gpu_10x10.json`` when ``$OUT`` is set, else
``bench_gpu_10x10.json``): the step times, the split of our step into its phases
(sampling, local energies, Jacobian, solve) and the device's peak memory
(``memory_stats()["peak_bytes_in_use"]``, the peak of the whole process).
``--drivers ours`` with a large ``--samples`` probes the largest sample count that
fits: run it once per count, each in its own process, so each peak is its own.

Run::

    python bench/bench_gpu_10x10.py                  # on a GPU machine
    python bench/bench_gpu_10x10.py --drivers ours --samples 8192 --steps 1 --warmup 1
    python bench/bench_gpu_10x10.py --tiny           # smoke check on a CPU: 4x4, small ViT
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import netket as nk
import numpy as np
import optax

import netket_factored_vit as nfv


def build(args):
    if args.tiny:
        system, preset = nfv.systems.j1j2(4, J2=0.5), "small"
    else:
        system, preset = nfv.systems.j1j2(10, J2=0.5), "published_10x10"
    model = nfv.models.vit_preset(preset)

    def state():
        sampler = nk.sampler.MetropolisExchange(
            system.hilbert, graph=system.graph, n_chains=args.chains, d_max=2
        )
        return nk.vqs.MCState(
            sampler,
            model,
            n_samples=args.samples,
            n_discard_per_chain=0,
            chunk_size=args.chunk_size,
            seed=0,
            sampler_seed=1,
        )

    kw = dict(diag_shift=1e-3, use_ntk=True)
    H = system.hamiltonian
    makers = {
        "ours": lambda: nfv.driver.VMC_SR(
            H, optax.sgd(0.01), variational_state=state(), collectives=nfv.distributed.LOCAL, **kw
        ),
        "netket": lambda: nk.driver.VMC_SR(
            H, optax.sgd(0.01), variational_state=state(), on_the_fly=False, **kw
        ),
    }
    return system, preset, {name: makers[name]() for name in args.drivers}


def timed_step(driver, log) -> float:
    t0 = time.perf_counter()
    driver.run(1, out=log, show_progress=False)
    jax.block_until_ready(driver.state.parameters)
    return time.perf_counter() - t0


def phase_split(log) -> dict:
    """Median seconds of each phase of our step, from the ``timing`` entries of its log."""
    timing = log.data.get("timing") if log is not None else None
    if timing is None:
        return {}
    return {k: float(np.median(np.asarray(timing[k].values))) for k in timing}


def peak_memory_gib() -> float | None:
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="4x4 and the small ViT (CPU check)")
    parser.add_argument("--samples", type=int, default=None, help="samples per step")
    parser.add_argument("--chains", type=int, default=None, help="Markov chains")
    parser.add_argument("--chunk-size", type=int, default=None, help="samples per forward chunk")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per driver")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation)")
    parser.add_argument("--budget", type=float, default=420.0, help="stop timing after (s)")
    parser.add_argument("--out", default=None, help="JSON output file")
    parser.add_argument(
        "--drivers", default="ours,netket", help="comma-separated drivers to time: ours, netket"
    )
    args = parser.parse_args()
    args.drivers = args.drivers.split(",")
    if not args.drivers or any(d not in ("ours", "netket") for d in args.drivers):
        parser.error(f"--drivers must name ours and/or netket, got {args.drivers}")
    args.samples = args.samples or (64 if args.tiny else 1024)
    args.chains = args.chains or (16 if args.tiny else 256)
    args.chunk_size = args.chunk_size or (None if args.tiny else 256)
    if args.samples % args.chains:
        parser.error(f"--samples {args.samples} must be a multiple of --chains {args.chains}")
    out = Path(args.out or Path(os.environ.get("OUT", ".")) / "bench_gpu_10x10.json")

    start = time.perf_counter()
    device = jax.devices()[0]
    print(f"# device: {device.device_kind} ({device.platform}), jax {jax.__version__}", flush=True)
    system, preset, drivers = build(args)
    first = next(iter(drivers.values()))
    n_params = first.state.n_parameters
    print(
        f"# {preset} on {system.name}: P = {n_params}, M = {args.samples}, minSR, float64",
        flush=True,
    )
    compile_s = {}
    for name, drv in drivers.items():
        t0 = time.perf_counter()
        drv.run(args.warmup, show_progress=False)
        jax.block_until_ready(drv.state.parameters)
        compile_s[name] = time.perf_counter() - t0
        print(f"# {name}: {args.warmup} warm-up steps in {compile_s[name]:.1f} s", flush=True)
    times = {k: [] for k in drivers}
    logs = {k: nk.logging.RuntimeLog() for k in drivers}
    for _ in range(args.steps):
        if time.perf_counter() - start > args.budget:
            print(f"# time budget of {args.budget:.0f} s reached", flush=True)
            break
        for name, drv in drivers.items():
            times[name].append(timed_step(drv, logs[name]))
    if not all(times.values()):
        raise SystemExit("no step was timed within the budget; raise --budget")

    median = {k: float(np.median(v)) for k, v in times.items()}
    base = median.get("ours", next(iter(median.values())))
    print("| driver | median s / step | steps | warm-up s | ratio to ours |")
    print("|---|---|---|---|---|")
    for k, v in median.items():
        print(f"| {k} | {v:.3f} | {len(times[k])} | {compile_s[k]:.1f} | {v / base:.2f} |")
    phases = phase_split(logs.get("ours"))
    peak = peak_memory_gib()
    if phases:
        print("# our phases (median s): " + ", ".join(f"{k} {v:.3f}" for k, v in phases.items()))
    print(f"# peak device memory of this process: {peak} GiB", flush=True)
    result = {
        "device": f"{device.device_kind} ({device.platform})",
        "host": platform.node(),
        "preset": preset,
        "system": system.name,
        "n_parameters": int(n_params),
        "n_samples": args.samples,
        "n_chains": args.chains,
        "chunk_size": args.chunk_size,
        "times": times,
        "median": median,
        "phases_ours": phases,
        "peak_memory_gib": peak,
        "warmup_s": compile_s,
        "total_s": time.perf_counter() - start,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"# wrote {out}; total {result['total_s']:.0f} s")


if __name__ == "__main__":
    main()

"""The FLOP rate of a step, phase by phase, against a dense float64 matrix product.

A run's settings file (default: the study's 6x6 model, ``docs/study/configs/j1j2_6x6.toml``)
is built as ``nfv run`` builds it; its driver takes ``--warmup`` steps (compilation) and
then ``--steps`` timed steps, on one thread (``NFV_THREADS_PER_RANK=1`` unless set). In the
same process and on the same thread a ``--matmul`` square matrix product gives the rate the
core reaches.

The floating-point operations a phase needs are the evaluations it makes times the cost of
one evaluation, counted by XLA's cost analysis of the projected model (all its images) on a
batch of configurations:

- sampling: one evaluation per Metropolis move, ``n_sites`` moves per sample (one sweep),
  over the samples and the discarded ones of every chain;
- local energies: one evaluation per connection that exists (a bond with antiparallel
  spins, counted on the step's samples), plus the sample itself;
- Jacobian: three evaluations per sample (the forward pass and its reverse);
- solve: the formula of :mod:`netket_factored_vit._src.cli.step_time` (minSR or SR).

Each phase is reported as its time, its rate and its time expressed in "GFlop-equivalents"
(time x the matrix product's rate): what the machine could have computed meanwhile.

Run::

    python bench/bench_flops.py --out bench/results/flops_6x6_cpu.json
    python bench/bench_flops.py --n-samples 64 --n-chains 16   # a quick look
"""

import os

os.environ.setdefault("NFV_THREADS_PER_RANK", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import netket as nk  # noqa: E402
import numpy as np  # noqa: E402

import netket_factored_vit as nfv  # noqa: E402, F401  (applies the thread plan; nothing has run)
from netket_factored_vit._src.cli import build, config as cfg, step_time  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "docs/study/configs/j1j2_6x6.toml"
PHASES = ("sampling", "local_energies", "jacobian", "solve")


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="a settings file")
    parser.add_argument("--n-samples", type=int, help="override the file's samples per step")
    parser.add_argument("--n-chains", type=int, help="override the file's chains")
    parser.add_argument("--dtype", choices=("float64", "float32"), help="override the dtype")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps (compilation)")
    parser.add_argument("--steps", type=int, default=1, help="timed steps (median)")
    parser.add_argument("--matmul", type=int, default=1024, help="side of the matrix product")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    for name in ("n_samples", "n_chains", "warmup", "steps", "matmul"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "warmup" else 1):
            parser.error(f"--{name.replace('_', '-')} {value} must be at least 1")
    if not args.config.is_file():
        parser.error(f"--config {args.config}: no such file")
    return args


def _config(args) -> cfg.RunConfig:
    settings = cfg.read_toml(args.config)
    for name in ("n_samples", "n_chains", "dtype"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    config = cfg.resolve(cfg.from_settings(settings))
    if config.exact:
        raise SystemExit(f"{args.config}: an exact run has no sampling; give a sampled one")
    return config


def _matmul_rate(size: int, repeats: int = 5) -> float:
    a = jnp.asarray(np.random.default_rng(0).normal(size=(size, size)))
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times))


def _flops_per_evaluation(vstate, n_sites: int, batch: int = 64) -> float:
    """XLA's count for one configuration, every image of the projection included."""
    x = jnp.ones((batch, n_sites), dtype=vstate.samples.dtype)
    variables = {"params": vstate.parameters, **vstate.model_state}
    cost = jax.jit(vstate._apply_fun).lower(variables, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) / batch


def _evaluations(vstate, hamiltonian, n_sites: int) -> dict[str, float]:
    sampler = vstate.sampler
    per_chain = vstate.n_samples // sampler.n_chains + vstate.n_discard_per_chain
    samples = np.asarray(vstate.samples).reshape(-1, n_sites)
    bonds = np.asarray(hamiltonian.bonds)
    antiparallel = (samples[:, bonds[:, 0]] != samples[:, bonds[:, 1]]).sum(axis=1)
    return {
        "sampling": float(sampler.n_chains * per_chain * sampler.sweep_size),
        "local_energies": float(np.sum(antiparallel + 1)),
        "jacobian": 3.0 * len(samples),
    }


def main():
    args = _parse()
    config = _config(args)
    system = build.build_system(config)
    vit = build.build_vit(config)
    model = build.wrap_symmetrized(config, vit)
    vstate = build.build_state(config, system, model, ranks=1)
    with tempfile.TemporaryDirectory() as out:
        driver = build.build_driver(config, system, vstate, Path(out), resume=False)
        driver.run(args.warmup, out=nk.logging.RuntimeLog(), show_progress=False)
        log = nk.logging.RuntimeLog()
        driver.run(args.steps, out=log, show_progress=False)
    seconds = {
        phase: float(np.median(np.asarray(log.data["timing"][phase]["value"]))) for phase in PHASES
    }
    wall = float(np.median(np.asarray(log.data["timing"]["total"]["value"])))
    rate = _matmul_rate(args.matmul)
    per_evaluation = _flops_per_evaluation(vstate, system.n_sites)
    evaluations = _evaluations(vstate, system.hamiltonian, system.n_sites)
    use_ntk = {"auto": None, "yes": True, "no": False}[config.use_ntk]
    # the solve's share of the module's formula: the step less its model evaluations
    model_flops = (
        step_time.forward_flops(vit)
        * step_time.images(model)
        * config.n_samples
        * (3 * system.n_sites + 3)
    )
    solve_flops = step_time.step_flops(vit, model, config.n_samples, use_ntk=use_ntk) - model_flops
    needed = {phase: evaluations[phase] * per_evaluation for phase in evaluations}
    needed["solve"] = solve_flops
    rows = []
    for phase in PHASES:
        rows.append(
            {
                "phase": phase,
                "seconds": seconds[phase],
                "gflop_needed": needed[phase] / 1e9,
                "gflop_per_s": needed[phase] / seconds[phase] / 1e9,
                "fraction_of_matmul": needed[phase] / seconds[phase] / rate,
                "gflop_equivalents": seconds[phase] * rate / 1e9,
            }
        )
    result = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": os.environ.get("NFV_THREADS_PER_RANK"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "cores": sorted(os.sched_getaffinity(0)),
        "config": str(args.config),
        "lattice": list(config.lattice_shape),
        "n_samples": config.n_samples,
        "n_chains": config.n_chains,
        "dtype": config.dtype,
        "n_parameters": int(vit.num_parameters),
        "images": step_time.images(model),
        "mflop_per_evaluation_xla": per_evaluation / 1e6,
        "evaluations": evaluations,
        "matmul_side": args.matmul,
        "matmul_gflop_per_s": rate / 1e9,
        "step_seconds": wall,
        "step_gflop_equivalents": wall * rate / 1e9,
        "step_gflop_needed": sum(needed.values()) / 1e9,
        "phases": rows,
    }
    print(
        f"{config.lattice_shape[0]}x{config.lattice_shape[1]}, M = {config.n_samples}, "
        f"{config.dtype}, {per_evaluation / 1e6:.3g} MFlop per evaluation (XLA, "
        f"{step_time.images(model)} images); matmul {args.matmul}^2: {rate / 1e9:.3g} GFlop/s"
    )
    print("| phase | s | GFlop needed | GFlop/s | of the matmul | GFlop-equivalents |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['phase']} | {r['seconds']:.3g} | {r['gflop_needed']:.4g} | "
            f"{r['gflop_per_s']:.3g} | {r['fraction_of_matmul']:.1%} | "
            f"{r['gflop_equivalents']:.4g} |"
        )
    print(
        f"| step | {wall:.3g} | {result['step_gflop_needed']:.4g} | "
        f"{result['step_gflop_needed'] / wall:.3g} | "
        f"{result['step_gflop_needed'] * 1e9 / wall / rate:.1%} | "
        f"{result['step_gflop_equivalents']:.4g} |"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

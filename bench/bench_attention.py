"""Per-sample cost of log psi and of its Jacobian for factored, T5 and decoupled attention.

For every lattice and every size preset the three attentions are built with the same
d, h and depth, compiled, and then timed in turns (factored, T5, decoupled, factored, ...)
so that the ratios factored / T5 come from the same run under the same machine load.
Each timing is the median over repetitions of one jitted call on a batch, divided by the
batch size. The Jacobian is NetKet's ``nk.jax.jacobian(..., mode="complex")``, the object
SR and minSR consume.

Run::

    python bench/bench_attention.py
    python bench/bench_attention.py --lattices 6 --sizes small --repeats 3
"""

import argparse
import os
import platform
import shlex
import sys
import time

import jax
import jax.numpy as jnp
import netket as nk
import numpy as np

import netket_factored_vit as nfv

ATTENTIONS = ("factored", "t5", "decoupled")


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lattices", type=int, nargs="+", default=[6, 10], help="sides L of LxL")
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=["small", "published_10x10"],
        choices=nfv.models.preset_names(),
        help="presets giving d, h, layers and patch size",
    )
    parser.add_argument("--batch", type=int, default=256, help="samples per log psi call")
    parser.add_argument("--jac-batch", type=int, default=64, help="samples per Jacobian call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case (median)")
    parser.add_argument(
        "--min-time", type=float, default=0.1, help="seconds per measurement (repeated calls)"
    )
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _timed(fn, args, calls):
    # wall time, and CPU time of this process (all threads): the latter is less
    # sensitive to other jobs sharing the cores
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        jax.block_until_ready(fn(*args))
    return time.perf_counter() - wall, time.process_time() - cpu


def _calls_for(fn, args, min_seconds):
    """Number of back-to-back calls that make one measurement last at least min_seconds."""
    wall, _ = _timed(fn, args, 1)
    return max(1, int(np.ceil(min_seconds / max(wall, 1e-6))))


def _build(preset, side, attention, dtype, batch, jac_batch, rng):
    model = nfv.models.vit_preset(
        preset, lattice_shape=(side, side), attention=attention, param_dtype=dtype
    )
    n_sites = side * side
    x = jnp.asarray(rng.choice([-1.0, 1.0], size=(batch, n_sites)), dtype=dtype)
    variables = model.init(jax.random.key(0), x[:1])

    forward = jax.jit(model.apply)

    @jax.jit
    def jacobian(variables, samples):
        return nk.jax.jacobian(model.apply, variables["params"], samples, mode="complex")

    cases = {
        "forward": (forward, (variables, x), batch),
        "jacobian": (jacobian, (variables, x[:jac_batch]), jac_batch),
    }
    for fn, args, _ in cases.values():
        jax.block_until_ready(fn(*args))  # compile outside the timings
    return model, cases


def main():
    args = _parse()
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    rng = np.random.default_rng(args.seed)
    command = "python " + " ".join(
        shlex.quote(a) for a in ["bench/bench_attention.py", *sys.argv[1:]]
    )
    t_start = time.perf_counter()

    rows = []
    for side in args.lattices:
        for preset in args.sizes:
            built = {
                a: _build(preset, side, a, dtype, args.batch, args.jac_batch, rng)
                for a in ATTENTIONS
            }
            times = {(a, k): [] for a in ATTENTIONS for k in ("forward", "jacobian")}
            calls = {
                (a, k): _calls_for(*built[a][1][k][:2], args.min_time)
                for a in ATTENTIONS
                for k in ("forward", "jacobian")
            }
            for _ in range(args.repeats):
                for kind in ("forward", "jacobian"):
                    for a in ATTENTIONS:
                        fn, fn_args, n = built[a][1][kind]
                        c = calls[(a, kind)]
                        times[(a, kind)].append(np.array(_timed(fn, fn_args, c)) / (n * c))
            for a in ATTENTIONS:
                model = built[a][0]
                rows.append(
                    {
                        "lattice": f"{side}x{side}",
                        "preset": preset,
                        "d": model.d_model,
                        "h": model.num_heads,
                        "layers": model.num_layers,
                        "attention": a,
                        "params": model.num_parameters,
                        "forward": np.median(times[(a, "forward")], axis=0),
                        "jacobian": np.median(times[(a, "jacobian")], axis=0),
                    }
                )

    cpu = platform.processor() or platform.machine()
    print(f"command: {command}")
    print(
        f"jax {jax.__version__}, netket {nk.__version__}, device {jax.devices()[0].platform} "
        f"({cpu}, {os.cpu_count()} cores), dtype {args.dtype}, load average at end "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"batch {args.batch} (log psi), {args.jac_batch} (Jacobian), median of {args.repeats} "
        f"measurements of at least {args.min_time} s each, "
        f"total time {time.perf_counter() - t_start:.0f} s"
    )
    print()
    print("Wall time and CPU time (all threads of this process) per sample, in microseconds.")
    print()
    print(
        "| lattice | preset | d | h | layers | attention | parameters | log psi wall | log psi CPU "
        "| Jacobian wall | Jacobian CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        (fw, fc), (jw, jc) = 1e6 * r["forward"], 1e6 * r["jacobian"]
        print(
            f"| {r['lattice']} | {r['preset']} | {r['d']} | {r['h']} | {r['layers']} "
            f"| {r['attention']} | {r['params']:,} | {fw:.1f} | {fc:.1f} | {jw:.1f} | {jc:.1f} |"
        )
    print()
    print("Ratios of the per-sample costs above, wall / CPU.")
    print()
    print(
        "| lattice | preset | factored / T5 log psi | factored / T5 Jacobian "
        "| decoupled / T5 log psi | decoupled / T5 Jacobian |"
    )
    print("|---|---|---|---|---|---|")
    by_key = {(r["lattice"], r["preset"], r["attention"]): r for r in rows}

    def ratio(a, b, kind):
        w, c = a[kind] / b[kind]
        return f"{w:.2f} / {c:.2f}"

    for side in args.lattices:
        for preset in args.sizes:
            lat = f"{side}x{side}"
            f, t, dc = (by_key[(lat, preset, a)] for a in ATTENTIONS)
            print(
                f"| {lat} | {preset} | {ratio(f, t, 'forward')} | {ratio(f, t, 'jacobian')} "
                f"| {ratio(dc, t, 'forward')} | {ratio(dc, t, 'jacobian')} |"
            )


if __name__ == "__main__":
    main()

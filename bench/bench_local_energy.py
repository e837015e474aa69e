"""Local energies alone: NetKet's Heisenberg operator against ``nfv.systems.HeisenbergBonds``.

For each lattice (J1-J2 at J2 = 0.5) and each number of samples, one ``MCState`` with
the small factored ViT preset draws its samples once; then ``vstate.local_estimators``
is called with the two Hamiltonians on those same samples: NetKet's
``nk.operator.Heisenberg`` (divided by 4; it pads every sample to all ``1 + n_bonds``
connections) and ours (the network runs only on the connections that exist). Both are
compiled first, then timed in turns (NetKet, ours, NetKet, ...) so that each ratio
comes from the same run under the same machine load; each entry is the median over the
repeats of one call, host work included (NetKet builds its connections on the host,
ours counts them there). ``chunk_size`` is the number of samples, as in
``bench/bench_driver.py``. The local energies of the two agree to 1e-12 and are checked.

Also reported: the fraction of (sample, bond) pairs with antiparallel spins on the
samples used, and on 4x4 on samples drawn exactly from the ground state (the
connections that exist on a converged state).

Run::

    python bench/bench_local_energy.py
    python bench/bench_local_energy.py --lattices 4 --samples 512 --repeats 3
"""

import argparse
import os
import platform
import shlex
import sys
import time

import jax
import netket as nk
import numpy as np

import netket_factored_vit as nfv


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lattices", type=int, nargs="+", default=[4, 6], help="sides L of LxL")
    parser.add_argument("--samples", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per operator")
    parser.add_argument("--J2", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - wall, time.process_time() - cpu


def _antiparallel_fraction(samples, bonds):
    samples = np.asarray(samples).reshape(-1, samples.shape[-1])
    return float(np.mean(samples[:, bonds[:, 0]] != samples[:, bonds[:, 1]]))


def _ground_state_fraction(system, operator, n_samples, seed):
    """Fraction of antiparallel bonds on configurations drawn from |psi_0|^2 (exact)."""
    _, vectors = nk.exact.lanczos_ed(system.hamiltonian, k=1, compute_eigenvectors=True)
    probabilities = np.abs(vectors[:, 0]) ** 2
    states = np.asarray(system.hilbert.all_states())
    rng = np.random.default_rng(seed)
    drawn = states[rng.choice(len(states), size=n_samples, p=probabilities / probabilities.sum())]
    return _antiparallel_fraction(drawn, operator.bonds)


def _case(side, n_samples, args):
    system = nfv.systems.j1j2(side, args.J2)
    ours = nfv.systems.HeisenbergBonds.from_graph(system.hilbert, system.graph, [1.0, args.J2])
    netket = nk.operator.Heisenberg(
        system.hilbert, system.graph, J=[0.25, args.J2 / 4], sign_rule=[False, False]
    )
    model = nfv.models.vit_preset("small", lattice_shape=(side, side), attention="factored")
    sampler = nk.sampler.MetropolisExchange(system.hilbert, graph=system.graph, n_chains=16)
    vstate = nk.vqs.MCState(
        sampler, model, n_samples=n_samples, chunk_size=n_samples, seed=args.seed
    )
    vstate.sample()

    calls = {
        "netket": lambda: vstate.local_estimators(netket).data,
        "ours": lambda: vstate.local_estimators(ours).data,
    }
    reference, value = calls["netket"](), calls["ours"]()  # compile both
    np.testing.assert_allclose(value, reference, rtol=0, atol=1e-12 * np.abs(reference).max())

    times = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, fn in calls.items():
            times[name].append(_timed(fn))
    median = {name: np.median(np.array(t), axis=0) for name, t in times.items()}
    return {
        "lattice": f"{side}x{side}",
        "M": n_samples,
        "bonds": len(ours.bonds),
        "fraction": _antiparallel_fraction(vstate.samples, ours.bonds),
        "netket": median["netket"],
        "ours": median["ours"],
        "ground_fraction": (
            _ground_state_fraction(system, ours, n_samples, args.seed) if side == 4 else None
        ),
    }


def main():
    args = _parse()
    rows = [_case(side, m, args) for side in args.lattices for m in args.samples]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Command: `{command}`\n")
    print(
        f"jax {jax.__version__}, netket {nk.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} cores, float64, load average after the run {load}\n"
    )
    print(
        "| lattice | M | bonds | connections that exist | NetKet wall (ms) | ours wall (ms) "
        "| NetKet / ours (wall) | NetKet / ours (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        exist = f"{r['fraction']:.3f}"
        if r["ground_fraction"] is not None:
            exist += f" ({r['ground_fraction']:.3f} on ground-state samples)"
        print(
            f"| {r['lattice']} | {r['M']} | {r['bonds']} | {exist} "
            f"| {1e3 * r['netket'][0]:.1f} | {1e3 * r['ours'][0]:.1f} "
            f"| {r['netket'][0] / r['ours'][0]:.2f} | {r['netket'][1] / r['ours'][1]:.2f} |"
        )


if __name__ == "__main__":
    main()

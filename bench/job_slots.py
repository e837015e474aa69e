"""Independent jobs side by side on one machine, each on its own cores.

A rank of the package pins its threads to the first cores of its CPU affinity (see
``docs/distributed.md``), so processes started side by side with the same affinity would
all share those first cores. Each job started here gets a disjoint slice of this
process's cores instead, and as many threads as its slice has cores.
"""

from __future__ import annotations

import os
import subprocess


def core_slots(jobs: int, per: int | None = None) -> list[tuple[int, ...]]:
    """``jobs`` disjoint groups of this process's cores, of ``per`` cores each (default:
    as many as divide the cores equally)."""
    cores = sorted(os.sched_getaffinity(0))
    if not 1 <= jobs <= len(cores):
        raise SystemExit(f"--jobs must be between 1 and the {len(cores)} cores here, got {jobs}")
    per = len(cores) // jobs if per is None else per
    if not 1 <= per <= len(cores) // jobs:
        raise SystemExit(
            f"--threads must be between 1 and {len(cores) // jobs} ({len(cores)} cores here "
            f"for {jobs} job(s)), got {per}"
        )
    return [tuple(cores[i * per : (i + 1) * per]) for i in range(jobs)]


def start_on(cores: tuple[int, ...], command: list[str], env: dict, **popen) -> subprocess.Popen:
    """Start ``command`` with its affinity set to ``cores`` and one thread per core
    (``popen``: more arguments of :class:`subprocess.Popen`, e.g. ``stdout``)."""
    env = {**env, "NFV_THREADS_PER_RANK": str(len(cores))}
    return subprocess.Popen(
        command, env=env, preexec_fn=lambda: os.sched_setaffinity(0, cores), **popen
    )

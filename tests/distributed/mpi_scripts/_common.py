"""Shared by the scripts that tests/distributed runs under mpirun."""

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def out_dir() -> Path:
    return Path(sys.argv[1])


def write(rank: int, result: dict) -> None:
    """Write this rank's result where the test reads it."""
    path = out_dir() / f"rank{rank}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)


def split_complex(a) -> dict:
    """A complex array as JSON: its real and imaginary parts as nested lists."""
    import numpy as np

    a = np.asarray(a)
    return {"re": a.real.tolist(), "im": a.imag.tolist()}

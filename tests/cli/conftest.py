"""Shared by the command-line tests: settings small enough for 2 cores."""

import pytest

TINY = (
    "--d-model",
    "8",
    "--num-heads",
    "2",
    "--num-layers",
    "1",
    "--n-samples",
    "32",
    "--n-chains",
    "8",
    "--symmetrize",
    "none",
    "--no-progress",
)
"""A 1-layer ViT of width 8 (1,033 parameters with T5 attention and the Marshall-signed head
that ``--output auto`` takes; 1,112 with the complex head), 32 samples per step."""


@pytest.fixture(scope="session")
def tiny():
    """The flags of a tiny run, as a list."""
    return list(TINY)

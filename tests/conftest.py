import gc
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)


def _memory_maps() -> tuple[int, int]:
    """This process's memory maps and the kernel's limit on them (0, 0 where unknown)."""
    try:
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps), limit
    except (OSError, ValueError):
        return 0, 0


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop JAX's compiled programs after a test module once half the memory maps are used.
    Every XLA executable keeps its code mapped, and the whole suite in one process otherwise
    passes Linux's default limit of 65,530 maps per process (``vm.max_map_count``); the
    compiler then segfaults."""
    yield
    used, limit = _memory_maps()
    if used > limit // 2:
        jax.clear_caches()
        gc.collect()

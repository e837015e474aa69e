import atexit
import gc
import os
import shutil
import tempfile
from pathlib import Path


def _share_compiled_programs() -> None:
    """One persistent compilation cache for this test session and the processes it starts
    (``nfv run``, ``mpirun``, examples), unless ``JAX_COMPILATION_CACHE_DIR`` is already set.
    The suite compiles the same small programs in many processes: a tiny ``nfv run`` spends
    two thirds of its time in XLA's compiler without the cache. Removed at exit."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="nfv-tests-jax-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


_share_compiled_programs()  # before JAX reads its configuration

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
# in case a pytest plugin imported JAX before this file set its environment
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs",
    float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")),
)
jax.config.update(
    "jax_persistent_cache_min_entry_size_bytes",
    int(os.environ.get("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")),
)


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

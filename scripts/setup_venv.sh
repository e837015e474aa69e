#!/usr/bin/env bash
# Create the virtual environment and install the package with its `dev` extra,
# and with its `mpi` extra (mpi4py, mpi4jax) when an MPI library is installed.
#
# mpi4jax compiles against MPI and, when it finds a CUDA compiler, against CUDA.
# It guesses the toolkit from the location of `nvcc`; on machines where `nvcc`
# is a wrapper script outside the toolkit (no CUDA headers beside it) that guess
# fails, so we point CUDA_PATH / CUDA_ROOT at a real toolkit folder.
set -euo pipefail

venv="${1:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" --upgrade pip
"${pip[@]}" -e ".[dev]"

if ! command -v mpicc >/dev/null 2>&1; then
    echo "setup: no MPI library found (mpicc missing): MPI tests will be skipped." >&2
    echo "setup: install OpenMPI with 'sudo apt-get install libopenmpi-dev openmpi-bin'" >&2
    echo "setup: and run this again to get the 'mpi' extra." >&2
    exit 0
fi

has_headers() { [ -n "${1:-}" ] && [ -f "$1/include/cuda.h" ]; }

if ! has_headers "${CUDA_PATH:-}" && command -v nvcc >/dev/null 2>&1; then
    nvcc_root="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
    for candidate in "${CUDA_HOME:-}" "${CUDA_ROOT:-}" "$nvcc_root" /usr/local/cuda /usr/local/cuda-* /opt/cuda; do
        if has_headers "$candidate"; then
            export CUDA_PATH="$candidate" CUDA_ROOT="$candidate"
            echo "setup: building mpi4jax against the CUDA toolkit in $candidate" >&2
            break
        fi
    done
fi

"${pip[@]}" -e ".[dev,mpi]"
"$venv/bin/python" -c "import mpi4jax, mpi4py; print('setup: mpi4jax', mpi4jax.__version__)"

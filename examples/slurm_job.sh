#!/bin/bash
# Train on 2 nodes x 4 GPUs: one MPI rank per GPU.
#
#   sbatch examples/slurm_job.sh
#
# Adjust partition, account and modules to your site. See docs/distributed.md.
#SBATCH --job-name=nfv-vit
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --output=nfv-%j.out

set -euo pipefail

# The MPI and CUDA that mpi4py / mpi4jax were built against.
module load openmpi cuda
source "$HOME/venvs/nfv/bin/activate"

# Use CUDA-aware MPI if this MPI has it (check with ompi_info); 0 stages
# buffers through host memory and works everywhere.
export MPI4JAX_USE_CUDA_MPI=${MPI4JAX_USE_CUDA_MPI:-0}
# One rank per GPU: let JAX allocate GPU memory on demand so that a rank never
# grabs what it does not need.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK}

# Each task sees all GPUs of its node; `import netket_factored_vit` binds task
# i of a node to GPU i (SLURM_LOCALID). With --gpus-per-task=1 instead, SLURM
# does the binding and the package keeps it.
# --mpi=pmix needs Open MPI built with PMIx support; otherwise use
#   mpirun -np "$SLURM_NTASKS" python -m netket_factored_vit run ...
# --n-samples is the total over all ranks. The folder is named after the job, not
# its id, and --resume continues the run there: resubmitting (or a requeue after a
# time limit) picks up from the last checkpoint; a first submission starts afresh.
srun --mpi=pmix --cpu-bind=cores python -m netket_factored_vit run --resume \
    --out "runs/${SLURM_JOB_NAME}" --L 10 --preset published_10x10 --n-samples 8192 \
    --n-chains 64 --n-iter 2000 --lr 0.0075 --diag-shift 1e-3 --diag-shift-final 1e-4 \
    --symmetrize none --no-progress

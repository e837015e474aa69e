#!/bin/bash
# The GPU studies of docs/study.md, all at once on one GPU: one `nfv run` per
# (study, attention), seed 0, each stopping cleanly after TIME_LIMIT seconds of
# training (checkpoint and summary written; the same command continues them).
#
#   bash bench/study_gpu.sh [RUNS] [TIME_LIMIT] [more nfv run flags...]
#
# RUNS defaults to runs/study, TIME_LIMIT to 290 s. The runs share the GPU (and four
# CPU cores each), so their seconds per step are those of four concurrent jobs.
# Collect afterwards with `python bench/study.py collect --runs RUNS`.
set -u
runs=${1:-runs/study}
limit=${2:-290}
shift $(( $# < 2 ? $# : 2 ))
extra=("$@")
here=$(cd "$(dirname "$0")/.." && pwd)
export XLA_PYTHON_CLIENT_PREALLOCATE=false
# XLA's GEMM autotuning compiles for minutes on the first step; these keep it short.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_triton_gemm=false --xla_gpu_autotune_level=0"
jobs=(
  "j1j2_6x6 factored" "j1j2_6x6 t5" "j1j2_6x6 decoupled"
  "shastry_sutherland_6x6_J0.5 factored"
)
cores=$(nproc)
i=0
for job in "${jobs[@]}"; do
  set -- $job
  out="$runs/$1/seed0/$2"
  resume=()
  [ -e "$out/config.toml" ] && resume=(--resume)
  mkdir -p "$runs/$1/seed0"
  first=$(( (4 * i) % cores )); last=$(( (4 * i + 3) % cores ))
  taskset -c "$first-$last" python3 -m netket_factored_vit run \
    --config "$here/docs/study/configs/$1.toml" --attention "$2" --seed 0 \
    --time-limit "$limit" --out "$out" --no-progress "${resume[@]}" "${extra[@]}" \
    > "$runs/$1/seed0/$2.out" 2>&1 &
  i=$((i + 1))
done
sleep $(( limit < 120 ? limit : 120 ))
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv \
  > "$runs/gpu_during_runs.csv" 2>&1
wait
for f in "$runs"/*/seed0/*.out; do echo "== $f"; tail -n 9 "$f"; done

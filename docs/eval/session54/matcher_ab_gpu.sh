#!/usr/bin/env bash
# Session 54, device call 3: the packaged matcher against its continuation of call 2
# (float16 copy in $NEW, carried), in the defaults' refinement, on fresh RGB-only windows,
# as the CUDA default runs them (the model on the GPU, the refinement on the host's
# cores, one thread per job). Rows current+matcher:base and current+matcher:<NEW's name>.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
M=nova3r_ros/model/checkpoints/base
nvidia-smi -L
run() {  # views seeds timeout name
  local v=$1 seeds=$2 t=$3 name=$4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings current --matcher $M "$NEW" \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}_h100.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}_h100.txt"; gzip -f "$OUT/$name.jsonl"
}
run 2 ${SEEDS2:-1520000-1520511} ${T2:-280} mab_fresh2v${TAG:-}
run 4 ${SEEDS4:-1520600-1520695} ${T4:-260} mab_fresh4v${TAG:-}

#!/usr/bin/env bash
# Session 54, device call 4: the learned matches standing in for SIFT's only where SIFT's
# essential matrix has fewer than N inliers (learned_max_sift_inliers N, defined as lmsN),
# with the packaged matcher and call 2's continuation ($NEW, carried), on fresh RGB-only
# windows as the CUDA default runs them. Writes into $OUT.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
M=nova3r_ros/model/checkpoints/base
N=${N:-100}
nvidia-smi -L
run() {  # views seeds timeout name
  local v=$1 seeds=$2 t=$3 name=$4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings current --define "lms$N={\"learned_max_sift_inliers\": $N}" \
    --matcher $M "$NEW" --matcher-with current "lms$N" \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}_h100.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}_h100.txt"; gzip -f "$OUT/$name.jsonl"
}
run 2 ${SEEDS2:-1521000-1521383} ${T2:-230} lms_fresh2v${TAG:-}
run 4 ${SEEDS4:-1521400-1521463} ${T4:-230} lms_fresh4v${TAG:-}

#!/usr/bin/env bash
# Session 58, device call 2: the defaults (step 7, joint_undo_gain 1.1) against step 7 off,
# both with the packaged matcher, on fresh RGB-only windows, the model on the GPU and the
# refinement on 16 host processes of one thread.
#   SEEDS4=1533000-1533799 SEEDS3=1534000-1534199 T4=420 T3=120 OUT=$OUT \
#     bash docs/eval/session58/undo_ab_gpu.sh
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
nvidia-smi -L
run() {  # views seeds timeout name
  local v=$1 seeds=$2 t=$3 name=$4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings --define 'noundo={"joint_undo_gain": 0}' \
    --matcher nova3r_ros/model/checkpoints/base --matcher-with current noundo \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}.txt"; gzip -f "$OUT/$name.jsonl"
}
run 4 "$SEEDS4" "${T4:-420}" undo_ab4v
run 3 "$SEEDS3" "${T3:-120}" undo_ab3v

#!/usr/bin/env bash
# Session 58, device call 2: the defaults (step 7, joint_undo_gain 1.1) against step 7 off,
# both with the packaged matcher, on fresh RGB-only windows of 4 views, the model on the GPU
# and the refinement on 16 host processes of one thread.
#   SEEDS4=1533000-1533383 T4=290 OUT=$OUT bash docs/eval/session58/undo_ab_gpu.sh
# (Run once on an H200 with 384 windows: it reached its 290 s limit before the end, and
# rgb_pose_ab.py then wrote its per-window lines only at the end, so nothing came back;
# it now writes them as the windows finish.)
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
nvidia-smi -L
name=undo_ab4v
timeout "${T4:-290}" python scripts/rgb_pose_ab.py --seeds "$SEEDS4" --views 4 --device cuda \
  --jobs 16 --settings --define 'noundo={"joint_undo_gain": 0}' \
  --matcher nova3r_ros/model/checkpoints/base --matcher-with current noundo \
  --per-window "$OUT/$name.jsonl" > "$OUT/${name}.txt" 2>&1 || echo "$name rc=$?"
cat "$OUT/${name}.txt"; gzip -f "$OUT/$name.jsonl"

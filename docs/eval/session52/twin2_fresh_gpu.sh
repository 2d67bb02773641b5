#!/usr/bin/env bash
# Session 52, device call 3: the planar-twin step with its off-plane rule (an E pose that
# is none of the plane's poses gives way to the twin explaining as many matches) on a
# second fresh sample, as the CUDA default runs it: notwin (off), onplane (the first rule
# alone: every E pose taken as one of the plane's) and the defaults, same decode.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
nvidia-smi -L
for spec in "2 1512000-1512383" "4 1512400-1512527"; do
  set -- $spec
  timeout 285 python scripts/rgb_pose_ab.py --seeds "$2" --views "$1" --device cuda --jobs 16 \
    --settings current --define 'notwin={"twin_min_gain_deg": 0.0}' \
    --define 'onplane={"twin_on_plane_deg": 180.0}' \
    --matcher nova3r_ros/model/checkpoints/base --matcher-with notwin onplane current \
    --per-window "$OUT/twin2_fresh${1}v.jsonl" > "$OUT/twin2_fresh${1}v_h100.txt" 2>&1 \
    || echo "views $1 rc=$?"
  cat "$OUT/twin2_fresh${1}v_h100.txt"
  gzip -f "$OUT/twin2_fresh${1}v.jsonl"
done

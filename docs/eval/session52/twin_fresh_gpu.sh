#!/usr/bin/env bash
# Session 52, device call 2: the planar-twin step on fresh RGB-only windows, as the CUDA
# default runs it (the model on the GPU, the packaged matcher, the refinement on the host's
# cores, one thread per job): notwin = twin_min_gain_deg 0 beside the defaults, same decode.
# MATCHERS: matcher folders (default: the packaged one). Writes into $OUT.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
MATCHERS=${MATCHERS:-nova3r_ros/model/checkpoints/base}
nvidia-smi -L
for spec in "2 1511000-1511383" "4 1511400-1511559"; do
  set -- $spec
  timeout 280 python scripts/rgb_pose_ab.py --seeds "$2" --views "$1" --device cuda --jobs 16 \
    --settings current --define 'notwin={"twin_min_gain_deg": 0.0}' --matcher $MATCHERS \
    --matcher-with notwin current --per-window "$OUT/twin_fresh${1}v.jsonl" \
    > "$OUT/twin_fresh${1}v_h100.txt" 2>&1 || echo "views $1 rc=$?"
  cat "$OUT/twin_fresh${1}v_h100.txt"
  gzip -f "$OUT/twin_fresh${1}v.jsonl"
done

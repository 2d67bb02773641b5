#!/usr/bin/env bash
# Session 56, device call 2: the packaged matcher against the matchers in DIRS (float32
# folders from matcher_mix_gpu.sh, carried; each made a float16 copy named after its run
# and step folder, e.g. C_best), in the defaults' refinement, on fresh RGB-only windows as
# the CUDA default runs them (the model on the GPU, the refinement on 16 host processes of
# one thread). Rows current+matcher:<name>.
#   DIRS=".device_data/s56_mix/C/best .device_data/s56_mix/D/best" SEEDS2=... SEEDS4=... \
#     T2=270 T4=210 TAG=_x OUT=$OUT bash docs/eval/session56/matcher_ab_gpu.sh
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
nvidia-smi -L
M=(nova3r_ros/model/checkpoints/base)
for d in $DIRS; do
  name="$(basename "$(dirname "$d")")_$(basename "$d")"
  python - "$d" "/tmp/m/$name" <<'PY'
import sys
from nova3r_ros.model.matcher_files import load_matcher, save_matcher
net, doc = load_matcher(sys.argv[1])
save_matcher(sys.argv[2], net, doc, half=True)
PY
  M+=("/tmp/m/$name")
done
run() {  # views seeds timeout name
  local v=$1 seeds=$2 t=$3 name=$4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings current --matcher "${M[@]}" \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}_h100.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}_h100.txt"; gzip -f "$OUT/$name.jsonl"
}
run 2 "$SEEDS2" "${T2:-270}" mab_fresh2v${TAG:-}
run 4 "$SEEDS4" "${T4:-210}" mab_fresh4v${TAG:-}

#!/usr/bin/env bash
# Session 58, device call: joint_probe.py on fresh 4-view RGB-only windows, the model on
# the GPU and the refinement on 16 host processes of one thread (as rgb_pose_ab.py runs
# there). The probe writes as it goes, so a timeout keeps the windows done.
#   SEEDS="1532000 1532799" T=420 OUT=$OUT bash docs/eval/session58/probe_gpu.sh
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
nvidia-smi -L
# shellcheck disable=SC2086
timeout "${T:-420}" python docs/eval/session58/joint_probe.py $SEEDS "$OUT/probe_gpu.jsonl" \
  --views 4 --jobs 16 --device cuda > "$OUT/probe_gpu_log.txt" 2>&1 || echo "probe rc=$?"
tail -5 "$OUT/probe_gpu_log.txt"
wc -l "$OUT/probe_gpu.jsonl"
gzip -f "$OUT/probe_gpu.jsonl"

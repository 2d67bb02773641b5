#!/usr/bin/env bash
# Session 53, device call 1: the learned-match check of the 2-view joint step at a higher
# kept share (pair_learned_check_ratio 0.85 / 0.95 against the default, 0.5) on fresh
# RGB-only windows, as the CUDA default runs it (the model on the GPU, the packaged
# matcher, the refinement on the host's cores, one thread per job). Writes into $OUT.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
M=nova3r_ros/model/checkpoints/base
D=(--define 'r85={"pair_learned_check_ratio": 0.85}' --define 'r95={"pair_learned_check_ratio": 0.95}')
nvidia-smi -L
run() {  # views seeds timeout name settings...
  local v=$1 seeds=$2 t=$3 name=$4; shift 4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings current "${D[@]}" --matcher $M --matcher-with "$@" \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}_h100.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}_h100.txt"; gzip -f "$OUT/$name.jsonl"
}
run 2 1514000-1514383 300 lcr_fresh2v current r85 r95
run 4 1514400-1514559 270 lcr_fresh4v current r85

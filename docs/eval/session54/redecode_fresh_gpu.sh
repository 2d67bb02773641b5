#!/usr/bin/env bash
# Session 54, device call 1: decoding RGB-only windows again at their refined poses
# (InferenceConfig.rgb_redecode) on top of today's defaults (the packaged matcher, the
# learned-plane placement), on fresh windows, as the CUDA default runs them (the model on
# the GPU, the refinement on the host's cores, one thread per job). Rows: current (no
# matcher), current+own (the defaults with the model's own matcher: what infer runs),
# current+redecode (that, decoded again and refined once more). Writes into $OUT.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
nvidia-smi -L
run() {  # views seeds timeout name
  local v=$1 seeds=$2 t=$3 name=$4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings current --redecode \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}_h100.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}_h100.txt"; gzip -f "$OUT/$name.jsonl"
}
run 2 ${SEEDS2:-1519000-1519511} ${T2:-260} rd_fresh2v${TAG:-}
run 4 ${SEEDS4:-1519600-1519695} ${T4:-290} rd_fresh4v${TAG:-}

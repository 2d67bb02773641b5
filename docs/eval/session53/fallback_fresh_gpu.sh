#!/usr/bin/env bash
# Session 53, device call 2: the learned-plane placement of views no pair placed
# (pose_rgb_fallback; nofb = learned_plane_min_share 0 beside the defaults) and the
# learned-match check of the 2-view joint step at 0.95 (r95), on fresh RGB-only windows,
# as the CUDA default runs them (the model on the GPU, the packaged matcher, the
# refinement on the host's cores, one thread per job). Writes into $OUT.
# Call 3: SEEDS2=1511000-1511255 SEEDS4=1515400-1515495 T2=200 T4=330 R95= TAG=_b.
set -uo pipefail
export PYTHONPATH=. NOVA3R_CACHE=/tmp/nc OMP_NUM_THREADS=1
M=nova3r_ros/model/checkpoints/base
D=(--define 'nofb={"learned_plane_min_share": 0.0}' --define 'r95={"pair_learned_check_ratio": 0.95}')
nvidia-smi -L
run() {  # views seeds timeout name settings...
  local v=$1 seeds=$2 t=$3 name=$4; shift 4
  timeout "$t" python scripts/rgb_pose_ab.py --seeds "$seeds" --views "$v" --device cuda \
    --jobs 16 --settings current "${D[@]}" --matcher $M --matcher-with "$@" \
    --per-window "$OUT/$name.jsonl" > "$OUT/${name}_h100.txt" 2>&1 || echo "$name rc=$?"
  cat "$OUT/${name}_h100.txt"; gzip -f "$OUT/$name.jsonl"
}
run 2 ${SEEDS2:-1515000-1515383} ${T2:-280} fb_fresh2v${TAG:-} nofb current ${R95-r95}
run 4 ${SEEDS4:-1515400-1515559} ${T4:-280} fb_fresh4v${TAG:-} nofb current

#!/usr/bin/env bash
# Session 58: the dev frames' RGB-D unposed poses scored against the recorded poses and
# against Brachmann et al.'s SfM pseudo ground truth of the same frames (seq-01 of
# redkitchen; pgt/sfm/7scenes/redkitchen_train.txt of
# github.com/tsattler/visloc_pseudo_gt_limitations, fetched read-only, not committed).
#   PGT=/tmp/pgt/sfm_train.txt OUT=/tmp/s58/ref bash docs/eval/session58/pose_reference_runs.sh
set -uo pipefail
export OMP_NUM_THREADS=2 NOVA3R_CACHE=${NOVA3R_CACHE:-/tmp/nc}
DEV=../shared/data/7scenes-redkitchen-dev
for v in 2 4 8; do
  for ref in recorded sfm; do
    extra=()
    [ "$ref" = sfm ] && extra=(--pose-reference "$PGT" --pose-reference-sequence seq-01)
    nova3r eval --data "7scenes:$DEV" --views "$v" --windows 8 --stride 10 --unposed \
      --method no_motion opencv_sift o3d_odometry observed_only --device cpu \
      "${extra[@]}" --out "$OUT/${ref}_${v}v" > "$OUT/${ref}_${v}v.log" 2>&1 || echo "$ref $v rc=$?"
  done
done
python - "$OUT" <<'PY'
import json, sys
keys = ["rra@5", "rra@15", "rta@5", "rta@15", "rta@30", "auc@30", "ate"]
print("| views | reference | method | " + " | ".join(keys) + " |")
for v in (2, 4, 8):
    for ref in ("recorded", "sfm"):
        d = json.load(open(f"{sys.argv[1]}/{ref}_{v}v/metrics.json"))
        for m, r in d.items():
            vals = [f"{r[k]:.3f}" if k in r else "-" for k in keys]
            print(f"| {v} | {ref} | {m} | " + " | ".join(vals) + " |")
PY

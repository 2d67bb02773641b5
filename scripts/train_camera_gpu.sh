#!/usr/bin/env bash
# One segment of a camera-head fine-tune on the GPU machine: stage 2 (the decoder frozen;
# the image encoder and camera head learn, the flow loss through the frozen decoder keeps
# their scene tokens what it reads), the angular camera loss, mostly RGB-only windows.
# Validation every VAL_EVERY minutes scores the camera head on RGB-only tabletops of 2 and
# 4 views (seeds 1,650,000+, never trained on) and the decoder on the usual sets; the best
# step by the pose criterion (mean AUC@30) is kept in $RUN/best.
# Usage: RUN=dir MINUTES=5 MESHES=.device_data/meshes [SEED=21] [RESUME=1] [INIT=ckpt]
#        [CAMERA_WEIGHT=2] [P_DEPTH=0.3] [P_SENSOR=0.3] [P_ROBOT=0] [LR=1e-4]
#        [VAL_EVERY=1.5] [TRAIN_ARGS=...] scripts/train_camera_gpu.sh
# Writes $RUN/{config.json,weights-*.safetensors,train_state.*,train_stage2.jsonl,
# validation.jsonl,best/}. Put RUN outside the repository (see train_run_gpu.sh).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
. "$(dirname "$0")/train_segment.sh"
segment_start
python -m nova3r_ros.train --stage 2 "${START[@]}" --minutes "${MINUTES:-5}" --batch 32 \
  --lr "${LR:-1e-4}" --reuse 2 --views 1 2 2 4 4 8 --p-depth "${P_DEPTH:-0.3}" --p-pose 0.2 \
  --p-robot "${P_ROBOT:-0}" --p-sensor "${P_SENSOR:-0.3}" --seed "${SEED:-21}" \
  --camera-loss angular --camera-weight "${CAMERA_WEIGHT:-2}" \
  --mesh-dir "$MESHES" --mesh-exclude ycb_powerdrill ycb_mustardbottle \
  --schedule cosine --save-state --out "$RUN" --val-every "${VAL_EVERY:-1.5}" \
  --val-criterion pose ${TRAIN_ARGS:-} \
  > "$RUN.log" 2>&1 || { echo "training failed"; tail -20 "$RUN.log"; exit 1; }
segment_log 2
python - "$RUN/validation.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    keys = ("pose_2v/rra@15", "pose_2v/auc@30", "pose_4v/rra@15", "pose_4v/auc@30",
            "tabletop_1v/f@1cm", "tabletop_4v/f@1cm", "room_1v/f@5cm")
    print(r["step"], r["criterion"], " ".join(f"{k}={r.get(k, float('nan')):.3f}" for k in keys))
PY
tail -1 "$RUN.log" | cut -c1-300

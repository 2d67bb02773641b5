#!/usr/bin/env bash
# One segment of a stage-3 sim-to-real training run on the GPU machine. A run longer than
# one device call is split into segments: each writes its checkpoint and full train state
# (fp32 weights + AdamW, safetensors) to $RUN, and the next continues with RESUME=1.
# Usage: RUN=dir MINUTES=7 MESHES=.device_data/meshes SEED=11 [SCHEDULE=constant|cosine]
#        [RESUME=1] [INIT=checkpoint] [TRAIN_ARGS=...] [GPUS=2] scripts/train_run_gpu.sh
# GPUS=N runs N data-parallel ranks under torchrun (batch 32 per rank). Every VAL_EVERY
# minutes (default 2; 0 = off) rank 0 scores validation tabletops, rooms and, with SEVEN=dir
# (and NOVA3R_CACHE for its reference), the 7-Scenes dev frames: $RUN/validation.jsonl, and
# the best step's checkpoint in $RUN/best.
# Writes $RUN/{config.json,weights-*.safetensors,train_state.*,train_stage3.jsonl,summary_stage3.json}.
# Put RUN outside the repository (e.g. /tmp/runs/r13): the device's copy of the working tree
# is synchronised at every call, so files written inside it may not survive to the next one.
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
. "$(dirname "$0")/train_segment.sh"
segment_start
LAUNCH=(python)
[ "${GPUS:-1}" -gt 1 ] && LAUNCH=(python -m torch.distributed.run --standalone --nproc_per_node "$GPUS")
"${LAUNCH[@]}" -m nova3r_ros.train --stage 3 "${START[@]}" --minutes "${MINUTES:-7}" --batch 32 \
  --lr "${LR:-1e-4}" --reuse "${REUSE:-2}" --views 1 1 2 4 8 --p-depth 0.7 --p-pose 0.5 \
  --p-robot "${P_ROBOT:-0.5}" --p-sensor "${P_SENSOR:-0.5}" --seed "${SEED:-11}" \
  --mesh-dir "$MESHES" --mesh-exclude ycb_powerdrill ycb_mustardbottle \
  --schedule "${SCHEDULE:-cosine}" --save-state --out "$RUN" \
  --val-every "${VAL_EVERY:-2}" ${SEVEN:+--val-7scenes "$SEVEN"} ${TRAIN_ARGS:-} \
  > "$RUN.log" 2>&1 || { echo "training failed"; tail -20 "$RUN.log"; exit 1; }
segment_log 3
[ -f "$RUN/validation.jsonl" ] && tail -n +1 "$RUN/validation.jsonl" | cut -c1-400
tail -2 "$RUN.log"

#!/usr/bin/env bash
# Train the hidden-surface head (nova3r_ros.train.hidden_train) on the GPU machine.
# Usage: OUT=dir [RUN=/tmp/runs/hh] [MINUTES=6] [BATCH=16] [VIEWS=6] [GT_POINTS=300000] [WORKERS=12]
#        [SAVE_EVERY=2] [INIT=saved head dir | RESUME=a run's last step dir] [GPUS=2] [KEEP=3]
#        [MESHES=.device_data/meshes] [TRAIN_ARGS=...] scripts/hidden_train_gpu.sh
# RESUME continues a run with its AdamW moments (the last step's train_state.*, copied to
# $OUT with it: carry that step dir to the next call; KEEP=2 keeps $OUT within 8 files).
# GPUS=N runs N data-parallel ranks under torchrun (WORKERS scene-layout processes shared).
# SEVEN=dir (with NOVA3R_CACHE=dir for its reference; carry both) also scores the head's
# points on the 7-Scenes dev frames at every saved step (validation only).
# Needs the meshes in MESHES (carried). A folder with the training meshes only (without the
# held-out pair, which training never loads) leaves room in the carry for RESUME. Copies the
# last KEEP saved heads ($OUT/step_N/hidden_head.{json,safetensors}), the training log and
# summary to $OUT, and prints the validation rows.
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
RUN=${RUN:-/tmp/runs/hh}
mkdir -p "$(dirname "$RUN")"
LAUNCH=(python)
[ "${GPUS:-1}" -gt 1 ] && LAUNCH=(python -m torch.distributed.run --standalone --nproc_per_node "$GPUS")
"${LAUNCH[@]}" -m nova3r_ros.train.hidden_train --minutes "${MINUTES:-6}" --batch "${BATCH:-16}" \
  --views "${VIEWS:-6}" --gt-points "${GT_POINTS:-300000}" --mesh-dir "${MESHES:-.device_data/meshes}" \
  --workers "${WORKERS:-12}" --save-every "${SAVE_EVERY:-2}" \
  --out "$RUN" ${INIT:+--init "$INIT"} ${RESUME:+--resume "$RESUME"} ${SEVEN:+--val-7scenes "$SEVEN"} ${TRAIN_ARGS:-} \
  > "$RUN.log" 2>&1 \
  || { echo "training failed"; tail -30 "$RUN.log"; exit 1; }
for d in $(ls -d "$RUN"/step_* | sort -t_ -k2 -n | tail -"${KEEP:-3}"); do
  mkdir -p "$OUT/$(basename "$d")" && cp "$d"/hidden_head.* "$OUT/$(basename "$d")/"
  [ -f "$d/train_state.json" ] && cp "$d"/train_state.* "$OUT/$(basename "$d")/"
done
cp "$RUN/hidden_train.jsonl" "$RUN/summary.json" "$OUT/"
grep '"val"' "$RUN/hidden_train.jsonl"
tail -3 "$RUN/hidden_train.jsonl"
cat "$RUN/summary.json"

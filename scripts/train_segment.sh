# Shared by the GPU training-segment scripts (train_run_gpu.sh, train_camera_gpu.sh);
# sourced, not run. Reads RUN, RESUME (1: continue the segment in $RUN) and INIT.
# segment_start: with RESUME=1 moves $RUN to $RUN.prev and sets START to --resume it, else
# to --init $INIT (default: the packaged checkpoint).
# segment_log STAGE: writes $RUN/all.jsonl, the previous segment's training log (if there
# is a $RUN.prev) followed by this one's.
segment_start() {
  mkdir -p "$(dirname "$RUN")"
  if [ "${RESUME:-0}" = 1 ]; then
    rm -rf "$RUN.prev" && mv "$RUN" "$RUN.prev" && START=(--resume "$RUN.prev")
  else
    START=(--init "${INIT:-nova3r_ros/model/checkpoints/base}")
  fi
}

segment_log() {
  if [ -d "$RUN.prev" ]; then
    cat "$RUN.prev/train_stage$1.jsonl" "$RUN/train_stage$1.jsonl" > "$RUN/all.jsonl"
  else
    cp "$RUN/train_stage$1.jsonl" "$RUN/all.jsonl"
  fi
}

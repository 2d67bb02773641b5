#!/usr/bin/env bash
# Validation of a training checkpoint on the GPU machine (never the benchmark seeds):
# the 7-Scenes dev frames (validation only; 8 windows, stride 4, 1/2/4 views), validation
# tabletops (seeds 1,600,000-1,600,029, 1 and 4 views) and validation furnished rooms
# (--family room, seeds 1,700,000-1,700,029, 1 and 4 views), each with the decoder alone
# (model_raw), the depth-snapped decoding (model_snapped), the published cloud (model)
# and observed_only. START=checkpoint also evaluates the synthetic sets for that checkpoint
# (tag "start"; its real rows are in docs/training/session4_run10_validation.json).
# Usage: CK=dir OUT=dir SEVEN=.device_data/7scenes-redkitchen-dev NOVA3R_CACHE=.device_data/cache
#        [START=dir] scripts/validate_gpu.sh      -> $OUT/val.json, $OUT/*.log
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
E=${OUT}/runs
mkdir -p "$E"
M=(--method observed_only model model_raw model_snapped)
run() {  # name, checkpoint, then nova3r eval arguments
  local name=$1 ck=$2; shift 2
  timeout "${EVAL_TIMEOUT:-300}" python -m nova3r_ros.cli eval --checkpoint "$ck" \
    --out "$E/$name" "$@" > "$E/$name.log" 2>&1 || echo "$name failed: $(tail -2 "$E/$name.log")"
}
for v in 1 2 4; do
  run real_${v}v_new "$CK" --data "7scenes:$SEVEN" --windows 8 --stride 4 --views $v "${M[@]}" &
done
for v in 1 4; do
  for tag in new start; do
    ck=$CK; [ $tag = start ] && ck=${START:-}
    [ -z "$ck" ] && continue
    run syn_${v}v_$tag "$ck" --data synthetic:1600000-1600029 --views $v "${M[@]}" &
    run room_${v}v_$tag "$ck" --family room --data synthetic:1700000-1700029 --views $v \
      "${M[@]}" &
  done
done
wait
python scripts/merge_metrics.py "$E" "$OUT/val.json" --keys fscore@1cm fscore@2cm fscore@5cm \
  precision@5cm hidden_recall@5cm completed_share completed_precision@5cm outside unjudged gated

#!/usr/bin/env bash
# Choose the published cloud's confidence model and min_confidence on validation data
# (GPU machine). 1) fit calibration.json on validation seeds 1,500,000+ (tabletop and
# room; scripts/calibrate_confidence.py) and write it into the checkpoint; 2) sweep
# min_confidence on other validation seeds (1,600,000+, tabletop, 1/2/4 views) beside the
# observed-only and depth-consistency-only outputs. Never the benchmark seeds.
# Writes $OUT/calibration.json, calibration_report.json, calibration_log.txt,
# sweep.json (every metrics.json merged).
# Usage: OUT=dir [CK=checkpoint] [CAL_WINDOWS=30] [SWEEP=1600000-1600039]
#        [EXTRA="--device cpu --points 1024 --steps 4"] scripts/publish_validation_gpu.sh
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
CK=${CK:-nova3r_ros/model/checkpoints/base}
E=/tmp/nova3r_sweep
rm -rf "$E"
mkdir -p "$E" "$OUT"
python scripts/calibrate_confidence.py --checkpoint "$CK" --windows "${CAL_WINDOWS:-30}" \
  --write --out "$OUT" ${CAL_EXTRA:-} > "$OUT/calibration_log.txt" 2>&1 || echo "calibration failed"
rm -f "$OUT/calibration_windows.json"  # per-window gate statistics: quantiles are in the report
tail -30 "$OUT/calibration_log.txt"
cp "$CK/calibration.json" "$OUT/" 2>/dev/null
run() {  # name, then nova3r eval arguments
  local name=$1; shift
  timeout "${EVAL_TIMEOUT:-300}" python -m nova3r_ros.cli eval --checkpoint "$CK" \
    --data "synthetic:${SWEEP:-1600000-1600039}" --out "$E/$name" "$@" ${EXTRA:-} \
    > "$E/$name.log" 2>&1 || echo "$name failed: $(tail -2 "$E/$name.log")"
}
for v in 1 2 4; do
  run base_${v}v --views $v --method oracle observed_only model_snapped model &
  for c in 0.0 0.3 0.7 0.9; do
    run conf${c}_${v}v --views $v --method model --min-confidence $c &
  done
done
wait
python scripts/merge_metrics.py "$E" "$OUT/sweep.json" --keys fscore@1cm fscore@2cm \
  fscore@5cm hidden_recall@2cm precision@1cm completed_precision@2cm gated confidence_ece@5cm

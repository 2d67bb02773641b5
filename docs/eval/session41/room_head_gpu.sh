#!/usr/bin/env bash
# Session 41: does the hidden-surface head find more of the rooms' hidden surfaces when its
# training mix leans on rooms? Fine-tune the shipped head on a room-heavy mix (synthetic
# windows only), then score it beside the shipped head in the published cloud on the
# validation rooms (seeds 1,500,000-1,500,049, 1 and 4 views; H200).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1
E=/tmp/s41r; mkdir -p $E $OUT
OUT=$OUT/train RUN=/tmp/runs/r1 MINUTES=${MINUTES:-5.3} SAVE_EVERY=1.75 WORKERS=14 KEEP=1 \
  INIT=nova3r_ros/model/checkpoints/base TRAIN_ARGS="--lr 1e-4 --warmup 100 --start-batch 500000 \
  --witnesses 12 --family-weights room=0.6,kitchen=0.2,counter=0.1,shelf=0.1" \
  bash scripts/hidden_train_gpu.sh > $E/train.txt 2>&1
tail -n 4 $E/train.txt
LAST=$(ls -d /tmp/runs/r1/step_* | sort -t_ -k2 -n | tail -1)
echo "scored: $LAST"
run() {  # name args...
  local name=$1; shift
  timeout 240 python -m nova3r_ros.cli eval --device cuda --points 4096 --steps 6 --family room \
    --hidden-min-probability 0.35 --hidden-single-view-min-probability 0.2 \
    --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for v in 1 4; do
  for c in 0 1 2 3 4; do
    s=$((1500000 + 10 * c))
    run shipped_${v}v_c$c --data synthetic:$s-$((s + 9)) --views $v --method model &
    run r1_${v}v_c$c --hidden-head $LAST --data synthetic:$s-$((s + 9)) --views $v --method model &
  done
done
wait
python scripts/merge_metrics.py $E $OUT/room_head_h200.json
tail -n 12 $E/train.txt

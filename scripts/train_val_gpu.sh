#!/usr/bin/env bash
# One sim-to-real training run on the GPU machine, then validation of the new checkpoint
# beside the starting one: the 7-Scenes dev frames (validation only, never trained on;
# 8 windows, stride 4, 1/2/4 views, decoder output and depth-consistent output) and
# validation seeds 1,600,000+ (tabletop, 1 and 4 views). Writes $OUT/ck (the checkpoint),
# $OUT/train_stage3.jsonl, $OUT/summary_stage3.json, $OUT/val.json.
# Usage: OUT=dir SEVEN=.device_data/7scenes-redkitchen-dev NOVA3R_CACHE=.device_data/cache
#        MESHES=.device_data/meshes MINUTES=6 SEED=10 [INIT=checkpoint] [TRAIN_ARGS=...]
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
INIT=${INIT:-nova3r_ros/model/checkpoints/base}
CK=/tmp/nova3r_train_ck
python -m nova3r_ros.train --stage 3 --init "$INIT" --minutes "${MINUTES:-6}" --batch 32 \
  --lr 1.5e-4 --reuse 4 --views 1 1 2 4 8 --p-depth 0.7 --p-pose 0.5 --p-robot 0.6 \
  --p-sensor 0.7 --seed "${SEED:-10}" --mesh-dir "$MESHES" \
  --mesh-exclude ycb_powerdrill ycb_mustardbottle --out "$CK" ${TRAIN_ARGS:-} \
  > /tmp/train.log 2>&1 || { echo "training failed"; tail -20 /tmp/train.log; }
tail -3 /tmp/train.log
mkdir -p "$OUT/ck"
cp "$CK"/*.safetensors "$CK"/config.json "$OUT/ck/" && cp "$CK"/*.jsonl "$CK"/summary*.json "$OUT/"
E=/tmp/nova3r_trainval
rm -rf "$E"; mkdir -p "$E"
run() {  # name, checkpoint, then nova3r eval arguments
  local name=$1 ck=$2; shift 2
  timeout 240 python -m nova3r_ros.cli eval --checkpoint "$ck" --out "$E/$name" "$@" \
    > "$E/$name.log" 2>&1 || echo "$name failed: $(tail -2 "$E/$name.log")"
}
for tag in start new; do
  ck=$INIT; [ $tag = new ] && ck=$CK
  for v in 1 2 4; do
    run real_${v}v_$tag "$ck" --data "7scenes:$SEVEN" --windows 8 --stride 4 --views $v \
      --method model_raw model_snapped &
  done
  for v in 1 4; do
    run syn_${v}v_$tag "$ck" --data synthetic:1600000-1600029 --views $v \
      --method model_raw model_snapped &
  done
done
wait
python scripts/merge_metrics.py "$E" "$OUT/val.json" --keys fscore@1cm fscore@2cm fscore@5cm \
  precision@2cm precision@5cm hidden_recall@2cm hidden_recall@5cm completed_precision@5cm outside

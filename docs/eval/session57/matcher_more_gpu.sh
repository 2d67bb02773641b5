#!/usr/bin/env bash
# Session 57, device call 1: two continuations of the packaged matcher (session 56's run D,
# step 1,835) side by side on one GPU, on the photographic mix of session 56, validated on
# 96 synthetic 2-view windows (seeds 1,650,000+) and the dev frames' colour pairs 10
# positions apart (validation only), the best step by the mean of the two AUC@30s:
#   E: --p-photo 0.5 --lr 1.5e-4 (the same mix at half the learning rate: a gentle step)
#   F: --p-photo 0.65 --lr 3e-4 (more photographic textures at D's learning rate)
# Carry .device_data/photo_textures and .device_data/7scenes-dev-colour.
# Back in $OUT: E.tar, F.tar (best/, last/, log.jsonl, stdout.txt each).
#   MINUTES=8.5 OUT=$OUT bash docs/eval/session57/matcher_more_gpu.sh
set -uo pipefail
export OMP_NUM_THREADS=4 PYTHONPATH=.
nvidia-smi -L
INIT=nova3r_ros/model/checkpoints/base
COMMON=(--minutes "${MINUTES:-8.5}" --device cuda --decay cosine --val-windows 96
  --val-every 1.5 --batch 16 --keep-last --p-sensor 0.3 --init "$INIT"
  --photo-textures .device_data/photo_textures --val-7scenes .device_data/7scenes-dev-colour
  --val-criterion mean)
W=/tmp/w; mkdir -p $W
timeout 580 python -m nova3r_ros.train.matcher_train --out $W/E "${COMMON[@]}" \
  --lr 1.5e-4 --p-photo 0.5 --seed 71 > $W/E.txt 2>&1 &
timeout 580 python -m nova3r_ros.train.matcher_train --out $W/F "${COMMON[@]}" \
  --lr 3e-4 --p-photo 0.65 --seed 72 > $W/F.txt 2>&1 &
wait
for r in E F; do
  echo "== $r"; grep -v '"loss"' $W/$r/log.jsonl | cut -c 1-330; tail -3 $W/$r.txt
  grep '"loss"' $W/$r/log.jsonl | tail -1
  cp $W/$r.txt $W/$r/stdout.txt; tar -C $W -cf "$OUT/$r.tar" $r
done
ls -la "$OUT"

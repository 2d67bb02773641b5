#!/usr/bin/env bash
# Session 55, device call 1: two matcher runs side by side on one GPU, each continued from
# the packaged matcher on synthetic tabletop pairs where a share of the objects (tables
# included) wear photographic textures (nova3r_ros.synth.photo_textures; bank from
# scripts/fetch_photo_textures.sh), validated on 96 synthetic 2-view windows (seeds
# 1,650,000+) and on the dev frames' colour pairs 10 positions apart (validation only),
# the best step by the mean of the two AUC@30.
#   A: --p-photo 0.5;  B: --p-photo 0.8 --p-sensor 0.3
# Carry .device_data/photo_textures and .device_data/7scenes-dev-colour (colour + poses).
# Back in $OUT: A/ and B/ (best/ + log.jsonl each: 6 files).
set -uo pipefail
export OMP_NUM_THREADS=4 PYTHONPATH=.
nvidia-smi -L
COMMON=(--minutes "${MINUTES:-7.5}" --device cuda --init nova3r_ros/model/checkpoints/base
  --decay cosine --val-windows 96 --val-every 1.5 --lr 5e-4 --batch 16
  --photo-textures .device_data/photo_textures --val-7scenes .device_data/7scenes-dev-colour
  --val-criterion mean)
timeout 560 python -m nova3r_ros.train.matcher_train --out "$OUT/A" "${COMMON[@]}" \
  --p-photo 0.5 --seed 55 > /tmp/A.txt 2>&1 &
timeout 560 python -m nova3r_ros.train.matcher_train --out "$OUT/B" "${COMMON[@]}" \
  --p-photo 0.8 --p-sensor 0.3 --seed 56 > /tmp/B.txt 2>&1 &
wait
for r in A B; do
  echo "== $r"; grep -v '"loss"' "$OUT/$r/log.jsonl" | cut -c 1-330; tail -3 /tmp/$r.txt
  grep '"loss"' "$OUT/$r/log.jsonl" | tail -1
done
ls -la "$OUT"/*/best

#!/usr/bin/env bash
# Next step after session 55 (not run yet): one longer matcher run on the photographic mix,
# continued from INIT (default: run B of this session, float16 copy kept locally as
# .device_data/s55B_f16), picked by the mean of the synthetic and the dev frames' AUC@30,
# then nothing else in the call (score the kept step with session 54's matcher_ab_gpu.sh
# and on the dev frames on the CPU).
# Carry .device_data/photo_textures (bash scripts/fetch_photo_textures.sh),
# .device_data/7scenes-dev-colour (the dev folder's *.color.jpg, *.pose.txt and
# camera-intrinsics.txt) and INIT's folder. Back in $OUT: run/best/ and run/log.jsonl.
#   INIT=.device_data/s55B_f16 MINUTES=9 OUT=$OUT bash docs/eval/session55/photo_matcher_continue_gpu.sh
set -uo pipefail
export OMP_NUM_THREADS=8 PYTHONPATH=.
nvidia-smi -L
timeout 580 python -m nova3r_ros.train.matcher_train --out "$OUT/run" --minutes "${MINUTES:-9}" \
  --device cuda --init "${INIT:-.device_data/s55B_f16}" --decay cosine --val-windows 96 \
  --val-every 1.5 --lr "${LR:-3e-4}" --batch 16 --seed "${SEED:-57}" \
  --photo-textures .device_data/photo_textures --p-photo "${P_PHOTO:-0.8}" \
  --p-sensor "${P_SENSOR:-0.3}" --val-7scenes .device_data/7scenes-dev-colour \
  --val-criterion mean > /tmp/run.txt 2>&1 || echo "train rc=$?"
grep -v '"loss"' "$OUT/run/log.jsonl" | cut -c 1-330
tail -3 /tmp/run.txt
ls -la "$OUT/run/best"

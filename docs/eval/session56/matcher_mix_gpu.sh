#!/usr/bin/env bash
# Session 56, device call 1: two matcher runs side by side on one GPU on the photographic
# mix (nova3r_ros.synth.photo_textures), validated on 96 synthetic 2-view windows (seeds
# 1,650,000+) and on the dev frames' colour pairs 10 positions apart (validation only),
# the best step by the mean of the two AUC@30s, the last step kept too:
#   C: from session 54's continued matcher (synthetic-strong, real-weak; .device_data/s54m_f16),
#      --p-photo 0.8 --p-sensor 0.3: does the photographic mix give back the real frames?
#   D: from session 55's run B (real-holding; .device_data/s55B_f16), --p-photo 0.5
#      --p-sensor 0.3: does half procedural textures add the synthetic skill?
# Carry .device_data/photo_textures, .device_data/7scenes-dev-colour, .device_data/s54m_f16,
# .device_data/s55B_f16. Back in $OUT: C.tar, D.tar (best/, last/, log.jsonl each).
#   MINUTES=8.5 OUT=$OUT bash docs/eval/session56/matcher_mix_gpu.sh
# INIT_C / INIT_D replace the two starting matchers (carry their folders).
set -uo pipefail
export OMP_NUM_THREADS=4 PYTHONPATH=.
nvidia-smi -L
COMMON=(--minutes "${MINUTES:-8.5}" --device cuda --decay cosine --val-windows 96
  --val-every 1.5 --lr "${LR:-3e-4}" --batch 16 --keep-last --p-sensor 0.3
  --photo-textures .device_data/photo_textures --val-7scenes .device_data/7scenes-dev-colour
  --val-criterion mean)
W=/tmp/w; mkdir -p $W
timeout 580 python -m nova3r_ros.train.matcher_train --out $W/C "${COMMON[@]}" \
  --init "${INIT_C:-.device_data/s54m_f16}" --p-photo 0.8 --seed 61 > $W/C.txt 2>&1 &
timeout 580 python -m nova3r_ros.train.matcher_train --out $W/D "${COMMON[@]}" \
  --init "${INIT_D:-.device_data/s55B_f16}" --p-photo 0.5 --seed 62 > $W/D.txt 2>&1 &
wait
for r in C D; do
  echo "== $r"; grep -v '"loss"' $W/$r/log.jsonl | cut -c 1-330; tail -3 $W/$r.txt
  grep '"loss"' $W/$r/log.jsonl | tail -1
  cp $W/$r.txt $W/$r/stdout.txt; tar -C $W -cf "$OUT/$r.tar" $r
done
ls -la "$OUT"

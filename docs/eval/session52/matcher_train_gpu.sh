#!/usr/bin/env bash
# Session 52, device call 1: the learned matcher continued from the packaged one on
# synthetic pairs of which 70 % have their images degraded by a colour-camera model
# (blur, exposure, white balance, noise, gamma, JPEG) and 10 % of the batches come from
# the robot scene mix (shelves, counters, rooms, clutter; a quarter of the batch each).
# Run from the repository root on the GPU machine; writes into $OUT.
set -euo pipefail
export OMP_NUM_THREADS=8 PYTHONPATH=.
nvidia-smi -L
timeout 560 python -m nova3r_ros.train.matcher_train --out "$OUT/s52a" --minutes "${MINUTES:-7.5}" \
  --device cuda --init nova3r_ros/model/checkpoints/base --decay cosine --val-windows 96 \
  --val-every 1.4 --lr 5e-4 --batch 16 --seed 12 --p-robot 0.1 --p-sensor 0.7 \
  > "$OUT/s52a_train.txt" 2>&1 || echo "train rc=$?"
cp "$OUT/s52a/log.jsonl" "$OUT/matcher_train_s52a.jsonl" || true
ls -la "$OUT" "$OUT/s52a" || true

#!/usr/bin/env bash
# Session 54, device call 2: the learned matcher continued from the packaged one on the
# clean synthetic tabletop pairs it was trained on (no robot mix, no degraded images:
# session 52's run with them did worse on the dev frames), the learning rate decayed over
# the run (cosine), the best step by the pose from its matches alone on 96 validation
# windows (seeds 1,650,000+). Run from the repository root on the GPU machine; writes
# into $OUT (best/ and the log: 4 files).
set -euo pipefail
export OMP_NUM_THREADS=8 PYTHONPATH=.
nvidia-smi -L
timeout 540 python -m nova3r_ros.train.matcher_train --out "$OUT/s54m" --minutes "${MINUTES:-8.0}" \
  --device cuda --init nova3r_ros/model/checkpoints/base --decay cosine --val-windows 96 \
  --val-every 1.6 --lr 5e-4 --batch 16 --seed 54 \
  > "$OUT/s54m_train.txt" 2>&1 || echo "train rc=$?"
cp "$OUT/s54m/log.jsonl" "$OUT/matcher_train_s54m.jsonl" || true
tail -12 "$OUT/s54m_train.txt"; ls -la "$OUT" "$OUT/s54m" "$OUT/s54m/best" || true

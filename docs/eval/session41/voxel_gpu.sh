#!/usr/bin/env bash
# Session 41: the voxel completion prototype continued from the first run's weights (carried
# as INIT), then its points added to the shipped cloud on 50 validation rooms (H200).
# First run: PYTHONPATH=. python docs/eval/session41/voxel_completion_probe.py $OUT 7.3
#   --mesh-dir .device_data/meshes --val-every 2.4   (carry .device_data/meshes)
set -u
export PYTHONPATH=.:docs/eval/session41 OMP_NUM_THREADS=1
timeout 330 python docs/eval/session41/voxel_completion_probe.py $OUT ${MINUTES:-3.2} \
  --mesh-dir .device_data/meshes --init $INIT --lr 5e-4 --start-batch 100000 --val-every 100 \
  2>&1 | grep -v Warn | tail -n 2
for c in 0 1 2 3 4; do
  s=$((1500000 + 10 * c))
  timeout 200 python docs/eval/session41/voxel_union_probe.py $OUT/voxel_final.safetensors \
    room:$s-$((s + 9)) 8 cuda > /tmp/union_c$c.txt 2>&1 &
done
wait
for c in 0 1 2 3 4; do grep -v Warn /tmp/union_c$c.txt | tail -n 8; done | tee $OUT/voxel_union_rooms_h200.txt

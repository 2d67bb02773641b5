#!/usr/bin/env bash
# Session 43, second device call: continue the voxel head of the first call at a lower
# learning rate, then measure its best checkpoint once on the room benchmark (seeds
# 1,100,000-1,100,099, 1 and 4 views) and the tabletop benchmark (1,000,000-1,000,099,
# 1/2/4 views), beside the shipped cloud in the same run, and run the voxel tests on CUDA.
# The checkpoint and its threshold are chosen on validation rooms 1,500,000+ only.
#   MINUTES=3.5 OUT=$OUT bash docs/eval/session43/voxel_final_gpu.sh
# Starts from .device_data/s43a/last (left on a warm machine by the first call), else from
# the carried .device_data/s43a_best (fresh optimiser).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache PYTHONUNBUFFERED=1
E=/tmp/s43b; mkdir -p $E $OUT
ARGS=(--out $OUT/run --minutes ${MINUTES:-3.5} --val-every 2 --views 1 1 2 4 --lr ${LR:-4e-4}
      --mesh-dir .device_data/meshes)
if [ -f .device_data/s43a/last/voxel_head.json ]; then
  ARGS+=(--resume .device_data/s43a/last --warmup 1); echo "resume from the warm machine's run"
else
  ARGS+=(--init .device_data/s43a_best --warmup 50); echo "init from the carried best head"
fi
python -m nova3r_ros.train.voxel_train "${ARGS[@]}" 2>&1 | grep -v Warn | tail -n 3
grep '"val"' $OUT/run/voxel_train.jsonl | cut -c 1-300
HEAD=$OUT/run/best; [ -f $HEAD/voxel_head.json ] || HEAD=$OUT/run/last
timeout 280 python -m pytest -q -p no:cacheprovider test/test_voxel_completion.py \
  test/test_voxel_published.py > $E/cuda_tests.txt 2>&1 &
run() {  # name args...
  local name=$1; shift
  timeout 280 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 \
    || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for v in 1 4; do
  run rooms_${v}v_voxel --data synthetic:1100000-1100099 --family room --views $v \
    --method model observed_only --voxel-head $HEAD &
  run rooms_${v}v --data synthetic:1100000-1100099 --family room --views $v --method model &
done
for v in 1 2 4; do
  run bench_${v}v_voxel --data synthetic:1000000-1000099 --views $v --method model \
    --voxel-head $HEAD &
done
wait
python scripts/merge_metrics.py $E $OUT/final.json
tail -n 3 $E/cuda_tests.txt | tee $OUT/cuda_tests.txt

#!/usr/bin/env bash
# Session 43, second device call: measure the voxel head chosen on validation (rooms
# 1,500,000+, in the first call's training) once on the room benchmark (seeds
# 1,100,000-1,100,099, 1 and 4 views) and the tabletop benchmark (1,000,000-1,000,099,
# 1/2/4 views), beside the shipped cloud in the same run; the voxel tests on CUDA.
#   OUT=$OUT bash docs/eval/session43/voxel_final_gpu.sh
# The head: .device_data/s43a/best (left on a warm machine by the first call), else the
# carried .device_data/s43a_best.
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache PYTHONUNBUFFERED=1
E=/tmp/s43b; mkdir -p $E $OUT
HEAD=.device_data/s43a/best; [ -f $HEAD/voxel_head.json ] || HEAD=.device_data/s43a_best
echo "head: $HEAD"; python -c "import json;print(json.load(open('$HEAD/voxel_head.json'))['meta'])"
timeout 330 python -m pytest -q -p no:cacheprovider test/test_voxel_completion.py \
  test/test_voxel_published.py > $E/cuda_tests.txt 2>&1 &
run() {  # name args...
  local name=$1; shift
  timeout 330 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 \
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
python scripts/merge_metrics.py $E $OUT/final.json --keys fscore@1cm fscore@2cm fscore@5cm \
  hidden_recall@5cm completed_precision@5cm voxel_points
tail -n 3 $E/cuda_tests.txt | tee $OUT/cuda_tests.txt

#!/usr/bin/env bash
# Session 40: CUDA tests and the publish bench of the new code; the room benchmark with the bounding planes' 4 x 4 sub-cells beside the default (H200).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s40f; mkdir -p $E $OUT
run() {  # name args...
  local name=$1; shift
  timeout 400 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
python -m pytest -q -p no:cacheprovider test/test_hidden_subcells.py test/test_published_cloud.py > $OUT/cuda_tests.txt 2>&1; tail -n 2 $OUT/cuda_tests.txt
PYTHONPATH=bench:. timeout 150 python bench/published_cloud.py --device cuda --data .device_data/7scenes-redkitchen-dev > $OUT/bench_published_cloud_h200.txt 2>&1
tail -n 5 $OUT/bench_published_cloud_h200.txt
for v in 1 4; do
  run rooms_${v}v --data synthetic:1100000-1100099 --family room --views $v --method model observed_only &
  run rooms_${v}v_b4 --hidden-snap-bounding-subcells 4 --data synthetic:1100000-1100099 --family room --views $v --method model &
done
wait
python scripts/merge_metrics.py $E $OUT/rooms_h200.json

#!/usr/bin/env bash
# Session 39: CUDA tests of the final code, the tabletop benchmark with the open-space mend, the publish bench.
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s39g; mkdir -p $E $OUT
python -m pytest -q -p no:cacheprovider test/test_observed_fusion.py test/test_published_cloud.py test/test_open_space.py test/test_plane_completion.py > $OUT/cuda_tests_final.txt 2>&1; tail -n 2 $OUT/cuda_tests_final.txt
run() {  # name args...
  local name=$1; shift
  timeout 450 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for v in 1 2 4; do
  run bench_${v}v --data synthetic:1000000-1000099 --views $v --method model observed_only observed_fused &
  run val_${v}v --data synthetic:1600000-1600099 --views $v --method model --points 4096 --steps 6 &
done
for v in 1 4; do run benchfast_${v}v --data synthetic:1000000-1000099 --views $v --method model --points 4096 --steps 6 & done
run rooms_1v --data synthetic:1100000-1100099 --family room --views 1 --method model observed_only &
wait
python scripts/merge_metrics.py $E $OUT/final_h200.json
PYTHONPATH=bench:. timeout 120 python bench/published_cloud.py --device cuda --data .device_data/7scenes-redkitchen-dev > $OUT/bench_published_cloud_h200_final.txt 2>&1
tail -n 14 $OUT/bench_published_cloud_h200_final.txt

#!/usr/bin/env bash
# Session 39: the fused views (bilinear reads) on validation, the dev frames and the benchmarks (H200; the tables' commands).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s39f; mkdir -p $E $OUT
python -m pytest -q -p no:cacheprovider test/test_observed_fusion.py test/test_published_cloud.py > $OUT/cuda_tests2.txt 2>&1; tail -n 2 $OUT/cuda_tests2.txt
DEV=7scenes:.device_data/7scenes-redkitchen-dev
run() {  # name args...
  local name=$1; shift
  timeout 450 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for m in 0 6 12; do
  for v in 2 4; do run val_${v}v_s$m --fusion-sigmas $m --data synthetic:1600000-1600099 --views $v --method model observed_fused --points 4096 --steps 6 & done
  run valrooms_4v_s$m --fusion-sigmas $m --data synthetic:1500000-1500049 --family room --views 4 --method model observed_fused --points 4096 --steps 6 &
done
for v in 2 4; do
  run dev8_${v}v --data $DEV --views $v --windows 8 --stride 4 --method model observed_only observed_fused --points 4096 --steps 6 &
  run dev24_${v}v --data $DEV --views $v --windows 24 --stride 4 --method model observed_only observed_fused --points 4096 --steps 6 &
  run bench_${v}v --data synthetic:1000000-1000099 --views $v --method model observed_only observed_fused &
done
run rooms_4v --data synthetic:1100000-1100099 --family room --views 4 --method model observed_only observed_fused &
run valrooms_2v_s6 --data synthetic:1500000-1500049 --family room --views 2 --method model --points 4096 --steps 6 &
wait
python scripts/merge_metrics.py $E $OUT/merged2.json
PYTHONPATH=bench:. timeout 120 python bench/published_cloud.py --device cuda --data .device_data/7scenes-redkitchen-dev > $OUT/bench_published_cloud_h200_2.txt 2>&1
tail -n 6 $OUT/bench_published_cloud_h200_2.txt

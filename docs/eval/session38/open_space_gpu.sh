#!/usr/bin/env bash
# Session 38 (untracked): open space, final code. Validation choice, benchmark, dev, rooms, bench.
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s38e; mkdir -p $E $OUT
DEV=7scenes:.device_data/7scenes-redkitchen-dev
run() {  # name args...
  local name=$1; shift
  timeout 500 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
VAL=synthetic:1600000-1600099
for v in 1 2 4; do
  for s in 0 0.15 0.25 0.4; do run val_${v}v_s$s --open-hole-share $s --data $VAL --views $v --method model --points 4096 --steps 6 & done
  run bench_${v}v --data synthetic:1000000-1000099 --views $v --method model &
  run benchref_${v}v --data synthetic:1000000-1000099 --views $v --method model --hidden-head none --no-plane-completion --open-hole-share 0 &
  run dev8_${v}v --data $DEV --views $v --windows 8 --stride 4 --method model observed_only --points 4096 --steps 6 &
  run dev24_${v}v --data $DEV --views $v --windows 24 --stride 4 --method model observed_only --points 4096 --steps 6 &
done
for v in 1 4; do
  run benchfast_${v}v --data synthetic:1000000-1000099 --views $v --method model --points 4096 --steps 6 &
  run rooms_${v}v --data synthetic:1100000-1100099 --family room --views $v --method model observed_only &
done
wait
python scripts/merge_metrics.py $E $OUT/merged.json
cd $E && tar czf $OUT/pw.tgz */per_window.json; cd - > /dev/null
PYTHONPATH=bench:. timeout 200 python bench/published_cloud.py --device cuda --data .device_data/7scenes-redkitchen-dev > $OUT/bench_published_cloud_h200.txt 2>&1
tail -n 12 $OUT/bench_published_cloud_h200.txt

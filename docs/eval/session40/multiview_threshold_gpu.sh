#!/usr/bin/env bash
# Session 40: the head's threshold in windows of several views (0.35 shipped; 0.4 / 0.45 / 0.5) against F@2cm (dev frames, validation rooms; H200).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s40t; mkdir -p $E $OUT
DEV=7scenes:.device_data/7scenes-redkitchen-dev
run() {  # name args...
  local name=$1; shift
  timeout 540 python -m nova3r_ros.cli eval --device cuda --points 4096 --steps 6 --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for p in 0.4 0.45 0.5; do
  for v in 2 4; do
    run dev8_${v}v_p$p --hidden-min-probability $p --hidden-single-view-min-probability 0.2 --data $DEV --views $v --windows 8 --stride 4 --method model &
    run dev24_${v}v_p$p --hidden-min-probability $p --hidden-single-view-min-probability 0.2 --data $DEV --views $v --windows 24 --stride 4 --method model &
  done
  run valrooms_4v_p$p --hidden-min-probability $p --data synthetic:1500000-1500049 --family room --views 4 --method model &
done
wait
python scripts/merge_metrics.py $E $OUT/multiview_threshold_h200.json
grep -h "failed" $E/*.log | head

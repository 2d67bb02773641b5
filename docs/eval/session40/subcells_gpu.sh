#!/usr/bin/env bash
# Session 40: the head's layers snapped onto planes at 2 / 4 / 8 sub-cells per side (dev frames, validation rooms and tabletops; H200).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s40s; mkdir -p $E $OUT
DEV=7scenes:.device_data/7scenes-redkitchen-dev
run() {  # name args...
  local name=$1; shift
  timeout 540 python -m nova3r_ros.cli eval --device cuda --points 4096 --steps 6 --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for s in 2 4 8; do
  base=""; [ $s = 2 ] && base="observed_only observed_fused"
  for v in 1 2 4; do
    run dev8_${v}v_s$s --hidden-snap-subcells $s --data $DEV --views $v --windows 8 --stride 4 --method model $base &
    run dev24_${v}v_s$s --hidden-snap-subcells $s --data $DEV --views $v --windows 24 --stride 4 --method model $base &
  done
  for v in 1 4; do
    run valrooms_${v}v_s$s --hidden-snap-subcells $s --data synthetic:1500000-1500049 --family room --views $v --method model $base &
    run val_${v}v_s$s --hidden-snap-subcells $s --data synthetic:1600000-1600099 --views $v --method model &
  done
done
wait
python scripts/merge_metrics.py $E $OUT/subcells_h200.json
grep -h "failed" $E/*.log | head

#!/usr/bin/env bash
# Session 40: the bounding planes' snapped layers at 4 / 8 sub-cells per side (dev frames, validation rooms and tabletops; H200).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s40b; mkdir -p $E $OUT
DEV=7scenes:.device_data/7scenes-redkitchen-dev
run() {  # name args...
  local name=$1; shift
  timeout 540 python -m nova3r_ros.cli eval --device cuda --points 4096 --steps 6 --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for s in 4 8 8e3; do
  base=""; [ $s = 8e3 ] && base="--hidden-snap-bounding-existence 0.3"
  for v in 1 2 4; do
    run dev8_${v}v_b$s --hidden-snap-bounding-subcells ${s:0:1} --data $DEV --views $v --windows 8 --stride 4 $base --method model &
    run dev24_${v}v_b$s --hidden-snap-bounding-subcells ${s:0:1} --data $DEV --views $v --windows 24 --stride 4 $base --method model &
  done
  for v in 1 4; do
    run valrooms_${v}v_b$s --hidden-snap-bounding-subcells ${s:0:1} --data synthetic:1500000-1500049 --family room --views $v $base --method model &
    run val_${v}v_b$s --hidden-snap-bounding-subcells ${s:0:1} --data synthetic:1600000-1600099 --views $v $base --method model &
  done
done
wait
python scripts/merge_metrics.py $E $OUT/bounding_subcells_h200.json
grep -h "failed" $E/*.log | head

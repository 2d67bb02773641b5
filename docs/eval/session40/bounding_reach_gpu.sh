#!/usr/bin/env bash
# Session 40: the bounding planes' reach (0.5 / 1 m against the shipped 3 m), with and without 4 x 4 sub-cells on them (dev frames, validation rooms; H200).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=.device_data/cache
E=/tmp/s40r; mkdir -p $E $OUT
DEV=7scenes:.device_data/7scenes-redkitchen-dev
run() {  # name args...
  local name=$1; shift
  timeout 540 python -m nova3r_ros.cli eval --device cuda --points 4096 --steps 6 --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for r in 0.5 1; do
  for b in 0 4; do
    a="--hidden-snap-bounding-reach $r --hidden-snap-bounding-subcells $b"
    for v in 1 2 4; do
      run dev8_${v}v_r${r}_b$b $a --data $DEV --views $v --windows 8 --stride 4 --method model &
      run dev24_${v}v_r${r}_b$b $a --data $DEV --views $v --windows 24 --stride 4 --method model &
    done
    for v in 1 4; do
      run valrooms_${v}v_r${r}_b$b $a --data synthetic:1500000-1500049 --family room --views $v --method model &
    done
  done
done
wait
python scripts/merge_metrics.py $E $OUT/bounding_reach_h200.json
grep -h "failed" $E/*.log | head

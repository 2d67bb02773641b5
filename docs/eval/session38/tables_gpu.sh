#!/usr/bin/env bash
# Session 38: the README's synthetic tabletop and room tables re-measured with the shipped
# cloud (one H200, full size: 16,384 points, 25 steps). Usage: OUT=dir bash this-file
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2 NOVA3R_CACHE=.device_data/cache
E=/tmp/s38t; mkdir -p $E $OUT
run() {  # name args...
  local name=$1; shift
  timeout 560 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for v in 1 2 4; do
  run tabletop_${v}v --data synthetic:1000000-1000099 --views $v --method oracle observed_only model model_raw model_snapped &
done
for v in 1 4; do
  run rooms_${v}v --family room --data synthetic:1100000-1100099 --views $v --method oracle observed_only model model_raw &
done
wait
python scripts/merge_metrics.py $E $OUT/tables_h200.json

#!/usr/bin/env bash
# Session 59: issue 11's speed targets and the shipped synthetic rows re-measured with today's code on one GPU:
# bench/model.py and bench/synth.py alone first (timings), then the tabletop and room benchmarks in parallel.
set -u
export PYTHONPATH=. OMP_NUM_THREADS=1 NOVA3R_CACHE=/tmp/nc
E=/tmp/s59f; mkdir -p $E $OUT
nvidia-smi --query-gpu=name --format=csv,noheader > $OUT/device.txt
PYTHONPATH=bench:. timeout 150 python bench/model.py --device cuda > $OUT/bench_model_gpu.txt 2>&1; tail -n 8 $OUT/bench_model_gpu.txt
PYTHONPATH=bench:. timeout 100 python bench/synth.py --cases train > $OUT/bench_synth_train_gpu.txt 2>&1; tail -n 6 $OUT/bench_synth_train_gpu.txt
run() {  # name args...
  local name=$1; shift
  timeout 300 python -m nova3r_ros.cli eval --device cuda --out $E/$name "$@" > $E/$name.log 2>&1 || echo "$name failed: $(tail -n 2 $E/$name.log)"
}
for v in 1 2 4; do run bench_${v}v --data synthetic:1000000-1000099 --views $v --method model observed_only & done
for v in 1 4; do run rooms_${v}v --data synthetic:1100000-1100099 --family room --views $v --method model observed_only observed_fused & done
wait
python scripts/merge_metrics.py $E $OUT/final_gpu.json --keys fscore@1cm fscore@2cm fscore@5cm hidden_recall@5cm completed_precision@5cm

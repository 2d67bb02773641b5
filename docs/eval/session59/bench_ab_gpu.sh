#!/usr/bin/env bash
# Session 59: bench/model.py and bench/synth.py --cases train of today's code against session 37's
# (8af435b, whose bench/model.py gave 24.5 ms fast / 76.3 ms quality on an H200), interleaved on one machine.
# The baseline's code travels as an untracked tar, made with: git archive 8af435b nova3r_ros bench ':!nova3r_ros/model/checkpoints' -o s59_base37.tar
# and uses today's packaged checkpoint (the decoder's weights have not changed since).
set -u  # ROUNDS=N (default 2) rounds of bench/model.py; NO_SYNTH=1 skips bench/synth.py
export OMP_NUM_THREADS=1 NOVA3R_CACHE=/tmp/nc
R=$PWD; B=/tmp/b37; mkdir -p $B $OUT && tar -xf s59_base37.tar -C $B
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/device.txt
keys='^(gpu_8v_16k_(quality|fast)_(ms|peak_mem_gb)|synth_train_benchmark_tabletop_windows_per_s|synth_train_mix_windows_per_s)='
for i in $(seq ${ROUNDS:-2}); do
  echo "== base model $i"; (cd $B && PYTHONPATH=$B/bench:$B timeout 150 python bench/model.py --device cuda --checkpoint $R/nova3r_ros/model/checkpoints/base > $OUT/base_model_$i.txt 2>&1); grep -E "$keys" $OUT/base_model_$i.txt
  echo "== today model $i"; PYTHONPATH=bench:. timeout 150 python bench/model.py --device cuda > $OUT/today_model_$i.txt 2>&1; grep -E "$keys" $OUT/today_model_$i.txt
done
[ -n "${NO_SYNTH:-}" ] && exit 0
echo "== base synth"; (cd $B && PYTHONPATH=$B/bench:$B timeout 100 python bench/synth.py --cases train 2>&1 | grep -E "$keys")
echo "== today synth"; PYTHONPATH=bench:. timeout 100 python bench/synth.py --cases train 2>&1 | grep -E "$keys"

#!/usr/bin/env bash
# Issue 4's evaluation on the GPU machine: every configuration on 100 synthetic tabletop
# windows (seeds 1,000,000-1,000,099, never used in training), run in parallel, then
# bench/model.py alone on the GPU. Needs the YCB meshes at $MESHES (carried beside the
# tree). Writes $OUT/results.json (all metrics.json merged), $OUT/results.md and
# $OUT/bench_model.txt.
# Usage: OUT=dir MESHES=.device_data/meshes [WINDOWS=1000000-1000099] [EXTRA="--device cpu"]
#        [BENCH=0] scripts/eval_gpu.sh   (EXTRA: more nova3r eval arguments, e.g. for a CPU
#        smoke run; BENCH=0 skips bench/model.py)
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
DATA="synthetic:${WINDOWS:-1000000-1000099}"
CK=nova3r_ros/model/checkpoints/base
E=/tmp/nova3r_eval
mkdir -p "$E" "$OUT"
run() {  # name, then nova3r eval arguments
  local name=$1; shift
  timeout "${EVAL_TIMEOUT:-330}" python -m nova3r_ros.cli eval --checkpoint "$CK" --data "$DATA" \
    --out "$E/$name" "$@" ${EXTRA:-} > "$E/$name.log" 2>&1 || echo "$name failed: $(tail -2 "$E/$name.log")"
}
for v in 1 2 4; do
  run rgbd_${v}v --method oracle model --views $v &
  run rgbd_${v}v_raw --method model --views $v --no-depth-consistency &  # decoder output as is
  run rgbd_${v}v_fast --method model --views $v --sampler euler --steps 8 &  # bench's fast preset
  run rgbd_${v}v_fast6 --method model --views $v --sampler euler --steps 6 &  # a faster candidate
done
run rgb_unposed_1v --method oracle model --views 1 --no-depth --unposed &
run rgb_unposed_2v --method oracle model --views 2 --no-depth --unposed &
run rgb_unposed_4v --method oracle model --views 4 --no-depth --unposed &
HELD="ycb_powerdrill ycb_mustardbottle"
SEEN="ycb_banana ycb_crackerbox ycb_gelatinbox ycb_masterchefcan"
run meshes_seen_1v --method oracle model --views 1 --mesh-dir "$MESHES" --mesh-names $SEEN &
run meshes_heldout_1v --method oracle model --views 1 --mesh-dir "$MESHES" --mesh-names $HELD &
wait
python scripts/merge_metrics.py "$E" "$OUT/results.json" --md "$OUT/results.md"
[ "${BENCH:-1}" = 1 ] || exit 0
timeout "${BENCH_TIMEOUT:-200}" python bench/model.py --device "${BENCH_DEVICE:-cuda}" \
  > "$OUT/bench_model.txt" 2>&1 || echo "bench failed"
tail -40 "$OUT/bench_model.txt"

#!/usr/bin/env bash
# The frustum-protocol evaluation on the GPU machine (real-data issue): the 7-Scenes dev
# frames (8 windows, stride 4, 1/2/4 views, posed and unposed RGB-D) and the synthetic
# benchmarks (tabletop seeds 1,000,000-1,000,099; rooms 1,100,000-1,100,099), every
# configuration in parallel, then bench/model.py alone on the GPU.
# Needs, carried beside the tree: the dev frames at $SEVEN, the YCB meshes at $MESHES
# (unused unless MESH_EVAL=1), and the TSDF reference cache at $NOVA3R_CACHE (made on
# any machine by the first `nova3r eval --data 7scenes:...`; the GPU machine can also
# fuse it itself, in torch).
# Writes $OUT/results.json (every metrics.json merged), $OUT/results.md,
# $OUT/bench_model.txt.
# SETS picks what runs (default "real syn room full").
# Usage: OUT=dir SEVEN=.device_data/7scenes-redkitchen-dev NOVA3R_CACHE=.device_data/cache \
#        [CK=checkpoint] [SYN_WINDOWS=1000000-1000099] [ROOM_WINDOWS=1100000-1100099]
#        [REAL_WINDOWS=8] [EXTRA="--device cpu --points 1024 --steps 4"] [BENCH=0]
#        scripts/eval_frustum_gpu.sh
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
CK=${CK:-nova3r_ros/model/checkpoints/base}
E=/tmp/nova3r_frustum
rm -rf "$E"
mkdir -p "$E" "$OUT"
run() {  # name, then nova3r eval arguments
  local name=$1; shift
  timeout "${EVAL_TIMEOUT:-400}" python -m nova3r_ros.cli eval --checkpoint "$CK" \
    --out "$E/$name" "$@" ${EXTRA:-} > "$E/$name.log" 2>&1 || echo "$name failed: $(tail -2 "$E/$name.log")"
}
REAL="--data 7scenes:$SEVEN --windows ${REAL_WINDOWS:-8} --stride 4"
MODELS="observed_only model model_raw model_snapped"
SETS=${SETS:-real syn room full}
for v in 1 2 4; do
  [[ $SETS == *real* ]] && run real_${v}v $REAL --views $v --method oracle $MODELS &
  [[ $SETS == *syn* ]] && run syn_${v}v --data "synthetic:${SYN_WINDOWS:-1000000-1000099}" \
    --views $v --method oracle $MODELS &
done
for v in 2 4; do
  [[ $SETS == *real* ]] && run real_${v}v_unposed $REAL --views $v --unposed --method oracle $MODELS &
done
for v in 1 4; do
  [[ $SETS == *room* ]] && run room_${v}v --data "synthetic:${ROOM_WINDOWS:-1100000-1100099}" \
    --family room --views $v --method oracle $MODELS &
done
[[ $SETS == *full* ]] && run syn_1v_full --data "synthetic:${SYN_WINDOWS:-1000000-1000099}" \
  --views 1 --target full --method oracle model &
wait
python scripts/merge_metrics.py "$E" "$OUT/results.json" --md "$OUT/results.md"
[ "${BENCH:-1}" = 1 ] || exit 0
timeout "${BENCH_TIMEOUT:-200}" python bench/model.py --device "${BENCH_DEVICE:-cuda}" \
  > "$OUT/bench_model.txt" 2>&1 || echo "bench failed"
tail -40 "$OUT/bench_model.txt"

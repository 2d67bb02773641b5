#!/usr/bin/env bash
# Score hidden-surface heads in the published cloud on the 7-Scenes dev frames (validation
# only) on the GPU machine: issue 6's protocol, 8 windows (WINDOWS=24: more of the same
# frames, the rule's second file), stride 4, 1 / 2 / 4 views, for
# each head in HEADS (plus 'none', today's cloud) and each confidence threshold in PS.
# Usage: OUT=dir SEVEN=.device_data/7scenes-redkitchen-dev NOVA3R_CACHE=.device_data/cache
#        HEADS="dirA dirB" [PS="0.2 0.3 0.4"] [VIEWS="1 2 4"] [JOBS=6] [NONE=0: no head-less
#        rows] [DEVICE=cpu] [WINDOWS=8] [EXTRA="--hidden-consensus 1": more eval
#        arguments for every run] scripts/hidden_eval_gpu.sh
# Writes $OUT/hidden_eval.json, prints one line per run with the issue's keys, then the
# pair the shipping rule chooses (scripts/choose_hidden_head.py).
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
CK=nova3r_ros/model/checkpoints/base
E=$(mktemp -d /tmp/nova3r_hidden_eval.XXXX)  # this call's runs only
mkdir -p "$E" "$OUT"
run() {  # name, then nova3r eval arguments
  local name=$1; shift
  timeout "${EVAL_TIMEOUT:-300}" python -m nova3r_ros.cli eval --checkpoint "$CK" \
    --data "7scenes:$SEVEN" --windows "${WINDOWS:-8}" --stride 4 --method model --points 4096 --steps 6 \
    --device "${DEVICE:-cuda}" --out "$E/$name" ${EXTRA:-} "$@" > "$E/$name.log" 2>&1 \
    || echo "$name failed: $(tail -2 "$E/$name.log")"
}
n=0
for v in ${VIEWS:-1 2 4}; do
  if [ "${NONE:-1}" = 1 ]; then run "none_${v}v" --views "$v" --hidden-head none & n=$((n + 1)); fi
  for h in ${HEADS:-}; do
    for p in ${PS:-0.2 0.3 0.4}; do
      run "$(basename "$h")_p${p}_${v}v" --views "$v" --hidden-head "$h" \
        --hidden-min-probability "$p" &
      n=$((n + 1))
      [ $((n % ${JOBS:-6})) = 0 ] && wait
    done
  done
done
wait
python scripts/merge_metrics.py "$E" "$OUT/hidden_eval.json" --keys fscore@2cm fscore@5cm \
  hidden_recall@5cm completed_precision@5cm unjudged
python scripts/choose_hidden_head.py "$OUT/hidden_eval.json"  # issue 11's shipping rule

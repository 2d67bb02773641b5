#!/usr/bin/env bash
# Score published-cloud settings on the 7-Scenes dev frames (validation only) on the GPU
# machine, all at once: issue 6's protocol, --windows ${WINDOWS:-8} --stride 4, the model
# method at 4,096 points and 6 Euler steps. Each line of $GRID is `name views [nova3r eval
# options...]`; a first option `plane:k=v,k=v` overrides PlaneConfig fields
# (scripts/eval_plane_config.py). Prints one line per run (F@2cm, F@5cm, hidden recall@5cm, completed
# precision@5cm, unjudged) and writes $OUT/dev_grid.txt.
# Usage: OUT=dir SEVEN=.device_data/7scenes-redkitchen-dev NOVA3R_CACHE=.device_data/cache
#        GRID=file [WINDOWS=8] [JOBS=8] [DEVICE=cuda] scripts/dev_grid_gpu.sh
set -u
export PYTHONPATH=. OMP_NUM_THREADS=2
E=$(mktemp -d /tmp/nova3r_dev_grid.XXXX)
mkdir -p "$OUT"
n=0
while read -r name views rest; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  launch=(python -m nova3r_ros.cli eval)
  if [ "${rest:0:6}" = "plane:" ]; then
    over=${rest%% *}; over=${over#plane:}
    [ "$rest" = "plane:$over" ] && rest="" || rest=${rest#* }
    launch=(python scripts/eval_plane_config.py ${over//,/ } --)
  fi
  # shellcheck disable=SC2086  # $rest holds several options
  timeout "${EVAL_TIMEOUT:-400}" "${launch[@]}" --data "7scenes:$SEVEN" \
    --windows "${WINDOWS:-8}" --stride 4 --method model --points 4096 --steps 6 \
    --device "${DEVICE:-cuda}" --views "$views" --out "$E/$name" $rest > "$E/$name.log" 2>&1 \
    || echo "$name failed: $(tail -2 "$E/$name.log")" &
  n=$((n + 1))
  [ $((n % ${JOBS:-8})) = 0 ] && wait
done < "$GRID"
wait
for m in "$E"/*/metrics.json; do
  python - "$m" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["model"]
name = sys.argv[1].split("/")[-2]
print(f"{name:28s} F2 {r['fscore@2cm']:.3f} F5 {r['fscore@5cm']:.3f} "
      f"hr5 {r['hidden_recall@5cm']:.3f} cp {r['completed_precision@5cm']:.3f} "
      f"unj {r['unjudged']:.3f}")
PY
done | tee "$OUT/dev_grid.txt"

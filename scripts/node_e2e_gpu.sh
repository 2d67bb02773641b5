#!/usr/bin/env bash
# The node end to end on the GPU machine (issue 14, point 13): installs the carried ROS 2
# Jazzy bundle for this Python (carry .rosdev and build/tf2_msgs; see
# scripts/device_ros/build_bundle.py), prints the machine's CPU/GPU layout, then runs
# bench/node_e2e.py once per RUNS entry ("label|options"), each into $OUT/<label>.txt.
# Usage: OUT=dir RUNS="f|--points 4096 --steps 6;q|--points 16384 --steps 25" \
#        [SECONDS_=30] [RUN_TIMEOUT=280] scripts/node_e2e_gpu.sh
set -u
command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python
bash .rosdev/install.sh /tmp/ros312 > /tmp/ros_install.log 2>&1 || { tail /tmp/ros_install.log; exit 1; }
# shellcheck disable=SC1091
. /tmp/ros312/env.sh
export PYTHONPATH=".:${PYTHONPATH:-}" NOVA3R_BENCH_SIZE=640x480 NOVA3R_BENCH_DEVICE=cuda
{
  nproc; lscpu | grep -iE "model name|socket|numa|thread|core"
  nvidia-smi topo -m 2>&1 | head -8
  nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw --format=csv
} > "$OUT/machine.txt" 2>&1
IFS=';' read -ra LIST <<< "$RUNS"
for entry in "${LIST[@]}"; do
  label=${entry%%|*}; opts=${entry#*|}
  # shellcheck disable=SC2086
  timeout "${RUN_TIMEOUT:-280}" python bench/node_e2e.py --backend model --seconds "${SECONDS_:-30}" $opts \
    > "$OUT/$label.txt" 2>&1 || echo "$label failed: $(tail -3 "$OUT/$label.txt")"
  echo "== $label"; grep -E "latency_ms_median|^pipeline_ms|overhead_pct|cloud_points|node_mean_(prepare|encode|decode|consistency|ipc|ipc_put|queue_wait|anchor|backend|publish_cloud|grouped_age|input_age|published_age)" "$OUT/$label.txt" | tr '\n' ' '; echo
done

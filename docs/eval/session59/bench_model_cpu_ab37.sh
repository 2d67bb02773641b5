#!/usr/bin/env bash
# Session 59 (2-core EPYC): bench/model.py of session 37's code (8af435b, /tmp/b37 from s59_base37.tar, today's checkpoint) and today's, interleaved.
for i in 1 2; do
  echo "== base37 run $i"; (cd /tmp/b37 && PYTHONPATH=/tmp/b37/bench:/tmp/b37 /work/main/.venv/bin/python bench/model.py --device cpu --checkpoint /work/main/nova3r_ros/model/checkpoints/base 2>&1 | grep -E "^cpu_2v_4k_fast_ms|^cpu_.v_4k_quality_ms|load average")
  echo "== today run $i"; (cd /work/main && PYTHONPATH=/work/main/bench:/work/main /work/main/.venv/bin/python bench/model.py --device cpu 2>&1 | grep -E "^cpu_2v_4k_fast_ms|^cpu_.v_4k_quality_ms|load average")
done

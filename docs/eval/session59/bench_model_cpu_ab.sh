#!/usr/bin/env bash
# Session 59 (2-core EPYC): bench/model.py of the session-3 code (git worktree add /tmp/old3 dd58c03; it measured 2.79-2.91 s then) and of today's, interleaved.
# interleaved: session-3 code (dd58c03) and today's code, bench/model.py on the CPU
for i in 1 2; do
  for t in /tmp/old3 /work/main; do
    echo "== $t run $i"; (cd $t && PYTHONPATH=$t/bench:$t /work/main/.venv/bin/python bench/model.py --device cpu 2>&1 | grep -E "^cpu_2v_4k_fast_ms|^cpu_1v_4k_quality_ms|load average")
  done
done

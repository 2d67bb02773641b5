#!/usr/bin/env bash
# Session 59: the dev frames through the protocol with today's code on the 2-core EPYC (8 windows, stride 4, fast preset).
cd /work/main
export PYTHONPATH=$PWD NOVA3R_CACHE=/tmp/nc
for v in 1 2 4; do
  /usr/bin/time -f "%e s" .venv/bin/python -m nova3r_ros.cli eval --data 7scenes:../shared/data/7scenes-redkitchen-dev --views $v --windows 8 --stride 4 --method model observed_only observed_fused --points 4096 --steps 6 --device cpu --out /tmp/s59dev/dev_${v}v > /tmp/s59dev_${v}v.log 2>&1
done
.venv/bin/python scripts/merge_metrics.py /tmp/s59dev /tmp/s59dev.json --keys fscore@2cm fscore@5cm hidden_recall@5cm completed_precision@5cm unjudged

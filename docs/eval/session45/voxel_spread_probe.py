"""The trained voxel head's validation numbers with 1, 5 and 9 points per completed cell.

``PYTHONPATH=. python docs/eval/session45/voxel_spread_probe.py --head DIR --windows 16``
(validation rooms from seed 1,500,000, ``train/voxel_validation.validate``; CPU).
"""

import argparse

from nova3r_ros.model.voxel_files import load_voxel_head
from nova3r_ros.train.voxel_validation import THRESHOLDS, validate, validation_windows

ap = argparse.ArgumentParser()
ap.add_argument("--head", required=True)
ap.add_argument("--windows", type=int, default=16)
ap.add_argument("--views", type=int, nargs="+", default=[1])
ap.add_argument("--mesh-dir", default=None)
a = ap.parse_args()
head = load_voxel_head(a.head)
for views in a.views:
    batches = validation_windows(a.windows, views, 120, 160, "cpu", mesh_dir=a.mesh_dir)
    for k in (1, 5, 9):
        s = validate(head, batches, k)
        row = " ".join(
            f"T{t}: {s[f'precision@5cm@{t}']:.3f}/{s[f'hidden_covered@5cm@{t}']:.3f}"
            f"/{s[f'points_per_window@{t}']:.0f}"
            for t in THRESHOLDS
        )
        print(
            f"views={views} points_per_cell={k} precision/hidden_covered/points {row}", flush=True
        )

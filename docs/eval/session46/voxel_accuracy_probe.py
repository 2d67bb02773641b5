"""Session 46 probe: how far the voxel head's points lie from the validation rooms' surface.

8 validation rooms (seeds 1,500,000+, 160 x 120, 1,000,000 ground-truth points each so that
their spacing does not count), the head's points at its own threshold in the views'
region, 1 and 5 per cell: the share within 1 / 2 / 3 / 5 / 10 cm of the complete surface.

Usage: PYTHONPATH=. python docs/eval/session46/voxel_accuracy_probe.py HEAD_DIR VIEWS
"""

import sys

import torch

from nova3r_ros.model.voxel_completion import window_points
from nova3r_ros.model.voxel_files import load_voxel_head
from nova3r_ros.train.voxel_validation import (
    _in_region,
    _min_dist,
    scored_windows,
    validation_windows,
)


def main() -> None:
    """Command line (module docstring)."""
    head = load_voxel_head(sys.argv[1], "cpu").eval()
    batches = validation_windows(8, int(sys.argv[2]), 120, 160, "cpu", n_points=1_000_000,
                                 mesh_dir=".device_data/meshes")  # fmt: skip
    for k in (1, 5):
        ds = []
        for w in scored_windows(batches):
            pts, _ = window_points(head, w.depth, w.K, w.T_ref, w.down, head.min_probability, k)
            pts = pts[_in_region(pts, w.depth, w.K, w.T_ref)]
            ds.append(_min_dist(pts, w.points))
        d = torch.cat(ds)
        shares = " ".join(f"<{t}cm {float((d < t / 100).float().mean()):.3f}"
                          for t in (1, 2, 3, 5, 10))  # fmt: skip
        print(k, "points", len(d), shares, "median", float(d.median()))


if __name__ == "__main__":
    main()

"""Session 40 probe: where the published cloud's points miss the reference at 2 cm, on 7-Scenes.

For the dev windows of issue 6's protocol (validation only; stride 4), the shipped
published cloud (4,096 points, 6 steps) is split into its parts (observed, planes,
snapped, head; ``scripts/completed_parts.py``'s ``part_labels``). Every in-region, judged
point (no 16,384-point subsample) is binned by its part, by its depth in view 0 and by
its distance to the nearest raw depth point; each bin prints its share of all such points
and its precision at 2 and 5 cm against the reference.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session40/error_probe.py
       <dev frames> VIEWS WINDOWS [DEVICE]
"""

import itertools
import sys

import numpy as np
from completed_parts import PARTS, part_labels

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

DEPTH_BINS = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 9.0)
OBS_BINS = (0.0, 0.01, 0.02, 0.05, 0.1, 9.0)


def table(title: str, key: np.ndarray, bins, label, d) -> None:
    """Print share and precision@2/5cm per part and bin of ``key``."""
    print(title)
    for i, part in enumerate(("observed",) + PARTS):
        mine = label == i - 1
        if not mine.any():
            continue
        cells = []
        for lo, hi in itertools.pairwise(bins):
            m = mine & (key >= lo) & (key < hi)
            if m.sum():
                cells.append(f"[{lo:g},{hi:g}) {m.mean():.3f} "
                             f"{(d[m] < 0.02).mean():.2f}/{(d[m] < 0.05).mean():.2f}")  # fmt: skip
        print(f"  {part:9s} share={mine.mean():.3f} p2={(d[mine] < 0.02).mean():.3f} "
              f"p5={(d[mine] < 0.05).mean():.3f} | " + " | ".join(cells))  # fmt: skip


def main() -> None:
    """Command line (module docstring)."""
    path, views, windows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", device, 4096, 6)
    labels, dists, depths, to_obs = [], [], [], []
    for window, gt, _, frames in sevenscenes_windows(path, views, windows, 4,
                                                     log=lambda s: None):  # fmt: skip
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        label = part_labels(rec.stats, len(pts))
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        sel = frustum.in_region(pts, cams)
        sel[sel] = frustum.judged(pts[sel], frames)
        p = pts[sel]
        labels.append(label[sel])
        dists.append(nn_distances(p, gt.points))
        T = np.linalg.inv(gt.T_world_cam[0])
        depths.append(p @ T[:3, :3].T[:, 2] + T[2, 3])
        to_obs.append(nn_distances(p, observed))
    label, d = np.concatenate(labels), np.concatenate(dists)
    table(f"{views}v by depth in view 0 (m): share p2/p5", np.concatenate(depths),
          DEPTH_BINS, label, d)  # fmt: skip
    table(f"{views}v by distance to the raw depth points (m): share p2/p5",
          np.concatenate(to_obs), OBS_BINS, label, d)  # fmt: skip


if __name__ == "__main__":
    main()

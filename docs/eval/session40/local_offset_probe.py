"""Session 40 probe: the plane points moved by the nearby depth's offset along their normal.

For the dev windows of issue 6's protocol (validation only; stride 4, shipped published
cloud, 4,096 points, 6 steps, one view), each completed point of the plane and snapped
parts gets a local surface normal from its own part's points within 10 cm (PCA), and the
median signed offset along it of the observed points within RADIUS of it that lie within
2.5 cm of that local plane; the point is moved by that offset. Prints the parts'
precision@2cm / @5cm against the whole reference (no subsample) before and after.

Usage: NOVA3R_CACHE=dir PYTHONPATH=.:scripts python docs/eval/session40/local_offset_probe.py
       <dev frames> WINDOWS RADIUS(m)
"""

import sys

import numpy as np
from completed_parts import PARTS, part_labels
from scipy.spatial import cKDTree

from nova3r_ros.eval import frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct

BAND_M = 0.025


def moved(points: np.ndarray, own: np.ndarray, observed: np.ndarray, radius: float):
    """Return ``points`` (N, 3) moved by the local offset of ``observed`` (module docstring)."""
    own_tree, obs_tree = cKDTree(own), cKDTree(observed)
    out = points.copy()
    for i, p in enumerate(points):
        nb = own[own_tree.query_ball_point(p, 0.10)]
        if len(nb) < 5:
            continue
        c = nb.mean(0)
        n = np.linalg.svd(nb - c, full_matrices=False)[2][2]
        ob = observed[obs_tree.query_ball_point(p, radius)]
        if len(ob) < 5:
            continue
        s = (ob - p) @ n
        s = s[np.abs(s) <= BAND_M]
        if len(s) >= 5:
            out[i] = p + np.median(s) * n
    return out


def main() -> None:
    """Command line (module docstring)."""
    path, windows, radius = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", "cpu", 4096, 6)
    rows = {p: [] for p in ("planes", "snapped")}
    for window, gt, _, frames in sevenscenes_windows(path, 1, windows, 4, log=lambda s: None):
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        label = part_labels(rec.stats, len(pts))
        sel = frustum.in_region(pts, region_cameras(window, gt))
        sel[sel] = frustum.judged(pts[sel], frames)
        tree = cKDTree(gt.points)
        observed = pts[label == -1]
        for part in rows:
            mine = label == PARTS.index(part)
            if not (mine & sel).any():
                continue
            p = pts[mine & sel]
            after = moved(p, pts[mine], observed, radius)
            rows[part].append(np.stack([tree.query(p)[0], tree.query(after)[0]], 1))
    for part, chunks in rows.items():
        d = np.concatenate(chunks)
        print(f"1v {part:8s} n={len(d)} before p2={np.mean(d[:, 0] < 0.02):.3f} "
              f"p5={np.mean(d[:, 0] < 0.05):.3f} after p2={np.mean(d[:, 1] < 0.02):.3f} "
              f"p5={np.mean(d[:, 1] < 0.05):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()

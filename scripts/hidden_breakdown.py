"""Where the hidden surface of real windows is: occluded, in depth holes, or elsewhere.

For the 7-Scenes windows of the frustum protocol (``--views``, 8 windows, stride 4), the
target points farther than 5 cm from every observed point (the protocol's hidden set at
5 cm) are projected into each view (true poses) and put in the first class that holds in
some view: on a pixel with no depth (``hole``), behind the measured depth by more than
5 cm (``occluded``), in front of it by more than 5 cm (``in_front``), else ``other``.
Validation data only (the dev frames); prints one line of counts and shares.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python scripts/hidden_breakdown.py [--views V]
           [--data DIR]
"""

from __future__ import annotations

import argparse

import numpy as np

from nova3r_ros.core.pointcloud import backproject_depth
from nova3r_ros.eval import frustum
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.metrics import N_EVAL_POINTS, nn_distances, resample
from nova3r_ros.eval.scoring import region_cameras

TAU = 0.05  # m
CLASSES = ("hole", "occluded", "in_front", "other")


def observed_points(window, gt) -> np.ndarray:
    """Return every valid depth pixel of the window back-projected, world frame (N, 3)."""
    views = zip(window.views, gt.K, gt.T_world_cam, strict=True)
    return np.concatenate([backproject_depth(v.depth, K, T)[0] for v, K, T in views])


def classify(points: np.ndarray, window, gt) -> np.ndarray:
    """Return each world point's class index in CLASSES (the lowest over the views)."""
    cls = np.full(len(points), 3)
    for v, K, T in zip(window.views, gt.K, gt.T_world_cam, strict=True):
        Ti = np.linalg.inv(T)
        pc = points @ Ti[:3, :3].T + Ti[:3, 3]
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.round(pc[:, 0] / z * K[0, 0] + K[0, 2])
            r = np.round(pc[:, 1] / z * K[1, 1] + K[1, 2])
        h, w = v.depth.shape
        ok = (z > 0.1) & (u >= 0) & (u < w) & (r >= 0) & (r < h)
        d = np.zeros(len(points))
        d[ok] = v.depth[r[ok].astype(int), u[ok].astype(int)]
        c = np.full(len(points), 3)
        c[ok & (d > 0) & (z < d - TAU)] = 2
        c[ok & (d > 0) & (z > d + TAU)] = 1
        c[ok & (d <= 0)] = 0
        cls = np.minimum(cls, c)
    return cls


def main() -> None:
    """Print the breakdown of the hidden target points over the windows."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=1)
    ap.add_argument("--data", default="../shared/data/7scenes-redkitchen-dev")
    a = ap.parse_args()
    counts, hidden, target = np.zeros(4, int), 0, 0
    for item in sevenscenes_windows(a.data, a.views, 8, 4, log=lambda _: None):
        window, gt = item.window, item.gt
        cams = region_cameras(window, gt)
        ref = gt.points[frustum.in_region(gt.points, cams)].astype(np.float64)
        tgt = resample(ref, N_EVAL_POINTS, 1)
        hid = tgt[nn_distances(tgt, observed_points(window, gt)) > TAU]
        counts += np.bincount(classify(hid, window, gt), minlength=4)
        hidden, target = hidden + len(hid), target + len(tgt)
    pairs = zip(CLASSES, counts, strict=True)
    shares = " ".join(f"{n}={c / max(hidden, 1):.3f}" for n, c in pairs)
    print(f"views={a.views} hidden_fraction={hidden / max(target, 1):.3f} {shares}")


if __name__ == "__main__":
    main()

"""Session 40 probe: which hidden surfaces of the synthetic rooms the published cloud misses.

For the room windows of seeds FIRST-LAST (``benchmark_config(V, family="room")``, world z
up, the floor at z = 0), the shipped published cloud (4,096 points, 6 steps). The
reference points in the region that lie farther than 5 cm from every observed depth
point (the hidden points) are split by where they lie: on the floor (z < 2 cm), on a
wall or the ceiling (within 2 cm of the reference's bounding box in x, y or its top), or
elsewhere (furniture and objects; also split by height: under 0.3 m, 0.3-1 m, over 1 m).
Prints per class its share of the hidden points and the share within 5 cm of the
published cloud (without the protocol's 16,384-point resampling).

Usage: PYTHONPATH=. python docs/eval/session40/rooms_hidden_probe.py FIRST LAST V DEVICE
       [NAME=VALUE ...]  (ModelBackendConfig overrides, e.g. hidden_snap_subcells=4)
"""

import sys
from dataclasses import replace

import numpy as np

from nova3r_ros.eval import baselines, frustum
from nova3r_ros.eval.data import DataSpec, synthetic_windows
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.eval.scoring import in_world, region_cameras
from nova3r_ros.pipeline import ModelBackendConfig, reconstruct
from nova3r_ros.synth.config import benchmark_config

CLASSES = ("floor", "wall", "low", "mid", "high")


def classes(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(N,) index into CLASSES for world points; ``bounds`` (2, 3) of the whole reference."""
    lo, hi = bounds
    wall = ((np.abs(points[:, :2] - lo[:2]) < 0.02).any(1)
            | (np.abs(points[:, :2] - hi[:2]) < 0.02).any(1)
            | (np.abs(points[:, 2] - hi[2]) < 0.02))  # fmt: skip
    z = points[:, 2]
    out = np.where(z < 0.3, 2, np.where(z < 1.0, 3, 4))
    out[wall] = 1
    out[z < 0.02] = 0
    return out


def main() -> None:
    """Command line (module docstring)."""
    first, last, views = (int(x) for x in sys.argv[1:4])
    cfg = benchmark_config(views, family="room")
    backend = ModelBackendConfig("nova3r_ros/model/checkpoints/base", sys.argv[4], 4096, 6,
                                 world_z_up=True)  # fmt: skip
    for item in sys.argv[5:]:
        name, value = item.split("=")
        backend = replace(backend, **{name: int(value) if value.isdigit() else float(value)})
    total, covered, covered2 = np.zeros(5), np.zeros(5), np.zeros(5)
    windows = 0
    for window, gt, _, _ in synthetic_windows(DataSpec("synthetic", first, last), cfg):
        rec = reconstruct(window, "model", backend)
        pts = in_world(rec, gt)
        cams = region_cameras(window, gt)
        observed = baselines.oracle_raw(window, gt).points
        bounds = np.stack([gt.points.min(0), gt.points.max(0)])
        target = gt.points[frustum.in_region(gt.points, cams)]
        hidden = target[nn_distances(target, observed) > 0.05]
        cls = classes(hidden, bounds)
        d = nn_distances(hidden, pts)
        for c in range(5):
            total[c] += (cls == c).sum()
            covered[c] += ((cls == c) & (d < 0.05)).sum()
            covered2[c] += ((cls == c) & (d < 0.02)).sum()
        windows += 1
    n = total.sum()
    print(" ".join(sys.argv[5:]))
    print(f"{views}v {windows} windows, hidden points/window {n / windows:.0f}, "
          f"covered@5cm {covered.sum() / n:.3f}, @2cm {covered2.sum() / n:.3f}")  # fmt: skip
    for c, name in enumerate(CLASSES):
        share = max(total[c], 1)
        print(f"  {name:5s} share={total[c] / n:.3f} covered@5cm={covered[c] / share:.3f} "
              f"@2cm={covered2[c] / share:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()

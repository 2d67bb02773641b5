"""How right the plane completion's points are, by the plane's angle off the first plane's axes.

For the 7-Scenes windows of the frustum protocol (8 windows, stride 4, true poses; no
decoder, no head: the observed cloud and its plane points, as in a gated window) every
plane is kept (``plane_max_oblique_deg`` 45), each plane point is given to the nearest
plane, and the completed ones (> 5 cm from every observed point, judged, in the region:
the protocol's ``completed_precision@5cm`` pool) are scored against the reference
(right: within 5 cm). Planes are grouped by their angle off parallel or perpendicular to
the window's first plane. Validation data only (the dev frames); prints one line per
plane and the pooled precision per group.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python scripts/plane_precision_by_angle.py
           [--views 1 2 4] [--data DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from nova3r_ros.core.pointcloud import backproject_depth
from nova3r_ros.eval import frustum, scoring
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.model.observed_points import observed_cloud
from nova3r_ros.model.plane_completion import find_planes, off_axes_deg
from nova3r_ros.model.published_cloud import PublishConfig, prepared_depth, publish

TAU = 0.05  # m
GROUPS = ((0.0, 5.0), (5.0, 10.0), (10.0, 45.0))  # degrees off the axes, (lo, hi]


def gated_cloud(window, gt, cfg: PublishConfig) -> tuple:
    """Publish one window's gated cloud (observed points and plane points, true poses).

    Returns ``pub`` (the :class:`Published` cloud), ``planes`` (the plane completion's
    planes of the window's clean observed cloud, view 0's frame), ``pts`` (N, 3) float64
    the cloud in view 0's frame, ``world`` (N, 3) the same in the world frame, and
    ``measured`` (M, 3) float64 every valid depth pixel of the window, world frame.
    """
    T0 = gt.T_world_cam[0]
    T = torch.tensor(np.stack([np.linalg.inv(T0) @ t for t in gt.T_world_cam]),
                     dtype=torch.float32)  # fmt: skip
    depth = torch.tensor(np.stack([v.depth for v in window.views]), dtype=torch.float32)
    K = torch.tensor(np.stack(gt.K), dtype=torch.float32)
    rgb = torch.tensor(np.stack([v.image for v in window.views]))
    pub = publish(None, None, depth, K, T, rgb, cfg)
    obs, _ = observed_cloud(prepared_depth(depth, cfg.edge_px)[0], K, T, rgb, cfg.spacing_m)
    planes = find_planes(obs, cfg.plane_config())
    pts = pub.points.double().numpy()
    world = pts @ T0[:3, :3].T + T0[:3, 3]
    measured = np.concatenate([backproject_depth(v.depth, Kv, Tv)[0]
                               for v, Kv, Tv in zip(window.views, gt.K, gt.T_world_cam,
                                                    strict=True)])  # fmt: skip
    return pub, planes, pts, world, measured.astype(np.float64)


def window_planes(window, gt, judge_frames, cfg: PublishConfig) -> list[tuple]:
    """(angle off axes, completed points, right ones) of each plane of one window."""
    pub, planes, pts, world, measured = gated_cloud(window, gt, cfg)  # cfg keeps every plane
    completed = ~pub.observed.numpy()
    pts, world = pts[completed], world[completed]
    cams = scoring.region_cameras(window, gt)
    pool = (frustum.in_region(world, cams) & frustum.judged(world, judge_frames)
            & (nn_distances(world, measured) > TAU))  # fmt: skip
    target = gt.points[frustum.in_region(gt.points, cams)].astype(np.float64)
    right = nn_distances(world, target) < TAU
    if not planes:
        return []
    N = np.stack([n.double().numpy() for n, _ in planes])
    D = np.array([d for _, d in planes])
    nearest = np.abs(pts @ N.T + D).argmin(1)
    out = []
    for k in range(len(planes)):
        m = pool & (nearest == k)
        out.append((off_axes_deg(N[k], N[0]), int(m.sum()), int(right[m].sum())))
    return out


def main() -> None:
    """Print each plane's completed points and precision, then the groups."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--data", default="../shared/data/7scenes-redkitchen-dev")
    args = ap.parse_args()
    cfg = PublishConfig(plane_max_oblique_deg=45.0)
    rows = []
    for v in args.views:
        items = sevenscenes_windows(args.data, v, 8, 4, log=lambda s: None)
        for w, (window, gt, _, judge_frames) in enumerate(items):
            for k, (angle, n, right) in enumerate(window_planes(window, gt, judge_frames, cfg)):
                print(f"{v} views, window {w + 1}, plane {k}: {angle:4.1f} deg off, "
                      f"{n} completed points, precision {right / max(n, 1):.3f}")  # fmt: skip
                if n:
                    rows.append((angle, n, right))
    for lo, hi in GROUPS:
        sel = [r for r in rows if lo < r[0] <= hi or (lo == 0.0 and r[0] == 0.0)]
        n, right = sum(r[1] for r in sel), sum(r[2] for r in sel)
        each = [r[2] / r[1] for r in sel]
        print(f"({lo:g}, {hi:g}] deg: {len(sel)} planes, {n} completed points, pooled "
              f"precision {right / max(n, 1):.3f}, per plane median "
              f"{np.median(each) if each else float('nan'):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Where the published cloud's 2 cm accuracy goes on the 7-Scenes dev frames.

For the frustum protocol's windows (8 windows, stride 4, true poses; no decoder, no head:
the observed cloud and its plane points, as in a gated window) every point in the region
and judged is scored against the window's reference surface twice: against the whole
reference cut to the region (the TSDF zero crossings, 1.5 cm voxels) and against the
protocol's random resample of it to 16,384 points (``metrics.N_EVAL_POINTS``, as
``precision@2cm`` resamples it). Three groups of points, pooled over the windows:
the observed points (``observed_only``'s cloud), the observed inliers of the window's
planes (within 2 cm of a kept plane) and the completed plane points (> 5 cm from every
observed point, the ``completed_precision`` pool). Validation data only (the dev
frames); prints one line per group and view count.

Usage: NOVA3R_CACHE=dir PYTHONPATH=. python scripts/accuracy_at_2cm.py [--views 1 2 4]
           [--data DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
from plane_precision_by_angle import gated_cloud  # this folder's sibling script

from nova3r_ros.eval import frustum, scoring
from nova3r_ros.eval.data import sevenscenes_windows
from nova3r_ros.eval.metrics import N_EVAL_POINTS, nn_distances, resample
from nova3r_ros.model.published_cloud import PublishConfig

GROUPS = ("observed", "plane inliers", "completed plane points")
INLIER_M = 0.02  # an observed point within this of a kept plane is one of its inliers


def window_distances(window, gt, judge_frames, cfg: PublishConfig) -> dict:
    """Group -> (distances to the whole reference, to its 16,384-point resample) (m)."""
    pub, planes, pts, world, measured = gated_cloud(window, gt, cfg)
    on_plane = np.zeros(len(pts), bool)
    for normal, offset in planes:
        on_plane |= np.abs(pts @ normal.double().numpy() + offset) < INLIER_M
    cams = scoring.region_cameras(window, gt)
    scored = frustum.in_region(world, cams) & frustum.judged(world, judge_frames)
    completed = nn_distances(world, measured) > 0.05
    target = gt.points[frustum.in_region(gt.points, cams)].astype(np.float64)
    sample = resample(target, N_EVAL_POINTS, 1)  # the protocol's (frustum_metrics, seed 0)
    masks = {
        "observed": scored & pub.observed.numpy(),
        "plane inliers": scored & pub.observed.numpy() & on_plane,
        "completed plane points": scored & ~pub.observed.numpy() & completed,
    }
    return {g: (nn_distances(world[m], target), nn_distances(world[m], sample))
            for g, m in masks.items()}  # fmt: skip


def main() -> None:
    """Print, per view count and group, the shares within 2 and 5 cm of the reference."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--data", default="../shared/data/7scenes-redkitchen-dev")
    args = ap.parse_args()
    cfg = PublishConfig()
    for v in args.views:
        pooled = {g: ([], []) for g in GROUPS}
        items = sevenscenes_windows(args.data, v, 8, 4, log=lambda s: None)
        for window, gt, _, judge_frames in items:
            for g, (full, sampled) in window_distances(window, gt, judge_frames, cfg).items():
                pooled[g][0].append(full)
                pooled[g][1].append(sampled)
        for g in GROUPS:
            full, sampled = (np.concatenate(x) for x in pooled[g])
            print(f"{v} views, {g}: {len(full)} points; within 2 cm of the whole reference "
                  f"{np.mean(full < 0.02):.3f} (5 cm {np.mean(full < 0.05):.3f}), median "
                  f"{100 * np.median(full):.2f} cm; within 2 cm of the 16,384-point resample "
                  f"{np.mean(sampled < 0.02):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()

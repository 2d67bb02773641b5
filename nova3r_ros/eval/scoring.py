"""Scoring one method's output on one window: the full-surface and the frustum targets.

``target="full"`` is the protocol of the first sessions (the whole ground-truth surface,
thresholds 1/2/5 cm); ``target="frustum"`` is the frustum protocol
(:mod:`nova3r_ros.eval.frustum`: region, judged points, 2/5/10 cm on real data and
1/2/5 cm on synthetic data). Poses follow VGGT's protocol over view pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nova3r_ros.core.occupancy import grid_from_voxels, occupied_voxels
from nova3r_ros.core.transforms import se3_inverse, transform_points
from nova3r_ros.core.types import GroundTruth, Reconstruction, Window
from nova3r_ros.eval import frustum, metrics

# z band (m) of the 2D grid, per synth family: above the table, or above the floor
GRID_BAND = {"tabletop": (0.01, 0.5), "clutter": (0.01, 0.5), "shelf": (0.1, 1.8),
             "counter": (0.1, 1.8), "kitchen": (0.1, 1.8), "room": (0.1, 1.8)}  # fmt: skip
TARGETS = ("frustum", "full")


def _gt_in_frame(rec: Reconstruction, gt: GroundTruth) -> np.ndarray:
    """GT points expressed in the reconstruction's frame (world, or view 0's optical frame)."""
    if rec.frame == "reference":
        return transform_points(se3_inverse(gt.T_world_cam[0]), gt.points)
    return gt.points


def geometry_metrics(
    rec: Reconstruction,
    gt: GroundTruth,
    observed_world: np.ndarray,
    family: str,
    complete: bool = True,
) -> dict[str, float]:
    """All cloud metrics of one method on one window.

    With ``complete`` False (real data: the reference is a fusion of observed
    surfaces) hidden recall and the occupancy IoUs are not defined and left out.
    """
    gt_pts = _gt_in_frame(rec, gt)
    observed = observed_world
    if rec.frame == "reference":
        observed = transform_points(se3_inverse(gt.T_world_cam[0]), observed_world)
    centre = np.zeros(3) if rec.frame == "reference" else gt.T_world_cam[0][:3, 3]
    out: dict[str, float] = {}
    if len(rec) == 0:
        return {"fscore@1cm": 0.0, "fscore@2cm": 0.0, "fscore@5cm": 0.0}
    out.update(metrics.normalized_fscores(rec.points, gt_pts, centre))
    out.update(metrics.density_metrics(rec.points))
    if rec.scale_mode == "metric":
        out.update(metrics.metric_geometry(rec.points, gt_pts))
        if not complete:
            return out
        out.update(metrics.hidden_recall(rec.points, gt_pts, observed))
        for cm in (2, 5):
            out[f"voxel_iou@{cm}cm"] = metrics.voxel_iou(rec.points, gt_pts, cm / 100)
        if rec.frame != "reference":
            out["grid_iou"] = _grid_iou(rec.points, gt.points, family)
    return out


def _grid_iou(pred_world: np.ndarray, gt_world: np.ndarray, family: str, res: float = 0.02):
    z_min, z_max = GRID_BAND[family]
    lo, hi = gt_world.min(0), gt_world.max(0)
    bounds = (lo[0], lo[1], hi[0], hi[1])
    empty = np.zeros((0, 3), np.int64)
    grids = [
        grid_from_voxels(occupied_voxels(p, res), empty, res, (0, 0, 0), z_min, z_max, bounds)
        for p in (pred_world, gt_world)
    ]
    return metrics.grid_iou(grids[0].data, grids[1].data)


def pose_metrics(T_pred: Sequence[np.ndarray], gt: GroundTruth) -> dict[str, float]:
    """Pose metrics of one window (empty for a single view)."""
    if len(gt.T_world_cam) < 2:
        return {}
    out = metrics.pose_metrics(T_pred, gt.T_world_cam)
    if len(gt.T_world_cam) >= 3:
        out["ate"] = metrics.ate(T_pred, gt.T_world_cam)
    return out


def in_world(rec: Reconstruction, gt: GroundTruth) -> np.ndarray:
    """Return the reconstruction's points in the world frame.

    A reference-frame output (unposed) is placed by view 0's true pose.
    """
    if rec.frame == "reference":
        return transform_points(gt.T_world_cam[0], rec.points.astype(np.float64))
    return rec.points.astype(np.float64)


def region_cameras(window: Window, gt: GroundTruth) -> list[frustum.Camera]:
    """Return the window's views with their true poses and intrinsics (the region)."""
    return [frustum.region_camera(v.depth, K, T)
            for v, K, T in zip(window.views, gt.K, gt.T_world_cam, strict=True)]  # fmt: skip


def frustum_scores(
    rec: Reconstruction,
    gt: GroundTruth,
    cameras: Sequence[frustum.Camera],
    observed_world: np.ndarray,
    complete: bool,
    judge_frames=None,
) -> dict[str, float]:
    """Score one method on one window by the frustum protocol (+ density, normalised F)."""
    pred = in_world(rec, gt)
    if rec.scale_mode != "metric":  # normalised: NOVA3R's F-scores against the region target
        target = gt.points[frustum.in_region(gt.points, cameras)]
        inside = frustum.in_region(pred, cameras)
        out = metrics.normalized_fscores(pred, target, gt.T_world_cam[0][:3, 3])
        out["outside"] = float(1 - inside.mean()) if inside.size else 0.0
        return out
    taus = frustum.SYNTHETIC_THRESHOLDS_CM if complete else frustum.REAL_THRESHOLDS_CM
    out = frustum.frustum_metrics(pred, gt.points, cameras, observed_world, taus,
                                  None if complete else judge_frames)  # fmt: skip
    out.update(metrics.density_metrics(pred[frustum.in_region(pred, cameras)]))
    return out


def confidence_samples(
    rec: Reconstruction, gt: GroundTruth, cameras, judge_frames, tau: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of the judged, in-region completed points of ``rec``.

    ``correct``: within ``tau`` of the reference cut to the region.
    """
    pred = in_world(rec, gt)
    sel = ~rec.observed & frustum.in_region(pred, cameras)
    if judge_frames is not None:
        sel[sel] = frustum.judged(pred[sel], judge_frames)
    target = gt.points[frustum.in_region(gt.points, cameras)]
    d = metrics.nn_distances(pred[sel].astype(np.float64), target.astype(np.float64))
    return rec.confidence[sel].astype(np.float64), d < tau

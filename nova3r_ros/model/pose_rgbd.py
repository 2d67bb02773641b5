"""RGB-D windows: views the depth cannot place, placed from the images (ROS-free).

The depth refinement (:mod:`.pose_views`) rejects a view whose point-to-plane system is
singular: a view that sees mostly one plane (a table top, a floor, a wall) pins only
three of its six degrees of freedom, however well its depth fits. The images still pin
the rest: :func:`place_failed_views` runs the RGB refinement (:mod:`.pose_rgb`: the
plane homography aligned by ECC, else SIFT + essential matrix) with the plane and the
metric scale taken from view 0's measured depth, and gives each view the depth could not
place the pose the images found, relative to the view it was placed from, when that
view's pose is accepted. Views the depth placed keep their poses. A view placed this way
gets ``pose_ok_<i>`` 1 and the RGB confidence; ``views_placed_by_images`` counts them.

Frames: ``T_ref_cam`` camera-to-view-0, OpenCV optical frames, metres; images (V, H, W,
3) uint8 RGB registered to the depth; K (V, 3, 3) at the images' size.
"""

from __future__ import annotations

import numpy as np

from nova3r_ros.core.pointcloud import backproject_depth
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views

MAX_PLANE_POINTS = 20_000  # view 0's depth points given to the plane fit (subsampled)


def place_failed_views(
    T_ref_cam: np.ndarray,
    ok: np.ndarray,
    images: list[np.ndarray],
    depth0: np.ndarray,
    K: np.ndarray,
    config: RgbPoseConfig | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Place the views with ``ok`` False from the images (module docstring).

    Args:
        T_ref_cam: (V, 4, 4) poses after the depth refinement (the head's where failed).
        ok: (V,) bool, the depth refinement's acceptance (view 0 True).
        images: V HxWx3 uint8 RGB.
        depth0: (H, W) view 0's depth in metres (0 = invalid).
        K: (V, 3, 3) intrinsics.
        config: the RGB refinement's settings (defaults if None).

    Returns:
        ``(T_ref_cam, ok, stats)``: updated copies; ``stats`` holds
        ``views_placed_by_images`` and ``pose_confidence_<i>`` of the views placed.

    """
    T = np.array(T_ref_cam, np.float64, copy=True)
    ok = np.array(ok, bool, copy=True)
    stats: dict[str, float] = {"views_placed_by_images": 0.0}
    if ok.all():
        return T, ok, stats
    pts, _, _ = backproject_depth(np.asarray(depth0, np.float32), np.asarray(K[0], np.float64))
    if len(pts) > MAX_PLANE_POINTS:
        pick = np.random.default_rng(0).choice(len(pts), MAX_PLANE_POINTS, replace=False)
        pts = pts[pick]
    rgb = refine_rgb_views(T, images, np.asarray(K, np.float64), pts, config)
    placed = True
    while placed:  # a view placed from another view the images placed: in order of need
        placed = False
        for b in np.flatnonzero(~ok):
            a = int(rgb.anchor[b])
            if not rgb.ok[b] or a < 0 or not ok[a]:
                continue
            T_a_b = np.linalg.inv(rgb.T_ref_cam[a]) @ rgb.T_ref_cam[b]
            T[b], ok[b], placed = T[a] @ T_a_b, True, True
            stats["views_placed_by_images"] += 1
            stats[f"pose_confidence_{b}"] = float(rgb.confidence[b])
    return T, ok, stats

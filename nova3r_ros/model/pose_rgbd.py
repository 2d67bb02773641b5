"""RGB-D windows: views the depth cannot place, placed from the images (ROS-free).

The depth refinement (:mod:`.pose_views`) rejects a view whose point-to-plane system is
singular: a view that sees mostly one plane (a table top, a floor, a wall) pins only
three of its six degrees of freedom, however well its depth fits. The images still pin
the rest: :func:`place_failed_views` runs the RGB refinement (:mod:`.pose_rgb`: the
plane homography aligned by ECC, else SIFT + essential matrix) with the plane and the
metric scale taken from view 0's measured depth, and gives each view the depth could not
place the pose the images found, relative to the view it was placed from, when that
view's pose is accepted **and the view's depth agrees there**: at least
``min_inlier_share`` of its overlapping depth points lie within 5 cm of the anchor view's
surface at the image pose (the depth refinement's association, no step: a plane would
slide onto any plane). So a view the depth rejected for lack of constraint (a plane) is
placed; one whose depth disagrees with the others (something in front of the lens, a
moving object) stays rejected. Views the depth placed keep their poses. A view placed
this way gets ``pose_ok_<i>`` 1 and the RGB confidence; ``views_placed_by_images``
counts them.

Frames: ``T_ref_cam`` camera-to-view-0, OpenCV optical frames, metres; images (V, H, W,
3) uint8 RGB registered to the depth; K (V, 3, 3) at the images' size.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from nova3r_ros.core.pointcloud import backproject_depth
from nova3r_ros.model.pose_refine import RefineConfig
from nova3r_ros.model.pose_rgb import ECC_ONLY, RgbPoseConfig, refine_rgb_views
from nova3r_ros.model.pose_views import CHAIN, ViewPoses, align_links, strided_depth

#: The RGB refinement's settings here: the plane homography by ECC alone. The direct
#: alignment of RGB-only windows (:mod:`.pose_rgb_direct`) is for the model's decoded
#: geometry; with view 0's measured depth as the plane it placed the views of a synthetic
#: handheld 2-camera bag worse (ATE 1.43 against 0.70 cm, session 19).
RGBD_PLACEMENT = ECC_ONLY
MAX_PLANE_POINTS = 20_000  # view 0's depth points given to the plane fit (subsampled)
#: The depth check at the image pose: no ICP step (a plane would slide onto any plane),
#: inliers within 5 cm at stride 4 of the refinement's depth (about REFINE_WIDTH px wide).
CHECK = RefineConfig(strides=(4,), max_dist=(0.05,), iterations=(0,))


def depth_agreement(d: torch.Tensor, Kf: torch.Tensor, b: int, a: int, T_a_b) -> float:
    """Return the share of view b's depth points on view a's surface at pose ``T_a_b``.

    ``d``, ``Kf``: the refinement's depth and intrinsics (:func:`.pose_views.strided_depth`).
    The depth refinement's association (:data:`CHECK`, no step: evaluated at ``T_a_b``, 4x4
    camera b to camera a); 0 without overlap.
    """
    ((_, st),) = align_links(d, Kf, [(b, a, np.asarray(T_a_b, np.float64))], CHECK)
    return float(st["hypotheses"][0].get("inlier_share", 0.0))


def place_failed_views(
    poses: ViewPoses,
    images: list[np.ndarray],
    depth: torch.Tensor,
    K: torch.Tensor,
    config: RgbPoseConfig | None = None,
) -> tuple[ViewPoses, int]:
    """Place the views the depth refinement did not accept from the images (module doc).

    Args:
        poses: the depth refinement's result (:func:`.pose_views.refine_views`).
        images: V HxWx3 uint8 RGB.
        depth: (V, H, W) metres (0 = invalid), torch on the model's device.
        K: (V, 3, 3) intrinsics, torch on the same device.
        config: the RGB refinement's settings (:data:`RGBD_PLACEMENT` if None).

    Returns:
        ``(poses, placed)``: a copy with the placed views' pose, ``ok`` and confidence (the
        RGB refinement's) set, and how many views were placed.

    """
    if poses.ok.all():
        return poses, 0
    T = np.array(poses.T_ref_cam, np.float64, copy=True)
    ok = np.array(poses.ok, bool, copy=True)
    conf = np.array(poses.confidence, np.float64, copy=True)
    K_np = K.detach().cpu().numpy().astype(np.float64)
    depth0 = depth[0].detach().cpu().numpy().astype(np.float32)
    pts, _, _ = backproject_depth(depth0, K_np[0])
    if len(pts) > MAX_PLANE_POINTS:
        pick = np.random.default_rng(0).choice(len(pts), MAX_PLANE_POINTS, replace=False)
        pts = pts[pick]
    rgb = refine_rgb_views(T, images, K_np, pts, config or RGBD_PLACEMENT)
    d, Kf = strided_depth(depth, K)
    rejected: set[int] = set()
    placed = 0
    progress = True
    while progress:  # a view placed from another view the images placed: in order of need
        progress = False
        for b in np.flatnonzero(~ok):
            a = int(rgb.anchor[b])
            if not rgb.ok[b] or a < 0 or not ok[a] or b in rejected:
                continue
            T_a_b = np.linalg.inv(rgb.T_ref_cam[a]) @ rgb.T_ref_cam[b]
            if not depth_agreement(d, Kf, int(b), a, T_a_b) >= CHAIN.min_inlier_share:
                rejected.add(int(b))  # its depth disagrees: blocked, moving, wrong
                continue
            T[b], ok[b], conf[b], progress = T[a] @ T_a_b, True, rgb.confidence[b], True
            placed += 1
    return replace(poses, T_ref_cam=T, ok=ok, confidence=conf), placed

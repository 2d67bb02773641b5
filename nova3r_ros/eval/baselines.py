"""Baselines run beside the model on the same windows (DESIGN.md, Baselines).

- ``oracle_raw`` / ``oracle_merged``: input depth back-projected with the true
  poses (every pixel, or merged per voxel). Perfect where visible, empty where
  occluded: the thing an amodal model must beat.
- ``tsdf``: Open3D TSDF fusion (UniformTSDFVolume) of the same depth and poses.
- ``classical_poses``: camera poses from the images alone: SIFT matches, the
  essential matrix and cheirality check against view 0 (OpenCV); translation
  is up to scale (directions only), which RRA/RTA/AUC measure.
- ``odometry_poses``: Open3D RGB-D odometry (hybrid photometric + geometric
  term) of every view against view 0, from the identity.

All poses are 4x4 camera-to-world (or camera-to-reference), OpenCV optical frames.
"""

from __future__ import annotations

import numpy as np

from nova3r_ros.core.types import GroundTruth, Reconstruction, View, Window
from nova3r_ros.pipeline import DepthBackendConfig, reconstruct_depth


def with_true_poses(window: Window, gt: GroundTruth) -> Window:
    """Return a copy of ``window`` whose views carry the true poses and intrinsics."""
    views = [
        View(v.image, v.depth, K, T, v.stamp, v.frame_id, v.camera)
        for v, T, K in zip(window.views, gt.T_world_cam, gt.K, strict=True)
    ]
    return Window(views)


def oracle_raw(window: Window, gt: GroundTruth) -> Reconstruction:
    """Pixel-aligned oracle: every valid depth pixel back-projected with the true pose."""
    return reconstruct_depth(with_true_poses(window, gt), DepthBackendConfig())


def oracle_merged(window: Window, gt: GroundTruth, voxel_size: float = 0.005) -> Reconstruction:
    """Pixel-aligned oracle merged per ``voxel_size`` voxel (no duplicated layers)."""
    return reconstruct_depth(with_true_poses(window, gt), DepthBackendConfig(voxel_size))


def tsdf(
    window: Window, gt: GroundTruth, voxel_size: float = 0.005, trunc_voxels: float = 4.0
) -> Reconstruction:
    """TSDF fusion (Open3D UniformTSDFVolume) with the true poses; points of the zero set."""
    import open3d as o3d

    posed = with_true_poses(window, gt)
    oracle = reconstruct_depth(posed, DepthBackendConfig(stride=4))
    if len(oracle) == 0:
        return _empty(posed)
    lo = oracle.points.min(0) - 4 * voxel_size * trunc_voxels
    extent = float((oracle.points.max(0) + 4 * voxel_size * trunc_voxels - lo).max())
    resolution = int(min(512, np.ceil(extent / voxel_size)))
    volume = o3d.pipelines.integration.UniformTSDFVolume(
        length=extent,
        resolution=resolution,
        sdf_trunc=trunc_voxels * extent / resolution,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8,
        origin=lo.astype(np.float64).reshape(3, 1),
    )
    for v in posed.views:
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(v.image)),
            o3d.geometry.Image(np.ascontiguousarray(v.depth)),
            depth_scale=1.0,
            depth_trunc=float(v.depth.max()) + 1.0,
            convert_rgb_to_intensity=False,
        )
        intr = o3d.camera.PinholeCameraIntrinsic(
            v.width, v.height, v.K[0, 0], v.K[1, 1], v.K[0, 2], v.K[1, 2]
        )
        volume.integrate(rgbd, intr, np.linalg.inv(v.T_world_cam))
    cloud = volume.extract_point_cloud()
    points = np.asarray(cloud.points, dtype=np.float32)
    colors = np.clip(np.asarray(cloud.colors) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    n = points.shape[0]
    return Reconstruction(
        points, colors, np.ones(n, bool), np.ones(n, np.float32),
        [v.T_world_cam for v in posed.views], [v.K for v in posed.views], "metric", "world",
    )  # fmt: skip


def _empty(window: Window) -> Reconstruction:
    return Reconstruction(
        np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0),
        [v.T_world_cam for v in window.views], [v.K for v in window.views], "metric", "world",
    )  # fmt: skip


def classical_poses(window: Window, Ks: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Camera-to-reference poses from images alone (SIFT, essential matrix, PnP).

    View 0 and the view with the most matches to it give the essential matrix
    (RANSAC + cheirality); their inlier matches are triangulated into points in
    view 0's frame at an arbitrary scale (that pair's baseline = 1); every other
    view is registered to those points by PnP-RANSAC, so all views share one
    scale. Translation is therefore up to one global scale, which RRA, RTA and
    AUC ignore.

    Args:
        window: the views (images used; depth and poses ignored).
        Ks: intrinsics per view (default: the views' K).

    Returns:
        4x4 ``T_ref_cam`` per view. A view that cannot be registered gets identity
        (counted as a failure by the pose metrics, never dropped).

    """
    import cv2

    Ks = [np.asarray(K, np.float64) for K in (Ks or [v.K for v in window.views])]
    sift = cv2.SIFT_create(nfeatures=4000)
    feats = [sift.detectAndCompute(cv2.cvtColor(v.image, cv2.COLOR_RGB2GRAY), None)
             for v in window.views]  # fmt: skip
    poses = [np.eye(4) for _ in window.views]
    if len(window) < 2 or feats[0][1] is None:
        return poses
    matches = {i: _match(feats[0], feats[i]) for i in range(1, len(window))}
    # Triangulate from the pair with the most parallax among well-matched views: a short
    # baseline gives ill-conditioned points and poor PnP for every other view.
    most = max(len(v) for v in matches.values())

    def parallax(i: int) -> float:
        if len(matches[i]) < max(8, most // 3):
            return -1.0
        d = _pixels(feats[0][0], matches[i], 0) - _pixels(feats[i][0], matches[i], 1)
        return float(np.median(np.linalg.norm(d, axis=1)))

    partner = max(matches, key=parallax)
    m = matches[partner]
    if len(m) < 8:
        return poses
    p0, p1 = _pixels(feats[0][0], m, 0), _pixels(feats[partner][0], m, 1)
    n0, n1 = _normalise(p0, Ks[0]), _normalise(p1, Ks[partner])
    E, mask = cv2.findEssentialMat(n0, n1, np.eye(3), cv2.RANSAC, 0.999, 1e-3)
    if E is None or E.shape != (3, 3):
        return poses
    _, R, t, mask = cv2.recoverPose(E, n0, n1, np.eye(3), mask=mask)
    T_cam_ref = np.eye(4)
    T_cam_ref[:3, :3], T_cam_ref[:3, 3] = R, t.ravel()
    poses[partner] = np.linalg.inv(T_cam_ref)
    good = mask.ravel() > 0
    X = cv2.triangulatePoints(np.eye(3, 4), T_cam_ref[:3], n0[good].T, n1[good].T)
    X = (X[:3] / X[3]).T  # points in view 0's frame
    ok = np.isfinite(X).all(1) & (X[:, 2] > 0)
    landmarks = dict(zip(np.asarray([q for q, _ in m])[good][ok].tolist(), X[ok], strict=True))
    for i in matches:
        if i != partner:
            poses[i] = _register_pnp(matches[i], feats[i][0], landmarks, Ks[i])
    return poses


def _match(f0, f1) -> list[tuple[int, int]]:
    """Ratio-test SIFT matches as (index in f0, index in f1) pairs."""
    import cv2

    if f0[1] is None or f1[1] is None or len(f0[0]) < 2 or len(f1[0]) < 2:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(f0[1], f1[1], k=2)
    return [(a.queryIdx, a.trainIdx) for a, *b in pairs if b and a.distance < 0.8 * b[0].distance]


def _pixels(keypoints, matches, side: int) -> np.ndarray:
    return np.float64([keypoints[m[side]].pt for m in matches])


def _normalise(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    h = np.column_stack([pixels, np.ones(len(pixels))])
    return (h @ np.linalg.inv(K).T)[:, :2]


def _register_pnp(matches, keypoints, landmarks: dict, K: np.ndarray) -> np.ndarray:
    """Return T_ref_cam from 2D-3D correspondences, identity when PnP fails."""
    import cv2

    pairs = [(landmarks[q], keypoints[t].pt) for q, t in matches if q in landmarks]
    if len(pairs) < 6:
        return np.eye(4)
    obj = np.float64([p for p, _ in pairs])
    img = np.float64([u for _, u in pairs])
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(obj, img, K, None, reprojectionError=3.0)
    if not ok or inliers is None or len(inliers) < 6:
        return np.eye(4)
    T_cam_ref = np.eye(4)
    T_cam_ref[:3, :3], T_cam_ref[:3, 3] = cv2.Rodrigues(rvec)[0], tvec.ravel()
    return np.linalg.inv(T_cam_ref)


def odometry_poses(window: Window, Ks: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Camera-to-reference poses by Open3D RGB-D odometry of each view against view 0.

    Needs depth on every view. A view whose odometry fails gets the identity (counted
    as a failure by the pose metrics, never dropped).
    """
    import open3d as o3d

    Ks = [np.asarray(K, np.float64) for K in (Ks or [v.K for v in window.views])]

    def rgbd(view):
        return o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(view.image)),
            o3d.geometry.Image(np.ascontiguousarray(view.depth.astype(np.float32))),
            depth_scale=1.0, depth_trunc=4.0, convert_rgb_to_intensity=True,
        )  # fmt: skip

    ref = rgbd(window.views[0])
    poses = [np.eye(4)]
    option = o3d.pipelines.odometry.OdometryOption()
    jacobian = o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm()
    for view, K in zip(window.views[1:], Ks[1:], strict=True):
        intr = o3d.camera.PinholeCameraIntrinsic(view.width, view.height, K[0, 0], K[1, 1],
                                                 K[0, 2], K[1, 2])  # fmt: skip
        ok, T, _ = o3d.pipelines.odometry.compute_rgbd_odometry(
            rgbd(view), ref, intr, np.eye(4), jacobian, option
        )
        poses.append(np.asarray(T, np.float64) if ok else np.eye(4))
    return poses

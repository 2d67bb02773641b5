"""``colmap`` pose baseline: pycolmap structure-from-motion on a window's images.

The window's RGB images are written as PNG files into a temporary directory, each
with its own PINHOLE camera of the known intrinsics (kept fixed), SIFT features are
extracted and matched exhaustively and COLMAP's incremental mapper runs on them.
The largest reconstruction gives every registered view's pose relative to view 0
(camera-to-view-0, OpenCV optical frame). With depth on view 0 the translation is
scaled to metres by the median ratio of view 0's depth to the depth of the
reconstruction's points projected into it; without depth the SfM scale is kept (the
eval aligns Sim(3)). A view that is not registered, or every view when view 0 is
not, gets the identity (counted as a failure by the pose metrics, never dropped),
as :func:`nova3r_ros.eval.baselines.classical_poses` does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nova3r_ros.core.types import Window

THREADS = 2


@dataclass
class ColmapPoses:
    """Camera-to-view-0 poses (4x4) and which views COLMAP registered."""

    T_ref_cam: list[np.ndarray]
    registered: list[bool]
    scale: float = float("nan")  # metres per SfM unit (NaN without depth)


def colmap_poses(window: Window, Ks: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Return camera-to-view-0 poses by pycolmap SfM (identity for unregistered views)."""
    return colmap_reconstruct(window, Ks).T_ref_cam


def colmap_reconstruct(window: Window, Ks: list[np.ndarray] | None = None) -> ColmapPoses:
    """Run pycolmap SfM on the window's images; never raises on a failed reconstruction."""
    n = len(window.views)
    Ks = [np.asarray(K, np.float64) for K in (Ks or [v.K for v in window.views])]
    failed = ColmapPoses([np.eye(4) for _ in range(n)], [False] * n)
    if n < 2:
        return ColmapPoses([np.eye(4)], [True])
    with tempfile.TemporaryDirectory(prefix="nova3r_colmap_") as tmp:
        try:
            recon = _largest_reconstruction(window, Ks, Path(tmp))
        except Exception:  # a failed SfM is a failed baseline, not a crash
            return failed
    if recon is None:
        return failed
    cam_from_world = {}
    for image in recon.images.values():
        if image.has_pose:
            cam_from_world[int(image.name.split(".")[0])] = _matrix(image.cam_from_world())
    if 0 not in cam_from_world:
        return failed
    cam0_from_world = cam_from_world[0]
    scale = float("nan")
    depth0 = window.views[0].depth
    if depth0 is not None:
        scale = _depth_scale(recon, cam0_from_world, Ks[0], np.asarray(depth0, np.float64))
    poses, registered = [], []
    for i in range(n):
        if i not in cam_from_world:
            poses.append(np.eye(4))
            registered.append(False)
            continue
        T = cam0_from_world @ np.linalg.inv(cam_from_world[i])
        if np.isfinite(scale):
            T[:3, 3] *= scale
        poses.append(T)
        registered.append(True)
    return ColmapPoses(poses, registered, scale)


def _matrix(rigid) -> np.ndarray:
    T = np.eye(4)
    T[:3] = np.asarray(rigid.matrix(), np.float64)
    return T


def _largest_reconstruction(window: Window, Ks: list[np.ndarray], tmp: Path):
    """Write the images, extract, match and map; return the largest reconstruction."""
    import cv2
    import pycolmap

    pycolmap.logging.minloglevel = 3  # quiet: a failed model is reported by the return value
    pycolmap.logging.logtostderr = False
    images = tmp / "images"
    images.mkdir()
    database = tmp / "database.db"
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = THREADS
    for i, (view, K) in enumerate(zip(window.views, Ks, strict=True)):
        name = f"{i:03d}.png"
        rgb = np.ascontiguousarray(np.asarray(view.image, np.uint8)[..., :3])
        cv2.imwrite(str(images / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "PINHOLE"
        reader.camera_params = ",".join(f"{p:.6f}" for p in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
        pycolmap.extract_features(database, images, image_names=[name],
                                  camera_mode=pycolmap.CameraMode.PER_IMAGE,
                                  reader_options=reader, extraction_options=extraction,
                                  device=pycolmap.Device.cpu)  # fmt: skip
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = THREADS
    verification = pycolmap.TwoViewGeometryOptions()
    # Frames a few centimetres apart look like pure rotation to the homography test;
    # with known intrinsics the essential matrix still holds, so never call it panoramic.
    verification.max_H_inlier_ratio = 1.0
    pycolmap.match_exhaustive(database, matching_options=matching,
                              verification_options=verification,
                              device=pycolmap.Device.cpu)  # fmt: skip
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = THREADS
    options.random_seed = 0
    options.min_model_size = 2
    options.min_num_matches = 15
    options.ba_refine_focal_length = False
    options.ba_refine_principal_point = False
    options.ba_refine_extra_params = False
    options.mapper.abs_pose_refine_focal_length = False
    options.mapper.abs_pose_refine_extra_params = False
    options.mapper.init_min_tri_angle = 4.0  # nearby frames of a window have little parallax
    options.mapper.init_min_num_inliers = 30
    options.mapper.num_threads = THREADS
    options.extract_colors = False
    recons = pycolmap.incremental_mapping(database, images, tmp / "sparse", options)
    if not recons:  # a short baseline: retry with almost no triangulation-angle floor
        options.mapper.init_min_tri_angle = 0.5
        options.mapper.filter_min_tri_angle = 0.1
        options.triangulation.min_angle = 0.1
        options.triangulation.ignore_two_view_tracks = False
        recons = pycolmap.incremental_mapping(database, images, tmp / "retry", options)
    if not recons:
        return None
    return max(recons.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))


def _depth_scale(recon, cam0_from_world: np.ndarray, K: np.ndarray, depth: np.ndarray) -> float:
    """Median of view 0's depth over the SfM depth of the points projected into view 0."""
    if not recon.points3D:
        return float("nan")
    X = np.array([p.xyz for p in recon.points3D.values()], np.float64)
    X0 = X @ cam0_from_world[:3, :3].T + cam0_from_world[:3, 3]
    z = X0[:, 2]
    front = z > 1e-9
    X0, z = X0[front], z[front]
    u = np.round(K[0, 0] * X0[:, 0] / z + K[0, 2]).astype(np.int64)
    v = np.round(K[1, 1] * X0[:, 1] / z + K[1, 2]).astype(np.int64)
    h, w = depth.shape[:2]
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = depth[v[inside], u[inside]]
    ok = np.isfinite(d) & (d > 0)
    if ok.sum() < 3:
        return float("nan")
    return float(np.median(d[ok] / z[inside][ok]))

"""The dominant support plane (floor, table, counter) of a point set, by RANSAC.

Shared by the node's world anchoring (:mod:`nova3r_ros.ros.world`) and the model's levelled
frame (:mod:`nova3r_ros.model.gravity`). NumPy only.
"""

from __future__ import annotations

import numpy as np

MAX_PLANE_TILT_DEG = 50.0  # support plane normals within this of camera 0's "up"
RANSAC_ITERATIONS = 256
RANSAC_SAMPLE = 4000


def fit_support_plane(
    points: np.ndarray,
    up_hint: np.ndarray,
    threshold: float,
    seed: int = 0,
) -> tuple[np.ndarray, float, int] | None:
    """Find the plane with most inliers among those facing ``up_hint`` (RANSAC + SVD refit).

    Args:
        points: (N, 3) points in any frame.
        up_hint: (3,) rough "up" in that frame (e.g. minus camera 0's y axis).
        threshold: inlier distance, in the points' unit.
        seed: RNG seed (deterministic result).

    Returns:
        (unit normal n (3,) with n . up_hint > 0, offset d with n . p + d = 0 on the
        plane, inlier count), or None with fewer than 3 points or no plane within
        ``MAX_PLANE_TILT_DEG`` of ``up_hint``.

    """
    pts = np.asarray(points, np.float64)
    if pts.shape[0] < 3:
        return None
    up = np.asarray(up_hint, np.float64) / np.linalg.norm(up_hint)
    rng = np.random.default_rng(seed)
    sample = pts[rng.choice(pts.shape[0], min(RANSAC_SAMPLE, pts.shape[0]), replace=False)]
    tri = sample[rng.integers(0, sample.shape[0], (RANSAC_ITERATIONS, 3))]  # (I, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-12
    n[ok] /= norm[ok, None]
    n *= np.where(n @ up < 0, -1.0, 1.0)[:, None]
    ok &= n @ up >= np.cos(np.radians(MAX_PLANE_TILT_DEG))
    if not np.any(ok):
        return None
    n, p0 = n[ok], tri[ok, 0]
    d = -np.sum(n * p0, axis=1)
    counts = (np.abs(sample @ n.T + d) <= threshold).sum(axis=0)
    best = int(np.argmax(counts))
    inliers = pts[np.abs(pts @ n[best] + d[best]) <= threshold]
    if inliers.shape[0] < 3:
        return None
    centre = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centre, full_matrices=False)[2][2]
    if normal @ up < 0:
        normal = -normal
    return normal, float(-normal @ centre), int(inliers.shape[0])

"""Point-cloud building blocks: depth back-projection, voxel averaging, filters (numpy/scipy).

Frames: depth images are in the camera optical frame (OpenCV: x right, y down,
z forward); pixel (u, v) has its centre at integer coordinates (u = column,
v = row), matching :mod:`nova3r_ros.core.camera`. ``T_world_cam`` (4x4) maps
camera points into the world frame. Every other function here is frame-agnostic:
its outputs are in the frame of its inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from nova3r_ros.core.checks import as_points, positive
from nova3r_ros.core.transforms import transform_points


def backproject_depth(
    depth: np.ndarray,
    K: np.ndarray,
    T_world_cam: np.ndarray | None = None,
    stride: int = 1,
    rgb: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Lift a depth image to 3D points.

    Args:
        depth: (H, W) float depth in metres along the optical axis (z); values that
            are 0, negative, NaN or inf are invalid and skipped.
        K: 3x3 pinhole intrinsics (fx, fy > 0; skew allowed).
        T_world_cam: optional 4x4 camera-to-world; None keeps camera-frame points.
        stride: sample every ``stride``-th row and column (>= 1), starting at 0.
        rgb: optional (H, W, 3) uint8 image registered to ``depth``.

    Returns:
        points: (N, 3) float32, world frame (camera optical frame if T is None).
        colors: (N, 3) uint8 from ``rgb``, or None without ``rgb``.
        pixels: (N,) int64 flat indices ``v * W + u`` into the full-resolution image.

    """
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"depth must be a non-empty (H, W) image, got shape {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(
            f"depth must be float metres, got {depth.dtype} (convert e.g. uint16 mm first)"
        )
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must be a finite 3x3 with fx, fy > 0, got {K.tolist()}")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride}")
    stride = int(stride)
    H, W = depth.shape
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != (H, W, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8 ({H}, {W}, 3), got {rgb.dtype} {rgb.shape}")
    vs, us = np.arange(0, H, stride), np.arange(0, W, stride)
    z = depth[::stride, ::stride].astype(np.float64)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(z) & (z > 0)
    vv, uu = np.nonzero(valid)  # indices into the strided grid
    v, u, z = vs[vv], us[uu], z[vv, uu]
    fx, fy, cx, cy, skew = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    yn = (v - cy) / fy
    xn = (u - cx - skew * yn) / fx
    pts = np.stack([xn * z, yn * z, z], axis=1)  # (N, 3) camera optical frame
    if T_world_cam is not None:
        pts = transform_points(T_world_cam, pts)
    colors = rgb[v, u] if rgb is not None else None
    return pts.astype(np.float32), colors, (v * W + u).astype(np.int64)


def _empty_rows(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.asarray(a)[:0].copy()


def _voxel_inverse(points: np.ndarray, voxel_size: float) -> tuple[np.ndarray, int]:
    """Return (inverse (N,) int64 voxel id per point, number of voxels) for an (N, 3) cloud."""
    key = np.floor(points.astype(np.float64) / voxel_size).astype(np.int64)
    key -= key.min(axis=0)
    dims = key.max(axis=0) + 1
    if float(dims[0]) * float(dims[1]) * float(dims[2]) < 2.0**62:
        flat = (key[:, 0] * dims[1] + key[:, 1]) * dims[2] + key[:, 2]
        _, inv = np.unique(flat, return_inverse=True)
    else:  # huge extent: unique rows (slower)
        _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    return inv, int(inv.max()) + 1


def _mean_per_voxel(values: np.ndarray, inv: np.ndarray, n: int, counts: np.ndarray):
    """Average (N, C) ``values`` per voxel id; returns (n, C) in ``values``' dtype."""
    flat = values.reshape(values.shape[0], -1).astype(np.float64)
    out = np.stack([np.bincount(inv, weights=c, minlength=n) for c in flat.T], axis=1)
    out /= counts[:, None]
    if np.issubdtype(values.dtype, np.integer):
        info = np.iinfo(values.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    elif values.dtype == bool:
        out = out >= 0.5
    return out.astype(values.dtype).reshape((n, *values.shape[1:]))


def voxel_downsample(
    points: np.ndarray,
    voxel_size: float,
    colors: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Average all points (and their attributes) falling into each cubic voxel.

    Voxels are ``floor(p / voxel_size)`` on a grid anchored at the frame origin.

    Args:
        points: (N, 3) float points, any frame.
        voxel_size: voxel edge in the points' unit (> 0).
        colors: optional (N, 3) uint8; averaged and rounded.
        extra: optional (N,) or (N, C) per-point values; averaged (integers rounded,
            bools by majority).

    Returns:
        (points (M, 3), colors (M, 3) or None, extra (M, ...) or None), each in its
        input dtype, one row per occupied voxel, ordered by voxel index (x, y, z).

    """
    points = as_points(points)
    voxel_size = positive(voxel_size, "voxel_size")
    n_pts = points.shape[0]
    for name, a in (("colors", colors), ("extra", extra)):
        if a is not None and np.shape(a)[:1] != (n_pts,):
            raise ValueError(f"{name} must have {n_pts} rows like points, got {np.shape(a)}")
    if colors is not None and np.shape(colors)[1:] != (3,):
        raise ValueError(f"colors must have shape (N, 3), got {np.shape(colors)}")
    if n_pts == 0:
        return points.copy(), _empty_rows(colors), _empty_rows(extra)
    inv, n = _voxel_inverse(points, voxel_size)
    counts = np.bincount(inv, minlength=n).astype(np.float64)
    out_pts = _mean_per_voxel(points, inv, n, counts)
    out_col = None if colors is None else _mean_per_voxel(np.asarray(colors), inv, n, counts)
    out_ext = None if extra is None else _mean_per_voxel(np.asarray(extra), inv, n, counts)
    return out_pts, out_col, out_ext


def merge_clouds(
    clouds: Sequence[tuple[np.ndarray, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Concatenate ``[(points (Ni, 3), colors (Ni, 3) uint8 or None), ...]`` (same frame).

    Returns (points (sum Ni, 3) float32, colors (sum Ni, 3) uint8 or None). Colors
    must be given for all clouds or for none.
    """
    if len(clouds) == 0:
        return np.zeros((0, 3), np.float32), None
    has = [c is not None for _, c in clouds]
    if any(has) and not all(has):
        raise ValueError("merge_clouds: colors given for some clouds but not all")
    pts = [as_points(p, f"clouds[{i}] points") for i, (p, _) in enumerate(clouds)]
    points = np.concatenate(pts).astype(np.float32, copy=False)
    if not all(has):
        return points, None
    cols = []
    for i, ((_, c), p) in enumerate(zip(clouds, pts, strict=True)):
        c = np.asarray(c)
        if c.shape != p.shape or c.dtype != np.uint8:
            raise ValueError(
                f"clouds[{i}] colors must be uint8 {p.shape}, got {c.dtype} {c.shape}"
            )
        cols.append(c)
    return points, np.concatenate(cols)


def statistical_outlier_removal(
    points: np.ndarray, k: int = 16, std_ratio: float = 2.0
) -> np.ndarray:
    """Return a keep mask (N,) bool: False where the mean k-NN distance is unusually large.

    A point is kept if its mean k-NN distance (self excluded) is at most
    ``mean + std_ratio * std`` of that quantity over the cloud (Open3D semantics).
    With fewer than 2 points everything is kept; ``k`` is capped at N - 1.
    """
    points = as_points(points)
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k}")
    std_ratio = positive(std_ratio, "std_ratio")
    n = points.shape[0]
    if n < 2:
        return np.ones(n, dtype=bool)
    k = min(int(k), n - 1)
    d, _ = cKDTree(points).query(points, k=k + 1, workers=-1)  # column 0: the point itself
    mean_d = d[:, 1:].mean(axis=1)
    return mean_d <= mean_d.mean() + std_ratio * mean_d.std()


def radius_outlier_removal(points: np.ndarray, radius: float, min_neighbors: int) -> np.ndarray:
    """Return a keep mask (N,) bool: True where >= ``min_neighbors`` others lie within ``radius``.

    The point itself is not counted; distances are Euclidean in the points' unit.
    """
    points = as_points(points)
    radius = positive(radius, "radius")
    if int(min_neighbors) != min_neighbors or min_neighbors < 0:
        raise ValueError(f"min_neighbors must be an integer >= 0, got {min_neighbors}")
    if points.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    counts = cKDTree(points).query_ball_point(points, r=radius, return_length=True, workers=-1)
    return (np.asarray(counts) - 1) >= int(min_neighbors)


def crop_box(points: np.ndarray, lo: Sequence[float], hi: Sequence[float]) -> np.ndarray:
    """Return a keep mask (N,) bool: True where ``lo <= p <= hi`` on every axis (points' frame)."""
    points = as_points(points)
    lo_a, hi_a = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if lo_a.shape != (3,) or hi_a.shape != (3,) or np.any(np.isnan(lo_a) | np.isnan(hi_a)):
        raise ValueError(f"lo and hi must be 3-vectors (inf allowed), got {lo!r} and {hi!r}")
    if np.any(lo_a > hi_a):
        raise ValueError(f"crop box needs lo <= hi on every axis, got lo={lo!r} hi={hi!r}")
    return np.all((points >= lo_a) & (points <= hi_a), axis=1)

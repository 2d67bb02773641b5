"""The map of the views accepted so far: a voxel grid of world points and normals.

:func:`view_surface` back-projects a depth image into world points with normals;
:class:`SurfaceMap` fuses them per voxel (sums of points and normals, the most recently
seen voxels kept) and aligns new points to itself by point-to-plane ICP
(:meth:`SurfaceMap.align`), returning how well they agree (:class:`MapCheck`).

Frames: world (metres), OpenCV optical camera frames; ``T_a_b`` maps points in frame b
into frame a (4x4 float64). ROS-free: numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from nova3r_ros.core.transforms import project_to_so3

SURFACE_WIDTH = 160  # px: depth is strided to about this width for the map and its checks


def view_surface(
    depth: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray, width: int = SURFACE_WIDTH
) -> tuple[np.ndarray, np.ndarray]:
    """Back-project a depth image into world points with normals (both (N, 3) float64).

    Args:
        depth: (H, W) metres, 0 or non-finite where invalid.
        K: 3x3 intrinsics at (H, W).
        T_world_cam: 4x4 camera-to-world pose.
        width: the depth is strided to about this many pixels wide.

    Normals come from the neighbouring pixels' cross product, point toward the camera;
    pixels at a depth jump (neighbours more than 5 % of the depth apart) are dropped.

    """
    f = max(1, depth.shape[1] // width)
    d = np.nan_to_num(np.asarray(depth, np.float64)[::f, ::f], nan=0.0, posinf=0.0)
    h, w = d.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64) * f
    P = np.stack([(u - K[0, 2]) / K[0, 0] * d, (v - K[1, 2]) / K[1, 1] * d, d], axis=-1)
    if h < 3 or w < 3:
        return np.zeros((0, 3)), np.zeros((0, 3))
    c = P[1:-1, 1:-1]
    dx, dy = P[1:-1, 2:] - P[1:-1, :-2], P[2:, 1:-1] - P[:-2, 1:-1]
    n = np.cross(dx, dy)
    z = d[1:-1, 1:-1]
    around = np.stack([d[1:-1, 2:], d[1:-1, :-2], d[2:, 1:-1], d[:-2, 1:-1]])
    ok = (z > 0) & np.all(around > 0, axis=0) & np.all(np.abs(around - z) < 0.05 * z, axis=0)
    norm = np.linalg.norm(n, axis=-1)
    ok &= norm > 0
    c, n = c[ok], n[ok] / norm[ok, None]
    n *= np.where(np.sum(n * c, axis=1) > 0, -1.0, 1.0)[:, None]
    R, t = T_world_cam[:3, :3], T_world_cam[:3, 3]
    return c @ R.T + t, n @ R.T


def _exp_se3(x: np.ndarray) -> np.ndarray:
    """4x4 of a small twist ``x`` = (omega (3), t (3)): rotation by Rodrigues, then t."""
    T = np.eye(4)
    a = float(np.linalg.norm(x[:3]))
    if a > 1e-12:
        k = x[:3] / a
        Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        T[:3, :3] = np.eye(3) + np.sin(a) * Kx + (1 - np.cos(a)) * Kx @ Kx
    T[:3, 3] = x[3:]
    return T


@dataclass
class MapCheck:
    """Agreement of points with the map at a pose (the result of :meth:`SurfaceMap.align`).

    ``T``: 4x4 world correction (applied to the points' placement); ``overlap``: share of
    the points within ``near`` of the map; ``agreement``: share of those within the last
    gate of its surface; ``rmse`` (m) of those; ``constraint``: smallest eigenvalue of
    their normals' mean ``n n^T``.
    """

    T: np.ndarray
    overlap: float
    agreement: float
    rmse: float
    constraint: float


class SurfaceMap:
    """Voxel grid of world points and normals (sums per voxel), with a KD-tree of centres."""

    def __init__(self, voxel: float, max_points: int) -> None:
        self.voxel, self.max_points = float(voxel), int(max_points)
        self.clear()

    def clear(self) -> None:
        """Forget every point."""
        self._keys = np.zeros(0, np.int64)
        self._psum = np.zeros((0, 3))
        self._nsum = np.zeros((0, 3))
        self._count = np.zeros(0)
        self._seen = np.zeros(0, np.int64)
        self._adds = 0
        self._tree = None

    def __len__(self) -> int:
        return int(self._keys.size)

    def add(self, points: np.ndarray, normals: np.ndarray) -> None:
        """Fuse (N, 3) world points and their unit normals into the grid."""
        if len(points) == 0:
            return
        self._adds += 1
        k = np.floor(points / self.voxel).astype(np.int64) + (1 << 20)
        keys = k[:, 0] | (k[:, 1] << 21) | (k[:, 2] << 42)
        allk = np.concatenate([self._keys, keys])
        uniq, inv = np.unique(allk, return_inverse=True)
        m = uniq.size

        def fold(old, new):
            both = np.concatenate([old, new])
            return np.stack([np.bincount(inv, both[:, j], m) for j in range(3)], axis=1)

        self._psum, self._nsum = fold(self._psum, points), fold(self._nsum, normals)
        self._count = np.bincount(inv, np.concatenate([self._count, np.ones(len(keys))]), m)
        seen = np.zeros(m, np.int64)
        np.maximum.at(seen, inv, np.concatenate([self._seen, np.full(len(keys), self._adds)]))
        self._keys, self._seen = uniq, seen
        if m > self.max_points:  # keep the most recently seen voxels
            keep = np.sort(np.argsort(-seen, kind="stable")[: self.max_points])
            for name in ("_keys", "_psum", "_nsum", "_count", "_seen"):
                setattr(self, name, getattr(self, name)[keep])
        self._tree = None

    def _arrays(self):
        if self._tree is None:
            self._pts = self._psum / self._count[:, None]
            n = self._nsum
            self._nrm = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
            self._tree = cKDTree(self._pts)
        return self._tree, self._pts, self._nrm

    def check(self, src: np.ndarray, T: np.ndarray, gate: float, near: float) -> MapCheck:
        """Measure how the (N, 3) world points ``src`` moved by ``T`` agree with the map."""
        tree, pts, nrm = self._arrays()
        p = src @ T[:3, :3].T + T[:3, 3]
        dist, j = tree.query(p, distance_upper_bound=near)
        close = np.isfinite(dist)
        r = np.sum((p[close] - pts[j[close]]) * nrm[j[close]], axis=1)
        inl = np.abs(r) <= gate
        n_in = nrm[j[close]][inl]
        cons = float(np.linalg.eigvalsh(n_in.T @ n_in / len(n_in))[0]) if len(n_in) >= 3 else 0.0
        return MapCheck(
            T=T, overlap=float(close.mean()) if len(p) else 0.0,
            agreement=float(inl.mean()) if close.any() else 0.0,
            rmse=float(np.sqrt(np.mean(r[inl] ** 2))) if inl.any() else float("nan"),
            constraint=cons,
        )  # fmt: skip

    def align(self, src: np.ndarray, T0: np.ndarray, cfg) -> MapCheck:
        """Point-to-plane ICP of world points ``src`` (N, 3) onto the map from ``T0``.

        ``cfg``: a :class:`~nova3r_ros.ros.chaining.ChainConfig` (``gates``,
        ``iterations``, ``damping``, ``near``). Returns the check at the final
        correction ``T`` (4x4, ``T @ src`` on the map).
        """
        tree, pts, nrm = self._arrays()
        T = np.array(T0, np.float64)
        for gate in cfg.gates:
            for _ in range(cfg.iterations):
                p = src @ T[:3, :3].T + T[:3, 3]
                dist, j = tree.query(p, distance_upper_bound=gate)
                m = np.isfinite(dist)
                if m.sum() < 6:
                    break
                p, q, n = p[m], pts[j[m]], nrm[j[m]]
                r = np.sum((p - q) * n, axis=1)
                J = np.hstack([np.cross(p, n), n])  # d r / d (omega, t), left perturbation
                delta = gate / 3.0
                w = np.where(np.abs(r) <= delta, 1.0, delta / np.maximum(np.abs(r), 1e-12))
                H = J.T @ (J * w[:, None])
                H += cfg.damping * np.trace(H) / 6 * np.eye(6)  # weak directions stay put
                x = -np.linalg.solve(H, J.T @ (w * r))
                T = _exp_se3(x) @ T
                T[:3, :3] = project_to_so3(T[:3, :3])
                if np.linalg.norm(x[:3]) < 1e-5 and np.linalg.norm(x[3:]) < 1e-5:
                    break
        return self.check(src, T, cfg.gates[-1], cfg.near)

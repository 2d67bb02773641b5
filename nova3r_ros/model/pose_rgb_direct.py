"""Direct 6-DoF image alignment of two views over the decoded plane and objects.

Used by :func:`.pose_rgb_align.align_plane` before the 8-DoF ECC homography: aligning the
plane homography with all eight of its degrees of freedom lets it drift to a wrong
homography whose plane normal is not the decoded one (low-frequency or periodic table
texture correlates almost as well there), and the plane alone shows no parallax. Here
the pose ``x_b = R x_a + t`` of view b in view a is the only unknown (6 DoF), and every
pixel of view a has an inverse depth from the model's geometry: the decoded dominant
plane ``n . X = d`` (camera a's frame), and, where the decoded points z-buffered on a
coarse grid lie nearer than the plane, those points (the objects on the table, whose
parallax the plane lacks).

Pixel ``x`` of view a with normalised ray ``r = K_a^-1 x`` and inverse depth ``q(x)``
maps to ``K_b pi(R r + t q(x))`` in view b (for the plane this is the plane homography
``K_b (R + t n^T / d) K_a^-1``). The grey images are aligned coarse to fine by damped
Gauss-Newton on the zero-mean, unit-variance intensity difference (the correlation
that ECC maximises), the pose updated by left-multiplied rotation and added translation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DirectConfig:
    """Settings of :func:`align_direct`.

    Attributes:
        iters: Gauss-Newton iterations per pyramid level, coarsest first (its length is
            the number of levels; each level halves the image).
        object_cells: the decoded points are z-buffered on a grid this many cells wide
            across the image (8 px cells at 256 px).
        object_margin: a cell's nearest point is an object where its inverse depth
            exceeds the plane's by this fraction.
        min_valid: share of view a's pixels that must land inside view b.
        tol: a level ends when a step raises the correlation by less than this.

    """

    iters: tuple[int, ...] = (30, 20, 10)
    object_cells: int = 32
    object_margin: float = 0.05
    min_valid: float = 0.1
    tol: float = 1e-4


class RayCells:
    """Normalised rays' cells on a grid of ``cell`` units, computed once for many planes.

    ``rays``: (N, 3), z = 1. ``lo`` (2,) the lowest cell, ``shape`` (2,) the grid's size
    in cells (columns, rows): the rays' cells only; ``flat`` (N,) each ray's cell index.
    """

    def __init__(self, rays: np.ndarray, cell: float):
        k = np.floor(rays[:, :2] / cell).astype(np.int64)
        kx, ky = k[:, 0], k[:, 1]
        self.cell = cell
        self.lo = np.array([kx.min(), ky.min()])
        self.shape = np.array([kx.max(), ky.max()]) - self.lo + 1
        self.flat = (ky - self.lo[1]) * self.shape[0] + (kx - self.lo[0])


def inverse_depth(rays: np.ndarray, n: np.ndarray, d: float, points: np.ndarray | None,
                  cell: float, margin: float,
                  cells: RayCells | None = None) -> np.ndarray:  # fmt: skip
    """Return the inverse depth (N,) of normalised ``rays`` (N, 3; z = 1) in camera a.

    ``n . X = d``: the plane (camera a's frame, d > 0); ``points``: (M, 3) decoded points
    in camera a's frame or None. Rays that miss the plane ahead get the homography's
    (negative) value, as ECC warps them. A ray whose ``cell``-sized grid cell (normalised
    units) holds a point nearer than the plane by more than ``margin`` gets that point's.
    ``cells``: the rays' :class:`RayCells` at ``cell`` if already computed.
    """
    q = rays @ n / d
    if points is None or not len(points):
        return q
    if cells is None:
        cells = RayCells(rays, cell)
    lo, shape = cells.lo, cells.shape  # a point that projects off the rays' cells is out
    P = points[points[:, 2] > 1e-6]
    key = np.floor(P[:, :2] / P[:, 2:] / cell)
    inside = np.all((key >= lo) & (key < lo + shape), axis=1)
    key, P = key[inside].astype(np.int64) - lo, P[inside]
    zbuf = np.zeros(int(shape[0] * shape[1]))
    np.maximum.at(zbuf, key[:, 1] * shape[0] + key[:, 0], 1.0 / P[:, 2])
    q_obj = zbuf[cells.flat]
    return np.where(q_obj > np.maximum(q, 0.0) * (1.0 + margin), q_obj, q)


def _level(K: np.ndarray, f: float) -> np.ndarray:
    """Return ``K`` for an image scaled by ``f`` (pixel centres kept)."""
    Ks = np.asarray(K, np.float64).copy()
    Ks[:2, :2] *= f
    Ks[:2, 2] = (Ks[:2, 2] + 0.5) * f - 0.5
    return Ks


class _Level:
    """One pyramid level: view a's rays, intensities and inverse depth; view b's image."""

    def __init__(self, grey_a, grey_b, K_a, K_b, plane, points, config):
        h, w = grey_a.shape
        self.h, self.w, self.K_b = h, w, K_b
        ys, xs = np.mgrid[0:h, 0:w]
        x, y = (xs.ravel() - K_a[0, 2]) / K_a[0, 0], (ys.ravel() - K_a[1, 2]) / K_a[1, 1]
        self.rays = np.stack([x, y, np.ones(h * w)], 1)
        cell = w / config.object_cells / K_a[0, 0]
        self.q = inverse_depth(self.rays, plane[0], plane[1], points, cell, config.object_margin)
        self.I_a = grey_a.ravel().astype(np.float64)
        self.grey_b = grey_b
        self.gx = cv2.Sobel(grey_b, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        self.gy = cv2.Sobel(grey_b, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        self.min_valid = config.min_valid * h * w

    def warp(self, R, t):
        """Return (Y (N, 3) in camera b up to scale, valid mask, map x, map y)."""
        Y = self.rays @ R.T + self.q[:, None] * t
        z = np.where(Y[:, 2] > 1e-6, Y[:, 2], 1.0)
        u = self.K_b[0, 0] * Y[:, 0] / z + self.K_b[0, 2]
        v = self.K_b[1, 1] * Y[:, 1] / z + self.K_b[1, 2]
        ok = (Y[:, 2] > 1e-6) & (u >= 0) & (u <= self.w - 1) & (v >= 0) & (v <= self.h - 1)
        shape = (self.h, self.w)
        return Y, ok, u.reshape(shape).astype(np.float32), v.reshape(shape).astype(np.float32)

    def correlation(self, R, t):
        """Return the correlation of view a and view b warped at (R, t); -1 if too few."""
        _, ok, mx, my = self.warp(R, t)
        if ok.sum() < self.min_valid:
            return -1.0
        I_b = cv2.remap(self.grey_b, mx, my, cv2.INTER_LINEAR).ravel()[ok].astype(np.float64)
        x, y = self.I_a[ok] - self.I_a[ok].mean(), I_b - I_b.mean()
        return float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))

    def normal_equations(self, R, t):
        """Return (J^T J, J^T r) of the normalised intensity difference, or None."""
        Y, ok, mx, my = self.warp(R, t)
        if ok.sum() < self.min_valid:
            return None
        I_b = cv2.remap(self.grey_b, mx, my, cv2.INTER_LINEAR).ravel()[ok].astype(np.float64)
        gx = cv2.remap(self.gx, mx, my, cv2.INTER_LINEAR).ravel()[ok].astype(np.float64)
        gy = cv2.remap(self.gy, mx, my, cv2.INTER_LINEAR).ravel()[ok].astype(np.float64)
        Y = Y[ok]
        z = Y[:, 2]
        fx, fy = self.K_b[0, 0], self.K_b[1, 1]
        # d I_b / d Y through the projection (N, 3)
        gz = -(gx * fx * Y[:, 0] + gy * fy * Y[:, 1]) / z**2
        g = np.stack([gx * fx / z, gy * fy / z, gz], 1)
        # Y + w x Y + q dt: d/dw = Y x g, d/dt = q g
        J = np.concatenate([np.cross(Y, g), g * self.q[ok, None]], 1)
        I_a = self.I_a[ok]
        s_b = I_b.std() + 1e-9
        r = (I_b - I_b.mean()) / s_b - (I_a - I_a.mean()) / (I_a.std() + 1e-9)
        J = J / s_b
        J -= J.mean(0)
        return J.T @ J, J.T @ r


def direct_levels(grey_a: np.ndarray, grey_b: np.ndarray, K_a: np.ndarray, K_b: np.ndarray,
                  plane: tuple[np.ndarray, float], points_a: np.ndarray | None = None,
                  config: DirectConfig | None = None) -> list[_Level]:  # fmt: skip
    """Return the pyramid levels (coarsest first) of a view pair, for :func:`align_direct`.

    They depend on the pair, the plane and the points only, not on the starting pose: a
    caller aligning from several starts builds them once. Arguments as :func:`align_direct`.
    """
    cfg = config or DirectConfig()
    pyr_a, pyr_b = [grey_a], [grey_b]
    for _ in range(len(cfg.iters) - 1):
        pyr_a.append(cv2.pyrDown(pyr_a[-1]))
        pyr_b.append(cv2.pyrDown(pyr_b[-1]))
    out = []
    for A, B in zip(pyr_a[::-1], pyr_b[::-1], strict=True):
        f = A.shape[1] / grey_a.shape[1]
        out.append(_Level(A, B, _level(K_a, f), _level(K_b, f), plane, points_a, cfg))
    return out


def align_direct(grey_a: np.ndarray, grey_b: np.ndarray, K_a: np.ndarray, K_b: np.ndarray,
                 T_b_a: np.ndarray, plane: tuple[np.ndarray, float],
                 points_a: np.ndarray | None = None, config: DirectConfig | None = None,
                 levels: list[_Level] | None = None) -> tuple[np.ndarray, float]:  # fmt: skip
    """Align view b to view a over the plane and the objects; return (T_b_a, correlation).

    Args:
        grey_a, grey_b: (H, W) float32 grey images of the same size.
        K_a, K_b: (3, 3) intrinsics at that size.
        T_b_a: (4, 4) starting pose, ``x_b = R x_a + t`` (model scale).
        plane: (n, d), the plane ``n . X = d`` in camera a's frame, d > 0, same scale.
        points_a: (M, 3) decoded points in camera a's frame (None: the plane alone).
        config: :class:`DirectConfig` (defaults if None).
        levels: :func:`direct_levels` of these arguments, if already built.

    Returns:
        The aligned (4, 4) ``T_b_a`` and its correlation at full size (-1 where too few
        pixels of view a land in view b).

    """
    cfg = config or DirectConfig()
    if levels is None:
        levels = direct_levels(grey_a, grey_b, K_a, K_b, plane, points_a, cfg)
    R, t = np.asarray(T_b_a, np.float64)[:3, :3].copy(), np.asarray(T_b_a, np.float64)[:3, 3]
    rho = -1.0
    for L, iters in zip(levels, cfg.iters, strict=True):
        rho, lam = L.correlation(R, t), 1e-3
        for _ in range(iters):
            eq = L.normal_equations(R, t)
            if eq is None:
                break
            H, g = eq
            for _ in range(6):  # Levenberg-Marquardt: damp until the correlation rises
                step = -np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-12), g)
                dR = cv2.Rodrigues(step[:3])[0]
                rho_new = L.correlation(dR @ R, dR @ t + step[3:])
                if rho_new > rho:
                    gain = rho_new - rho
                    R, t, rho, lam = dR @ R, dR @ t + step[3:], rho_new, max(lam / 3, 1e-6)
                    break
                lam *= 4
            else:
                break
            if gain < cfg.tol:
                break
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T, rho

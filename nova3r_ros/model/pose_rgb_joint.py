"""Joint photometric refinement of an RGB-only window's poses and its plane's normal.

:func:`.pose_rgb.refine_rgb_views` places each view from one other view, pair by pair,
over the decoded dominant plane ``n . X = d`` (view 0's frame). The decoded normal is a
few degrees off (median 4.7 degrees on synthetic tuning windows), and a pair aligned
over a tilted plane is tilted with it: with the true normal the same alignment lands
within about 1 degree, with the decoded one 3-4 degrees off. The images determine the
normal too (with two views through the one plane homography, weakly; with three or more
they over-determine it), so :func:`refine_joint` refines the normal (2 DoF; ``d`` fixes
the scale) together with every placed view's pose (6 DoF each; view 0 fixed) against
every ordered pair's image alignment at once.

Each pair (a, b) warps view a's pixels into view b through the plane (the inverse depth
``q = n_a . r / d_a`` of ray ``r`` in camera a, the plane moved into camera a by its pose)
and compares zero-mean, unit-variance intensities with a Huber loss. Pixels where the
decoded points lie nearer than the plane (the objects; :func:`.pose_rgb_direct.inverse_depth`)
are left out: the decoded objects are too coarse to warp by. The normal is held near the
decoded one by a Gaussian prior. Damped Gauss-Newton (Levenberg-Marquardt), coarse to
fine; the pixels' Jacobians are analytic in each pair's own relative pose and plane, and
are chained to the window's parameters by finite differences of the 4x4 poses.

Frames: poses ``T_ref_cam`` (V, 4, 4) camera-to-view-0, OpenCV optical frames, in the
model's normalised scale; the plane in view 0's frame, same scale.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from nova3r_ros.model.cpu_threads import thread_map
from nova3r_ros.model.pose_rgb_direct import RayCells, _level, inverse_depth


@dataclass(frozen=True)
class JointConfig:
    """Settings of :func:`refine_joint`.

    Attributes:
        iters: LM iterations per pyramid level, coarsest first (its length is the number
            of levels; each level halves the image). Empty: no refinement.
        prior_weight, prior_deg: the normal's prior, ``prior_weight * (angle /
            prior_deg)^2`` added to the summed pair losses (each pair's loss is about
            ``1 - correlation``).
        huber: the Huber loss's threshold on the normalised intensity difference.
        object_cells, object_margin: the objects' grid and margin (as
            :class:`.pose_rgb_direct.DirectConfig`); their pixels are left out.
        min_valid: share of view a's pixels that must land in view b for a pair to count.
        tol: a level ends when a step lowers the loss by less than this.

    """

    iters: tuple[int, ...] = (20, 10, 10)
    prior_weight: float = 0.02
    prior_deg: float = 5.0
    huber: float = 1.0
    object_cells: int = 32
    object_margin: float = 0.05
    min_valid: float = 0.1
    tol: float = 1e-5


@dataclass
class JointResult:
    """Output of :func:`refine_joint`.

    Attributes:
        T_ref_cam: (V, 4, 4) refined camera-to-view-0 poses (views not refined unchanged).
        normal: (3,) refined plane normal, view 0's frame.
        normal_change_deg: its angle to the decoded normal.
        loss: the final loss at the finest level (summed pair losses plus the prior).
        pairs: ordered pairs (a, b) that counted at the finest level.

    """

    T_ref_cam: np.ndarray
    normal: np.ndarray
    normal_change_deg: float
    loss: float
    pairs: int


def tangent_basis(n: np.ndarray) -> np.ndarray:
    """Return a (3, 2) orthonormal basis of the plane perpendicular to unit ``n``."""
    a = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(n, a)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(n, u)], 1)


def unpack_window(T0, free, n0, basis, theta) -> tuple[np.ndarray, np.ndarray]:
    """Return (poses (V, 4, 4), unit normal) of the window's parameters ``theta``.

    ``theta``: the normal's step along ``basis`` (2; :func:`tangent_basis` of ``n0``), then
    6 per view of ``free``: ``T_v <- T0_v exp(xi)``, rotation vector then translation in
    camera v's frame. ``T0``: (V, 4, 4) camera-to-view-0 poses at ``theta = 0``.
    """
    T = T0.copy()
    for k, v in enumerate(free):
        xi = theta[2 + 6 * k : 8 + 6 * k]
        E = np.eye(4)
        E[:3, :3], E[:3, 3] = cv2.Rodrigues(xi[:3])[0], xi[3:]
        T[v] = T0[v] @ E
    n = n0 + basis @ theta[:2]
    return T, n / np.linalg.norm(n)


def pair_plane(T, n, d, a, b) -> tuple[np.ndarray, np.ndarray, float]:
    """Return pair (a, b)'s ``T_b_a`` and the plane ``n . X = d`` (view 0) in camera a."""
    return np.linalg.inv(T[b]) @ T[a], T[a][:3, :3].T @ n, d - n @ T[a][:3, 3]


def _small_log(R: np.ndarray) -> np.ndarray:
    """Return the rotation vector of a rotation near identity (first order).

    ``cv2.Rodrigues`` returns 0 for angles under about 1e-5 rad, the size of the finite
    differences below.
    """
    A = 0.5 * (R - R.T)
    return np.array([A[2, 1], A[0, 2], A[1, 0]])


class _View:
    """One view at one pyramid level: rays (N, 3), intensities, gradients (image b)."""

    def __init__(self, grey: np.ndarray, K: np.ndarray):
        self.h, self.w = grey.shape
        self.K = K
        ys, xs = np.mgrid[0 : self.h, 0 : self.w]
        x, y = (xs.ravel() - K[0, 2]) / K[0, 0], (ys.ravel() - K[1, 2]) / K[1, 1]
        self.rays = np.stack([x, y, np.ones(self.h * self.w)], 1)
        self.I = grey.ravel().astype(np.float64)
        self.grey = grey
        self.gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        self.gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        self._cells: RayCells | None = None

    def cells(self, cell: float) -> RayCells:
        """Return the rays' :class:`.RayCells` at ``cell`` (kept for the next call)."""
        if self._cells is None or self._cells.cell != cell:
            self._cells = RayCells(self.rays, cell)
        return self._cells


class _Problem:
    """The window's parameters: the normal's tangent step (2), then 6 per free view."""

    def __init__(self, T0, n0, d, free, points, config):
        self.T0, self.n0, self.d, self.free = T0, n0, d, free
        self.points, self.cfg = points, config
        self.P = 2 + 6 * len(free)
        self.basis = tangent_basis(n0)

    def unpack(self, theta):
        """Return (poses (V, 4, 4), unit normal) at parameters ``theta``."""
        return unpack_window(self.T0, self.free, self.n0, self.basis, theta)

    def local(self, T, n, a, b):
        """Return pair (a, b)'s ``T_b_a``, and the plane (n_a, d_a) in camera a."""
        return pair_plane(T, n, self.d, a, b)

    def chain(self, theta, a, b):
        """Return (10, P): pair (a, b)'s local parameters' derivative in ``theta``."""
        T, n = self.unpack(theta)
        T_ba, n_a, d_a = self.local(T, n, a, b)
        M = np.zeros((10, self.P))
        eps = 1e-6
        touched = [0, 1] + [2 + 6 * k + j for k, v in enumerate(self.free) if v in (a, b)
                            for j in range(6)]  # fmt: skip
        for p in touched:
            th = theta.copy()
            th[p] += eps
            T2, n2 = self.unpack(th)
            T2_ba, n2_a, d2_a = self.local(T2, n2, a, b)
            w = _small_log(T2_ba[:3, :3] @ T_ba[:3, :3].T)
            dt = T2_ba[:3, 3] - cv2.Rodrigues(w)[0] @ T_ba[:3, 3]
            M[:, p] = np.concatenate([w, dt, n2_a - n_a, [d2_a - d_a]]) / eps
        return M

    def pair(self, Va, Vb, T, n, a, b, cell, jac):
        """Return the loss of a pair and its normal equations in its own parameters, or None.

        The pair (a, b) warps view a into view b; the normal equations are
        (J^T W J, J^T W r), or None without ``jac``.

        Local parameters: rotation w and translation dt of ``T_b_a`` (``R <- exp(w) R``,
        ``t <- exp(w) t + dt``), then the plane in camera a (dn_a (3), dd_a).
        """
        cfg = self.cfg
        T_ba, n_a, d_a = self.local(T, n, a, b)
        R, t = T_ba[:3, :3], T_ba[:3, 3]
        q = Va.rays @ n_a / d_a
        keep = q > 0
        if self.points is not None and len(self.points):
            T_a = np.linalg.inv(T[a])
            pts = self.points @ T_a[:3, :3].T + T_a[:3, 3]
            keep &= (
                inverse_depth(Va.rays, n_a, d_a, pts, cell, cfg.object_margin, Va.cells(cell)) == q
            )
        Y = Va.rays @ R.T + q[:, None] * t
        z = np.where(Y[:, 2] > 1e-6, Y[:, 2], 1.0)
        u = Vb.K[0, 0] * Y[:, 0] / z + Vb.K[0, 2]
        v = Vb.K[1, 1] * Y[:, 1] / z + Vb.K[1, 2]
        keep &= (Y[:, 2] > 1e-6) & (u >= 0) & (u <= Vb.w - 1) & (v >= 0) & (v <= Vb.h - 1)
        N = int(keep.sum())
        if cfg.min_valid * Va.h * Va.w > N:
            return None
        mx = u.reshape(Vb.h, Vb.w).astype(np.float32)
        my = v.reshape(Vb.h, Vb.w).astype(np.float32)
        I_b = cv2.remap(Vb.grey, mx, my, cv2.INTER_LINEAR).ravel()[keep].astype(np.float64)
        I_a = Va.I[keep]
        s_b = I_b.std() + 1e-9
        r = (I_b - I_b.mean()) / s_b - (I_a - I_a.mean()) / (I_a.std() + 1e-9)
        ar = np.abs(r)
        huber = np.where(ar <= cfg.huber, 0.5 * r * r, cfg.huber * (ar - 0.5 * cfg.huber))
        loss = float(huber.sum()) / N
        if not jac:
            return loss, None
        w = np.where(ar <= cfg.huber, 1.0, cfg.huber / np.maximum(ar, 1e-12))
        gx = cv2.remap(Vb.gx, mx, my, cv2.INTER_LINEAR).ravel()[keep].astype(np.float64)
        gy = cv2.remap(Vb.gy, mx, my, cv2.INTER_LINEAR).ravel()[keep].astype(np.float64)
        Y, qk, rays = Y[keep], q[keep], Va.rays[keep]
        z = Y[:, 2]
        fx, fy = Vb.K[0, 0], Vb.K[1, 1]
        gz = -(gx * fx * Y[:, 0] + gy * fy * Y[:, 1]) / z**2
        g = np.stack([gx * fx / z, gy * fy / z, gz], 1)  # d I_b / d Y
        g_t = g @ t  # d I_b / d q
        J = np.concatenate([np.cross(Y, g), g * qk[:, None], g_t[:, None] * rays / d_a,
                            (-g_t * qk / d_a)[:, None]], 1) / s_b  # fmt: skip
        J -= J.mean(0)
        return loss, ((J * w[:, None]).T @ J / N, J.T @ (w * r) / N)


def refine_joint(T_ref_cam: np.ndarray, greys: list[np.ndarray], K: np.ndarray,
                 plane: tuple[np.ndarray, float], points: np.ndarray | None,
                 refine: np.ndarray,
                 config: JointConfig | None = None) -> JointResult:  # fmt: skip
    """Refine the views' poses and the plane's normal against all pairs' images at once.

    Args:
        T_ref_cam: (V, 4, 4) camera-to-view-0 poses (model scale) to start from.
        greys: V (H, W) float32 grey images of one size.
        K: (V, 3, 3) intrinsics at that size.
        plane: (n, d), the decoded plane ``n . X = d`` in view 0's frame, d > 0.
        points: (M, 3) decoded points in view 0's frame (their objects' pixels are left
            out), or None.
        refine: (V,) bool, the views that take part (view 0 always does, fixed); the
            others' poses are returned unchanged.
        config: :class:`JointConfig` (defaults if None).

    Returns:
        :class:`JointResult`.

    """
    cfg = config or JointConfig()
    T0 = np.asarray(T_ref_cam, np.float64).copy()
    V = len(T0)
    free = [v for v in range(1, V) if refine[v]]
    n0 = np.asarray(plane[0], np.float64) / np.linalg.norm(plane[0])
    prob = _Problem(T0, n0, float(plane[1]), free, points, cfg)
    pairs = list(itertools.permutations([0, *free], 2))
    theta = np.zeros(prob.P)
    sigma2 = np.radians(cfg.prior_deg) ** 2
    loss, used = np.inf, 0
    for level, iters in enumerate(cfg.iters):
        down = len(cfg.iters) - 1 - level
        views = []
        for grey, k in zip(greys, K, strict=True):
            g = grey
            for _ in range(down):
                g = cv2.pyrDown(g)
            views.append(_View(g, _level(k, g.shape[1] / grey.shape[1])))
        cell = views[0].w / cfg.object_cells / views[0].K[0, 0]

        def evaluate(th, jac, views=views, cell=cell):
            T, n = prob.unpack(th)
            total, count = cfg.prior_weight * float(th[:2] @ th[:2]) / sigma2, 0
            H, g = np.zeros((prob.P, prob.P)), np.zeros(prob.P)
            found = thread_map(lambda ab: prob.pair(views[ab[0]], views[ab[1]], T, n, *ab, cell,
                                                    jac), pairs)  # fmt: skip
            for (a, b), res in zip(pairs, found, strict=True):  # summed in the pairs' order
                if res is None:
                    continue
                count += 1
                total += res[0]
                if jac:
                    M = prob.chain(th, a, b)
                    H += M.T @ res[1][0] @ M
                    g += M.T @ res[1][1]
            H[:2, :2] += 2 * cfg.prior_weight / sigma2 * np.eye(2)
            g[:2] += 2 * cfg.prior_weight / sigma2 * th[:2]
            return total, count, H, g

        loss, used, H, g = evaluate(theta, True)
        lam = 1e-3
        for _ in range(iters):
            gain = 0.0
            for _ in range(6):  # Levenberg-Marquardt: damp until the loss falls
                step = -np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-12), g)
                new, count, _, _ = evaluate(theta + step, False)
                if count == used and new < loss:
                    gain, theta, lam = loss - new, theta + step, max(lam / 3, 1e-6)
                    break
                lam *= 4
            if gain < cfg.tol:
                break
            loss, used, H, g = evaluate(theta, True)
    T, n = prob.unpack(theta)
    change = float(np.degrees(np.arccos(np.clip(n @ n0, -1.0, 1.0))))
    return JointResult(T, n, change, float(loss), used)


class WindowLoss:
    """The mean pair loss of poses at full size (no prior) and the pairs counted.

    The loss :func:`refine_joint` minimises, per ordered pair of ``refine``'s views (view
    0 always counts); arguments as :func:`refine_joint`'s. The views' images are prepared
    once, so that many poses can be scored (:func:`.pose_rgb._reseat`). A pair whose
    overlap is under ``min_valid`` does not count.
    """

    def __init__(self, greys: list[np.ndarray], K: np.ndarray, points: np.ndarray | None,
                 refine: np.ndarray, config: JointConfig | None = None):  # fmt: skip
        self.cfg = config or JointConfig()
        self.points, self.refine = points, refine
        self.views = [_View(g, k) for g, k in zip(greys, K, strict=True)]
        self.cell = self.views[0].w / self.cfg.object_cells / self.views[0].K[0, 0]

    def __call__(self, T_ref_cam: np.ndarray,
                 plane: tuple[np.ndarray, float]) -> tuple[float, int]:  # fmt: skip
        """Return (mean pair loss, pairs counted) of poses (V, 4, 4) over ``plane`` (n, d)."""
        T = np.asarray(T_ref_cam, np.float64)
        free = [v for v in range(1, len(T)) if self.refine[v]]
        n = np.asarray(plane[0], np.float64) / np.linalg.norm(plane[0])
        prob = _Problem(T, n, float(plane[1]), free, self.points, self.cfg)
        total, count = 0.0, 0
        pairs = list(itertools.permutations([0, *free], 2))
        for res in thread_map(lambda ab: prob.pair(self.views[ab[0]], self.views[ab[1]], T, n,
                                                   *ab, self.cell, False), pairs):  # fmt: skip
            if res is not None:
                total, count = total + res[0], count + 1
        return total / max(count, 1), count


def window_loss(T_ref_cam: np.ndarray, greys: list[np.ndarray], K: np.ndarray,
                plane: tuple[np.ndarray, float], points: np.ndarray | None,
                refine: np.ndarray,
                config: JointConfig | None = None) -> tuple[float, int]:  # fmt: skip
    """Return :class:`WindowLoss` of one set of poses: (mean pair loss, pairs counted).

    ``plane``: (n, d) in view 0's frame, as given (not refined).
    """
    return WindowLoss(greys, K, points, refine, config)(T_ref_cam, plane)

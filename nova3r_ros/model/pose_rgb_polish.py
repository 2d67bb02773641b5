"""The placed views' poses polished on the learned matches (RGB-only refinement, optional).

The plane alignment and the joint photometric step place views over the decoded plane,
whose normal is a few degrees off; on small synthetic views they often end 5-10 degrees
from the truth, where the pair's learned matches (mostly right) are explained far less
than at the true pose (session 51's probe: 16 of 93 against 85, 257 of 420 against 409).
The essential matrix alone cannot place such pairs (a scene that is mostly one plane
leaves it ambiguous, and a descent on the Sampson distances drifts along it), but the
plane's homography can: with the plane's offset fixed (it holds the scale) its 8 degrees
of freedom are the pose and the normal.

:func:`polish_on_matches` moves every placed view but view 0 (camera-to-view-0 poses
``T``, (V, 4, 4); ``T_v <- T_v exp(xi_v)``, rotation then translation in camera v's frame)
and tilts the plane's normal (a weak prior toward the decoded one) to lower the robust
(Cauchy) transfer errors of all placed pairs' matches at once: view a's pixel lifted
onto the plane (``n . X = d`` in view 0's frame), projected into view b, its distance to
the match there, in pixels (view a's focal length: the views' are alike). Matches off
the plane (objects) are what the robust loss leaves out. Damped Gauss-Newton with
numeric derivatives, the Cauchy scale shrinking from a wide one (a view 10 degrees off
leaves right matches tens of pixels off) to the matches' own precision. The result is
kept only where its poses explain clearly more matches in all (Sampson distance within
``threshold_px``: the plane is not assumed there) and no pair loses many.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from nova3r_ros.core.transforms import rotation_angle_deg
from nova3r_ros.model.pose_rgb_epipolar import explained, relative_pose
from nova3r_ros.model.pose_rgb_joint import (
    JointConfig,
    WindowLoss,
    pair_plane,
    tangent_basis,
    unpack_window,
)


@dataclass(frozen=True)
class PolishConfig:
    """Settings of :func:`polish_on_matches`.

    Attributes:
        scales_px: the Cauchy scales (px), one after the other; empty: no polish.
        iters: damped Gauss-Newton steps per scale.
        damping: the steps' damping, relative to the normal equations' diagonal.
        min_gain: the polish is kept where it explains at least ``1 + min_gain`` times as
            many matches in all as before, and ``min_margin`` more.
        min_margin: see ``min_gain``.
        keep_ratio: and every pair that explained at least ``min_margin`` matches before
            still explains this share of them.
        threshold_px: a match is explained within this Sampson distance (px).
        prior_px_per_rad: the normal's prior: a tilt from the decoded normal costs as one
            match this many px off per radian.
        min_total: and it explains at least this many matches in all.

    """

    scales_px: tuple[float, ...] = (16.0, 8.0, 4.0, 2.0)
    iters: int = 4
    damping: float = 1e-3
    min_gain: float = 0.15
    min_margin: int = 8
    keep_ratio: float = 0.7
    threshold_px: float = 2.0
    prior_px_per_rad: float = 40.0
    min_total: int = 0


@dataclass
class PairMatches:
    """One view pair's matches: normalised x_a, x_b (N, 2) and view a's focal (px)."""

    a: int
    b: int
    x_a: np.ndarray
    x_b: np.ndarray
    focal: float


class _Problem:
    """Parameters: the normal's tangent step (2), then 6 per free view (module docstring)."""

    def __init__(self, T, free, pairs, n0, d, prior_px_per_rad):
        self.T, self.free, self.pairs = T, free, pairs
        self.n0, self.d, self.basis = n0, d, tangent_basis(n0)
        self.prior = prior_px_per_rad
        self.rays = [np.column_stack([p.x_a, np.ones(len(p.x_a))]) for p in pairs]

    def unpack(self, theta):
        """Return (poses (V, 4, 4), unit normal) at ``theta``."""
        return unpack_window(self.T, self.free, self.n0, self.basis, theta)

    def residuals(self, theta):
        """Return every match's plane transfer error a -> b (px, 2 each), then the prior's."""
        T, n = self.unpack(theta)
        res = []
        for p, ray in zip(self.pairs, self.rays, strict=True):
            T_ba, n_a, d_a = pair_plane(T, n, self.d, p.a, p.b)
            q = ray @ n_a
            X_a = ray * (d_a / np.where(np.abs(q) > 1e-9, q, 1e-9))[:, None]
            X_b = X_a @ T_ba[:3, :3].T + T_ba[:3, 3]
            z = X_b[:, 2]
            good = (q * d_a > 0) & (z > 1e-6)
            pred = X_b[:, :2] / np.where(good, z, 1.0)[:, None]
            r = (pred - p.x_b) * p.focal
            r[~good] = 1e3  # behind a camera: as far off as a wrong match
            res.append(r.ravel())
        res.append(theta[:2] * self.prior)
        return np.concatenate(res)


def _cost(r: np.ndarray, c: float) -> float:
    return float(np.sum(0.5 * c * c * np.log1p((r / c) ** 2)))


def _counts(T: np.ndarray, pairs: list[PairMatches], thr_px: float) -> list[int]:
    return [explained(*relative_pose(T, p.a, p.b), p.x_a, p.x_b, thr_px / p.focal)
            for p in pairs]  # fmt: skip


def polish_on_matches(
    T: np.ndarray,
    ok: np.ndarray,
    pairs: list[PairMatches],
    plane: tuple[np.ndarray, float],
    config: PolishConfig | None = None,
) -> tuple[np.ndarray, bool, int, int, np.ndarray]:
    """Return (poses, kept, matches explained before, after, normal) (module docstring).

    ``T``: (V, 4, 4) camera-to-view-0 poses; ``ok``: (V,) placed views (view 0 stays);
    ``pairs``: the placed pairs' matches; ``plane``: the plane's unit normal and offset in
    view 0's frame (``n . X = d``). Where the polish is not kept, ``T`` and the given normal
    are returned; else the polished poses and normal.
    """
    cfg = config or PolishConfig()
    free = np.array([v for v in np.flatnonzero(ok) if v != 0], int)
    pairs = [p for p in pairs if ok[p.a] and ok[p.b] and len(p.x_a)]
    before = _counts(T, pairs, cfg.threshold_px)
    if not len(free) or not pairs or not cfg.scales_px:
        return T, False, sum(before), sum(before), np.asarray(plane[0], float)
    prob = _Problem(T, free, pairs, np.asarray(plane[0], float), float(plane[1]),
                    cfg.prior_px_per_rad)  # fmt: skip
    n = 2 + 6 * len(free)
    theta = np.zeros(n)
    eps = 1e-6
    for c in cfg.scales_px:
        for _ in range(cfg.iters):
            r = prob.residuals(theta)
            J = np.empty((len(r), n))
            for k in range(n):
                d = theta.copy()
                d[k] += eps
                J[:, k] = (prob.residuals(d) - r) / eps
            w = 1.0 / (1.0 + (r / c) ** 2)
            H = (J * w[:, None]).T @ J
            g = J.T @ (w * r)
            H += cfg.damping * np.diag(np.maximum(np.diag(H), 1e-9)) + 1e-9 * np.eye(n)
            step = np.linalg.solve(H, -g)
            if not np.isfinite(step).all():
                break
            if _cost(prob.residuals(theta + step), c) >= _cost(r, c):
                break
            theta = theta + step
    out, normal = prob.unpack(theta)
    after = _counts(out, pairs, cfg.threshold_px)
    total_b, total_a = sum(before), sum(after)
    gained = total_a >= max((1 + cfg.min_gain) * total_b, total_b + cfg.min_margin,
                            cfg.min_total)  # fmt: skip
    held = all(k_a >= cfg.keep_ratio * k_b for k_a, k_b in zip(after, before, strict=True)
               if k_b >= cfg.min_margin)  # fmt: skip
    if gained and held:
        return out, True, total_b, total_a, normal
    return T, False, total_b, total_a, np.asarray(plane[0], float)


def placed_pairs(ok: np.ndarray, learned) -> list[PairMatches]:
    """Return every placed view pair's learned matches (a ``LearnedMatches``)."""
    out = []
    for a, b in itertools.combinations(np.flatnonzero(ok), 2):
        _, x_a, x_b, thr = learned(int(a), int(b))
        out.append(PairMatches(int(a), int(b), x_a, x_b, learned.threshold_px / thr))
    return out


def polish_window(T, ok, learned, plane, greys, K_grey, points, cfg):
    """Return (poses, kept): ``T`` polished on the learned matches of its placed pairs.

    ``learned``: the window's :class:`.pose_rgb_learned.LearnedMatches`; ``plane``: the
    decoded (normal, offset, share) in view 0's frame; ``greys`` / ``K_grey``: the grey
    images and their intrinsics (V, 3, 3) as the joint step scores them; ``points``: the
    decoded points (view 0's frame) or None; ``cfg``: the
    :class:`.pose_rgb_config.RgbPoseConfig` (``polish_*``). With ``polish_max_loss_ratio``
    the polish is kept only where the joint step's photometric loss over the polished
    plane is at most that times the loss before over the decoded plane, no pair lost.
    """
    pcfg = PolishConfig(scales_px=tuple(cfg.polish_scales_px), min_gain=cfg.polish_min_gain,
                        min_total=cfg.polish_min_total)  # fmt: skip
    T_p, kept, _, _, n_p = polish_on_matches(T, ok, placed_pairs(ok, learned), plane[:2], pcfg)
    if kept and cfg.polish_max_loss_ratio > 0:  # the images must agree at least as well
        jcfg = JointConfig(object_cells=cfg.object_cells, object_margin=cfg.object_margin)
        score = WindowLoss(greys, K_grey, points, ok, jcfg)
        was, now = score(T, plane[:2]), score(T_p, (n_p, plane[1]))
        kept = now[1] >= was[1] and now[0] <= cfg.polish_max_loss_ratio * was[0]
    return (T_p, True) if kept else (T, False)


def undo_joint(joint, before, ok, learned, sift, plane, greys, K_grey, points, cfg):
    """Return (poses, polished, undone): the joint step's polished result, or the poses before.

    The joint refinement (steps 5-6 of :mod:`.pose_rgb`) descends coarse to fine on the
    images alone and can carry a view placed within a few degrees 15-25 degrees off while
    every pair keeps half its matches (synthetic tables give few SIFT matches). The poses
    from before it (``before``, (V, 4, 4)) are polished as its result was
    (:func:`polish_window`) and replace that result (``joint``: (poses, polished)) where
    they explain ``cfg.joint_undo_gain`` times as many matches: the product of the ratios
    of learned matches (``learned``, a ``LearnedMatches``) and of SIFT matches (``sift``,
    the placed pairs' :class:`PairMatches` within ``cfg.threshold_px``) explained over
    the placed pairs, each count plus one, and where some view's rotation differs between
    the two by at least ``cfg.joint_undo_min_deg``: between close views (a handheld
    camera's consecutive frames) the matches hardly fix the translation's direction, and
    poses 30 degrees off in it can explain more of them. Other arguments as
    :func:`polish_window`'s.
    """
    alt, alt_polished = polish_window(before, ok, learned, plane, greys, K_grey, points, cfg)
    moved = max(rotation_angle_deg(alt[v][:3, :3].T @ joint[0][v][:3, :3])
                for v in np.flatnonzero(ok))  # fmt: skip
    if moved < cfg.joint_undo_min_deg:
        return joint[0], joint[1], False
    pairs = placed_pairs(ok, learned)

    def support(T: np.ndarray) -> float:
        return ((sum(_counts(T, pairs, learned.threshold_px)) + 1.0)
                * (sum(_counts(T, sift, cfg.threshold_px)) + 1.0))  # fmt: skip

    if support(alt) >= cfg.joint_undo_gain * support(joint[0]):
        return alt, alt_polished, True
    return joint[0], joint[1], False

"""A pair's essential-matrix pose and its planar twin (pose_rgb_epipolar.planar_twin)."""

from __future__ import annotations

import cv2
import numpy as np

from nova3r_ros.model.pose_rgb_align import angle_deg
from nova3r_ros.model.pose_rgb_config import RgbPoseConfig
from nova3r_ros.model.pose_rgb_epipolar import PairPose, _local_opt, planar_twin

THR = 1.0 / 250.0  # 1 px at a focal of 250 px, normalised units


def _pair(seed: int = 0, relief: float = 0.0):
    """Return (R, t unit, matches x_a, x_b, plane normal n_a) of a camera pair over a plane.

    A plane 1 m from camera a, its normal 60 degrees from the optical axis (a table seen
    from 30 degrees above), 0.7 m across; camera b 0.3 m lower, pitched 10 degrees: a
    pose whose planar twin is 15 degrees off and puts every point in front of both
    cameras too. ``relief``: points lifted off the plane towards camera a by up to that
    much (m), as objects on it.
    """
    rng = np.random.default_rng(seed)
    n = np.array([0.0, np.sin(np.radians(60)), np.cos(np.radians(60))])  # n . X = 1
    u = np.cross(n, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    X = n + rng.uniform(-0.35, 0.35, (300, 1)) * u + rng.uniform(-0.35, 0.35, (300, 1)) * v
    X -= rng.uniform(0.0, relief, (300, 1)) * n
    R = cv2.Rodrigues(np.radians([10.0, 0.0, 0.0]))[0]
    t = np.array([0.0, -0.3, 0.05])
    Y = X @ R.T + t
    return R, t / np.linalg.norm(t), X[:, :2] / X[:, 2:], Y[:, :2] / Y[:, 2:], n


def _twin_of(R, x_a, x_b):
    """Return the other decomposition of the matches' homography (the planar twin)."""
    H, _ = cv2.findHomography(x_a, x_b, 0)
    _, Rs, ts, _ = cv2.decomposeHomographyMat(H, np.eye(3))
    fits = [_local_opt(Rk, tk.ravel() / np.linalg.norm(tk), x_a, x_b, THR)
            for Rk, tk in zip(Rs, ts, strict=True) if angle_deg(Rk @ R.T) > 5]  # fmt: skip
    return max(fits, key=lambda f: int(f[2].sum()))  # the sign with the points in front


def test_the_twin_the_decoded_plane_prefers_replaces_the_essential_pose():
    R, t, x_a, x_b, n = _pair()
    R2, t2, inl2 = _twin_of(R, x_a, x_b)
    assert angle_deg(R2 @ R.T) > 10  # a different pose ...
    assert inl2.mean() > 0.95  # ... explaining the same matches
    cfg = RgbPoseConfig()
    head = np.eye(3)
    out, used = planar_twin(PairPose(R2, t2, inl2, 0.0), x_a, x_b, THR, n, head, cfg)
    assert used and angle_deg(out.R @ R.T) < 0.5 and out.t @ t > 0.999
    # the decoded normal a few degrees off still tells them apart
    n_off = cv2.Rodrigues(np.radians([6.0, 0.0, 0.0]))[0] @ n
    out, used = planar_twin(PairPose(R2, t2, inl2, 0.0), x_a, x_b, THR, n_off, head, cfg)
    assert used and angle_deg(out.R @ R.T) < 0.5
    # an E pose that is neither of the plane's poses gives way where the twin explains as
    # many matches
    R_off = cv2.Rodrigues(np.radians([0.0, 12.0, 0.0]))[0] @ R
    inl = np.ones(len(x_a), bool)
    out, used = planar_twin(PairPose(R_off, t, inl, 0.0), x_a, x_b, THR, n, head, cfg)
    assert used and angle_deg(out.R @ R.T) < 0.5
    # the right pose stays
    inl = np.ones(len(x_a), bool)
    out, used = planar_twin(PairPose(R, t, inl, 0.0), x_a, x_b, THR, n, head, cfg)
    assert not used and out.R is R


def test_no_twin_where_the_plane_does_not_decide_or_the_step_is_off():
    R, t, x_a, x_b, n = _pair()
    R2, t2, inl2 = _twin_of(R, x_a, x_b)
    twin = PairPose(R2, t2, inl2, 0.0)
    head = np.eye(3)
    # off
    out, used = planar_twin(twin, x_a, x_b, THR, n, head, RgbPoseConfig(twin_min_gain_deg=0))
    assert not used and out is twin
    # a decoded normal far from both: neither is preferred enough
    far = cv2.Rodrigues(np.radians([0.0, 70.0, 0.0]))[0] @ n
    out, used = planar_twin(twin, x_a, x_b, THR, far, head, RgbPoseConfig())
    assert not used
    # matches off the plane (objects up to 40 cm tall): no homography holds half of them
    R, t, x_a, x_b, n = _pair(relief=0.4)
    inl = np.ones(len(x_a), bool)
    out, used = planar_twin(PairPose(R, t, inl, 0.0), x_a, x_b, THR, n, head, RgbPoseConfig())
    assert not used


def test_degenerate_matches_leave_the_pose_as_it_is():
    R, t, _, _, n = _pair()
    line = np.column_stack([np.linspace(-0.3, 0.3, 40), np.zeros(40)])  # collinear
    same = np.zeros((40, 2))  # every match on one point
    pose = PairPose(R, t, np.ones(40, bool), 0.0)
    for x_a, x_b in ((line, line * 1.1), (same, same), (line, np.full((40, 2), np.nan))):
        out, used = planar_twin(pose, x_a, x_b, THR, n, np.eye(3), RgbPoseConfig())
        assert not used and out is pose

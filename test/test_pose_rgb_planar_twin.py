"""The planar twin rule (pose_rgb_epipolar.planar_twin) on exact matches of a table in two views.

Camera a at the origin looks at a plane ``n_a . X = 1.5`` (a table below and ahead);
camera b is 12 degrees and 32 cm away. The matches' homography decomposes into the true
pose and its planar twin, which explains every match as well; the decoded plane (here the
true normal, a few degrees off) tells them apart.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from nova3r_ros.model.pose_rgb_align import angle_deg
from nova3r_ros.model.pose_rgb_config import RgbPoseConfig
from nova3r_ros.model.pose_rgb_epipolar import PairPose, planar_twin, plane_decompositions

N_A = np.array([0.0, 0.6, 0.8])  # the plane's normal in camera a (n . X = D, D > 0)
D = 1.5
R_TRUE = Rotation.from_euler("yx", [10.0, 6.0], degrees=True).as_matrix()
T_TRUE = np.array([-0.3, 0.05, 0.1])
THR = 2e-3  # normalised units, as the refinement's threshold at these focal lengths


def _matches(seed: int = 0):
    rng = np.random.default_rng(seed)
    rays = np.c_[rng.uniform(-0.45, 0.45, (300, 2)), np.ones(300)]
    X = rays * (D / (rays @ N_A))[:, None]  # on the plane, in camera a
    Xb = X @ R_TRUE.T + T_TRUE
    x_a = rays[:, :2] + rng.normal(0, 2e-4, (300, 2))
    x_b = Xb[:, :2] / Xb[:, 2:] + rng.normal(0, 2e-4, (300, 2))
    return x_a, x_b


def _twin(x_a, x_b):
    """Return the homography's other decomposition: most points in front, not the truth."""
    sols = plane_decompositions(x_a, x_b, THR, 0.5)
    assert sols is not None
    rays = np.c_[x_a, np.ones(len(x_a))]
    valid = [s for s in sols if (rays @ s[2] > 0).mean() > 0.5]
    twins = [s for s in valid if angle_deg(s[0] @ R_TRUE.T) > 3.0]
    assert len(twins) == 1
    return twins[0]


def _pose(R, t, n):
    return PairPose(R, t / np.linalg.norm(t), np.ones(n, bool), 0.0)


def test_the_decoded_plane_moves_a_pose_off_its_planar_twin():
    x_a, x_b = _matches()
    R_w, t_w, _ = _twin(x_a, x_b)
    assert angle_deg(R_w @ R_TRUE.T) > 5.0  # the twin is a different pose
    decoded = Rotation.from_euler("x", 4.0, degrees=True).apply(N_A)  # a decode 4 degrees off
    out, swapped = planar_twin(_pose(R_w, t_w, len(x_a)), x_a, x_b, THR, decoded, np.eye(3),
                               RgbPoseConfig())  # fmt: skip
    assert swapped
    assert angle_deg(out.R @ R_TRUE.T) < 1.0
    assert np.degrees(np.arccos(np.clip(out.t @ T_TRUE / np.linalg.norm(T_TRUE), -1, 1))) < 3.0
    assert out.inliers.mean() > 0.95


def test_the_true_pose_and_the_rule_switched_off_stay_as_they_are():
    x_a, x_b = _matches(1)
    decoded = N_A
    true = _pose(R_TRUE, T_TRUE, len(x_a))
    out, swapped = planar_twin(true, x_a, x_b, THR, decoded, np.eye(3), RgbPoseConfig())
    assert not swapped and out is true
    R_w, t_w, _ = _twin(x_a, x_b)
    twin = _pose(R_w, t_w, len(x_a))
    off = RgbPoseConfig(twin_min_gain_deg=0.0)
    out, swapped = planar_twin(twin, x_a, x_b, THR, decoded, np.eye(3), off)
    assert not swapped and out is twin
    # a decoded plane far from either decomposition's normal decides nothing
    tilted = Rotation.from_euler("x", 40.0, degrees=True).apply(N_A)
    out, swapped = planar_twin(twin, x_a, x_b, THR, tilted, np.eye(3), RgbPoseConfig())
    assert not swapped and out is twin

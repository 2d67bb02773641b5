"""Tests of the joint refinement of poses and plane normal (model.pose_rgb_joint)."""

import math

import cv2
import numpy as np
import pytest
from test_pose_rgb_direct import SEED, rot  # the same validation seed and rotation helper

from nova3r_ros.eval.metrics import pairwise_pose_errors
from nova3r_ros.model.pose_rgb_align import dominant_plane
from nova3r_ros.model.pose_rgb_joint import JointConfig, refine_joint, window_loss
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window


@pytest.fixture(scope="module")
def window4():
    """Return 4 rendered views' grey images, K, true poses and plane (view 0's frame)."""
    window, gt = generate_window(SEED, benchmark_config(4, height=192, width=256))
    greys = [cv2.cvtColor(v.image, cv2.COLOR_RGB2GRAY).astype(np.float32) for v in window.views]
    T0 = np.linalg.inv(gt.T_world_cam[0])
    T_true = np.stack([T0 @ T for T in gt.T_world_cam])
    pts = gt.points.astype(np.float64) @ T0[:3, :3].T + T0[:3, 3]
    pts = pts[np.random.default_rng(0).choice(len(pts), 4096, replace=False)]
    n, d, _ = dominant_plane(pts)
    K = np.stack([np.asarray(v.K, np.float64) for v in window.views])
    return greys, K, T_true, (n, d), pts


def start_from(T_true, deg):
    """Return the true poses with views 1.. turned by ``deg`` about different axes."""
    out = T_true.copy()
    for v, axis in zip(range(1, len(out)), ([1, 0, 0], [0, 1, 0], [0, 0.5, 1]), strict=False):
        out[v, :3, :3] = out[v, :3, :3] @ rot(axis, deg)
    return out


def angle(a, b):
    """Angle (deg) between unit vectors."""
    return math.degrees(math.acos(min(1.0, float(a @ b))))


def test_recovers_the_normal_and_the_poses(window4):
    greys, K, T_true, (n, d), pts = window4
    n_tilted = rot([1.0, 0.0, 0.0], 5.0) @ n  # a decoded normal 5 degrees off
    start = start_from(T_true, 3.0)
    res = refine_joint(start, greys, K, (n_tilted, d), pts, np.ones(4, bool))
    before = max(pairwise_pose_errors(list(start), list(T_true))[0])
    after = pairwise_pose_errors(list(res.T_ref_cam), list(T_true))
    assert before > 2.5
    assert max(after[0]) < 1.0 and max(after[1]) < 3.0, after
    assert angle(res.normal, n) < 1.0 < res.normal_change_deg
    assert res.pairs == 12


def test_views_left_out_keep_their_poses_and_the_prior_holds_the_normal(window4):
    greys, K, T_true, (n, d), _ = window4
    start = start_from(T_true, 3.0)
    refine = np.array([True, True, True, False])
    res = refine_joint(start, greys, K, (n, d), None, refine, JointConfig(prior_weight=1e6))
    assert np.array_equal(res.T_ref_cam[3], start[3])
    assert np.array_equal(res.T_ref_cam[0], start[0])
    assert res.pairs == 6
    assert res.normal_change_deg < 0.01
    assert max(pairwise_pose_errors(list(res.T_ref_cam[:3]), list(T_true[:3]))[0]) < 1.0


def test_no_iterations_return_the_start(window4):
    greys, K, T_true, plane, pts = window4
    start = start_from(T_true, 3.0)
    res = refine_joint(start, greys, K, plane, pts, np.ones(4, bool), JointConfig(iters=()))
    assert np.array_equal(res.T_ref_cam, start)
    assert res.normal_change_deg == 0.0


def test_window_loss_is_lowest_at_the_true_poses_and_counts_the_pairs(window4):
    """The loss the joint step minimises, at full size: every view turned raises it."""
    greys, K, T_true, plane, pts = window4
    every = np.ones(4, bool)
    true, pairs = window_loss(T_true, greys, K, plane, pts, every)
    assert pairs == 12
    for deg in (2.0, 10.0):
        turned, _ = window_loss(start_from(T_true, deg), greys, K, plane, pts, every)
        assert turned > true
    three = window_loss(T_true, greys, K, plane, pts, np.array([True, True, True, False]))
    assert three[1] == 6
    first = refine_joint(T_true, greys, K, plane, pts, every, JointConfig((0,), prior_weight=0))
    assert math.isclose(first.loss / first.pairs, true, rel_tol=1e-9)

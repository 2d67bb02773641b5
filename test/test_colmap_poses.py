"""The ``colmap`` pose method: real pycolmap SfM on real frames, and a clean failure."""

from pathlib import Path

import numpy as np
import pytest

from nova3r_ros.core.types import View, Window
from nova3r_ros.eval import metrics
from nova3r_ros.eval.colmap_poses import colmap_poses, colmap_reconstruct
from nova3r_ros.eval.run import POSE_METHODS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "7scenes-redkitchen-dev"


def _rotation_deg(R: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))


def test_colmap_is_a_pose_method():
    assert "colmap" in POSE_METHODS


@pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")
def test_colmap_recovers_relative_poses_on_real_rgbd_frames():
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    window, gt = SevenScenesSequence(DATA).window([0, 10, 20, 30])
    result = colmap_reconstruct(window, gt.K)
    assert result.registered == [True] * 4
    assert np.allclose(result.T_ref_cam[0], np.eye(4), atol=1e-9)
    for T, T_world in zip(result.T_ref_cam[1:], gt.T_world_cam[1:], strict=True):
        T_true = np.linalg.inv(gt.T_world_cam[0]) @ T_world
        assert _rotation_deg(T[:3, :3].T @ T_true[:3, :3]) < 3.0  # measured: < 1 degree
    # metric scale from view 0's depth: the 30-frame translation has the true length
    t_true = (np.linalg.inv(gt.T_world_cam[0]) @ gt.T_world_cam[3])[:3, 3]
    t = result.T_ref_cam[3][:3, 3]
    assert abs(np.linalg.norm(t) / np.linalg.norm(t_true) - 1) < 0.25
    m = metrics.pose_metrics(result.T_ref_cam, gt.T_world_cam)
    assert m["rra@5"] == 1.0 and m["auc@30"] > 0.6  # measured: 1.0 and 0.82


def test_colmap_reports_failure_on_uniform_grey_images():
    K = np.array([[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]])
    grey = np.full((48, 64, 3), 128, np.uint8)
    depth = np.full((48, 64), 1.5, np.float32)
    window = Window([View(grey.copy(), depth, K), View(grey.copy(), depth, K)])
    result = colmap_reconstruct(window, [K, K])
    assert result.registered == [False, False]
    assert all(np.array_equal(T, np.eye(4)) for T in result.T_ref_cam)
    assert all(np.array_equal(T, np.eye(4)) for T in colmap_poses(window))

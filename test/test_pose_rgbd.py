"""Views the depth cannot place (a table plane pins 3 of 6 DOF), placed from the images.

Real synthetic bag frames (``bags/sequence.py``: two cameras 0.36 m apart on one side of
a table, handheld, 256x192): the depth refinement rejects every view but view 0 there
(singular point-to-plane system); the plane homography, with the plane and the metric
scale from view 0's depth, places them. Also the sign of the homography's translation
(the (t, n) / (-t, -n) ambiguity), which the pose metrics' sign-free RTA cannot see.
"""

import numpy as np
import pytest
import torch

from nova3r_ros.bags.sequence import SequenceConfig, synthetic_sequence
from nova3r_ros.core.pointcloud import backproject_depth
from nova3r_ros.core.types import View, Window
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.pose_rgb import refine_rgb_views
from nova3r_ros.model.pose_rgbd import place_failed_views
from nova3r_ros.model.pose_views import ViewPoses


@pytest.fixture(scope="module")
def views():
    return synthetic_sequence(SequenceConfig(cameras=2, steps=2, motion="handheld")).views


def _truth(views):
    T0 = views[0].T_world_cam
    return np.stack([np.linalg.inv(T0) @ v.T_world_cam for v in views])


def _errors(T, truth):
    out = []
    for A, B in zip(T, truth, strict=True):
        R = A[:3, :3].T @ B[:3, :3]
        ang = np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
        out.append((float(np.linalg.norm(A[:3, 3] - B[:3, 3])), float(ang)))
    return out


def test_the_plane_homography_gives_the_translation_with_its_sign(views):
    truth = _truth(views)
    pts, _, _ = backproject_depth(views[0].depth, views[0].K)
    K = np.stack([v.K for v in views])
    rgb = refine_rgb_views(truth, [v.image for v in views], K, pts)
    assert rgb.ok.all()
    for i in range(1, len(views)):
        t, t_true = rgb.T_ref_cam[i][:3, 3], truth[i][:3, 3]
        cos = t @ t_true / (np.linalg.norm(t) * np.linalg.norm(t_true))
        assert cos > 0.99, f"view {i}: translation direction {t} against {t_true}"
        assert abs(np.linalg.norm(t) / np.linalg.norm(t_true) - 1) < 0.1  # metric: the depth


def _poses(T, ok):
    """Return a depth refinement result with these poses and acceptances (rest unknown)."""
    V = len(T)
    nan = np.full(V, np.nan)
    return ViewPoses(np.array(T, np.float64), np.array(ok, bool), np.where(ok, 1.0, 0.0),
                     nan, nan, nan, np.zeros(V))  # fmt: skip


def _depth_K(views):
    depth = torch.from_numpy(np.stack([v.depth for v in views]))
    return depth, torch.from_numpy(np.stack([v.K for v in views]))


def test_failed_views_are_placed_from_the_images_and_placed_ones_are_kept(views):
    truth = _truth(views)
    depth, K = _depth_K(views)
    images = [v.image for v in views]
    head = np.stack([np.eye(4)] * len(views))
    ok = np.array([True] + [False] * (len(views) - 1))
    out, placed = place_failed_views(_poses(head, ok), images, depth, K)
    assert out.ok.all() and placed == len(views) - 1
    for i, (dt, dr) in enumerate(_errors(out.T_ref_cam, truth)):
        assert dt < 0.03 and dr < 2.0, f"view {i}: {dt:.3f} m, {dr:.2f} deg"
    # a view the depth placed keeps its pose; nothing to do when all are placed
    kept = truth.copy()
    kept[1, :3, 3] += 0.01
    out, _ = place_failed_views(_poses(kept, [True, True, False, False]), images, depth, K)
    assert np.array_equal(out.T_ref_cam[1], kept[1])
    out, placed = place_failed_views(_poses(kept, [True] * len(views)), images, depth, K)
    assert out.ok.all() and placed == 0 and np.array_equal(out.T_ref_cam, kept)


def test_infer_places_plane_views_that_the_depth_rejects(views):
    model = load_checkpoint(PACKAGED_CHECKPOINT)
    window = Window([View(v.image, v.depth, v.K, None, v.stamp, v.frame_id, v.camera)
                     for v in views])  # fmt: skip
    cfg = InferenceConfig(n_points=256, steps=2, seed=0)
    rec = infer(model, window, cfg)
    assert rec.stats["views_placed_by_images"] >= 1
    assert all(rec.stats[f"pose_ok_{i}"] == 1.0 for i in range(len(views)))
    assert rec.stats["views_pose_failed"] == 0.0
    for i, (dt, dr) in enumerate(_errors(np.stack(rec.T_ref_cam), _truth(views))):
        assert dt < 0.03 and dr < 2.0, f"view {i}: {dt:.3f} m, {dr:.2f} deg"
    off = infer(model, window, InferenceConfig(n_points=256, steps=2, seed=0,
                                               place_by_images=False))  # fmt: skip
    assert off.stats["views_pose_failed"] >= 1 and "views_placed_by_images" not in off.stats


def test_a_view_whose_depth_disagrees_is_not_placed_by_its_image(views):
    """Something 0.4 m in front of the lens: the image still matches, the depth does not."""
    depth, K = _depth_K(views)
    depth[2] = 0.4
    ok = [True, False, False, False]
    out, placed = place_failed_views(_poses(np.stack([np.eye(4)] * 4), ok),
                                     [v.image for v in views], depth, K)  # fmt: skip
    assert not out.ok[2] and np.array_equal(out.T_ref_cam[2], np.eye(4))
    assert out.ok[1] and placed >= 1

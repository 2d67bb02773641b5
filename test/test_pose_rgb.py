"""Tests of the RGB-only pose refinement (nova3r_ros.model.pose_rgb) on rendered windows."""

import math
from pathlib import Path

import numpy as np
import pytest

from nova3r_ros.eval.metrics import pairwise_pose_errors
from nova3r_ros.model import pose_rgb
from nova3r_ros.model.pose_rgb import RgbPoseConfig, dominant_plane, point_depth, refine_rgb_views
from nova3r_ros.model.pose_rgb_align import angle_deg, consistent_tree, orbit_hypotheses
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

# session 48's learned matcher (packaged until session 56): the rules' cases below were
# found with its matches, so their tests keep it
SESSION48_MATCHER = Path(__file__).parent / "data" / "matcher_session48"
SEED = 1_500_008  # a validation seed (the benchmark uses 1,000,000-1,000,099)


def rot(axis, deg):
    """Rotation matrix of ``deg`` degrees about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    A = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    th = math.radians(deg)
    return np.eye(3) + math.sin(th) * A + (1 - math.cos(th)) * A @ A


def normalised_window(views: int):
    """Return a tabletop window, its true T_ref_cam and its surface in view 0's frame.

    Normalised as the model's RGB-only output is: the points' median distance to camera 0
    is 1, and the true translations are scaled alike.
    """
    window, gt = generate_window(SEED, benchmark_config(views, height=192, width=256))
    T0_inv = np.linalg.inv(gt.T_world_cam[0])
    T_true = np.stack([T0_inv @ T for T in gt.T_world_cam])
    pts = gt.points.astype(np.float64) @ T0_inv[:3, :3].T + T0_inv[:3, 3]
    pts = pts[np.random.default_rng(0).choice(len(pts), 2048, replace=False)]
    s = float(np.median(np.linalg.norm(pts, axis=1)))
    T_true[:, :3, 3] /= s
    return window, T_true, pts / s


@pytest.fixture(scope="module")
def scene():
    """Return a 2-view window, its true T_ref_cam and its normalised surface."""
    return normalised_window(2)


def head_guess(T_true):
    """Return the true poses with view 1 off by 6 deg of rotation and 15 % of translation."""
    T = T_true.copy()
    T[1, :3, :3] = T_true[1, :3, :3] @ rot([1.0, 0.0, 0.0], 6.0)
    T[1, :3, 3] = T_true[1, :3, 3] * 1.15
    return T


def rot_err(T_pred, T_true):
    return float(pairwise_pose_errors(list(T_pred), list(T_true))[0][0])


def test_refines_the_head_guess(scene):
    window, T_true, pts = scene
    head = head_guess(T_true)
    images = [v.image for v in window.views]
    K = np.stack([v.K for v in window.views])
    out = refine_rgb_views(head, images, K, pts)
    assert out.ok.all()
    assert 0.0 < out.confidence[1] <= 1.0 and out.confidence[0] == 1.0
    r_head, r_out = rot_err(head, T_true), rot_err(out.T_ref_cam, T_true)
    assert r_head > 5.0
    assert r_out < 2.0, (r_head, r_out)
    # the translation keeps the points' scale: length within 20 % of the true one
    t_true = np.linalg.norm(T_true[1, :3, 3])
    assert abs(np.linalg.norm(out.T_ref_cam[1, :3, 3]) - t_true) < 0.2 * t_true
    stats = out.stats()
    assert stats["pose_ok_1"] == 1.0 and stats["views_pose_failed"] == 0.0
    assert stats["pose_confidence_1"] == pytest.approx(out.confidence[1])


def test_textureless_view_keeps_the_head_guess(scene):
    window, T_true, pts = scene
    head = head_guess(T_true)
    images = [window.views[0].image, np.full_like(window.views[1].image, 128)]
    K = np.stack([v.K for v in window.views])
    out = refine_rgb_views(head, images, K, pts)
    assert not out.ok[1] and out.ok[0]
    assert out.confidence[1] == 0.0
    np.testing.assert_array_equal(out.T_ref_cam, head)
    assert out.stats()["pose_ok_1"] == 0.0 and out.stats()["views_pose_failed"] == 1.0


def test_without_points_uses_the_matches_and_the_head_length(scene):
    window, T_true, _ = scene
    head = head_guess(T_true)
    images = [v.image for v in window.views]
    K = np.stack([v.K for v in window.views])
    out = refine_rgb_views(head, images, K, None, RgbPoseConfig())
    if out.ok[1]:  # the essential matrix alone: the head's translation length is kept
        assert np.linalg.norm(out.T_ref_cam[1, :3, 3]) == pytest.approx(
            np.linalg.norm(head[1, :3, 3]), rel=1e-6
        )
    else:
        np.testing.assert_array_equal(out.T_ref_cam, head)


def test_dominant_plane_finds_a_plane_among_clutter():
    rng = np.random.default_rng(1)
    plane = np.column_stack([rng.uniform(-1, 1, (300, 2)), np.full(300, 2.0)])
    clutter = rng.uniform(-1, 1, (100, 3)) + [0, 0, 1.0]
    n, d, share = dominant_plane(np.concatenate([plane, clutter]))
    assert abs(abs(n[2]) - 1.0) < 1e-6 and d == pytest.approx(2.0, abs=1e-3)
    assert share >= 0.75


def test_point_depth_takes_the_nearest_point_per_cell():
    K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])
    # two points on the axis (the nearer wins), one 20 px right, one near the camera plane
    P = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0], [0.2, 0.0, 1.0], [1e-3, 0.0, 1e-5]])
    px = np.array([[50.0, 40.0], [70.0, 40.0], [5.0, 5.0]])
    z = point_depth(P, np.eye(4), K, px, 8.0)
    np.testing.assert_allclose(z[:2], [2.0, 1.0])
    assert np.isnan(z[2])


def test_orbit_hypotheses_keep_the_look_at_point_and_the_centre():
    n, d = np.array([0.0, -0.6, 0.8]), 1.0  # the plane in camera a's frame
    T_b_a = np.eye(4)
    T_b_a[:3, :3] = rot([0.0, 1.0, 0.0], 20.0)
    T_b_a[:3, 3] = [0.3, 0.0, 0.1]
    hyps = orbit_hypotheses(T_b_a, n, d, (-30.0, 30.0), (15.0,))
    assert len(hyps) == 3
    c = np.linalg.inv(T_b_a)[:3, 3]
    z = np.linalg.inv(T_b_a)[:3, 2]
    p = c + (d - n @ c) / (n @ z) * z  # where b's optical axis meets the plane
    for T in hyps[:2]:
        T_a_b = np.linalg.inv(T)
        q = T[:3, :3] @ p + T[:3, 3]  # the look-at point stays on b's optical axis
        np.testing.assert_allclose(q[:2], 0.0, atol=1e-9)
        assert angle_deg(T_a_b[:3, :3] @ np.linalg.inv(T_b_a)[:3, :3].T) == pytest.approx(30.0)
        # the centre keeps its height above the plane
        assert n @ T_a_b[:3, 3] == pytest.approx(n @ c)
    roll = np.linalg.inv(hyps[2])
    np.testing.assert_allclose(roll[:3, 3], c, atol=1e-12)
    np.testing.assert_allclose(roll[:3, 2], z, atol=1e-12)


def test_a_far_head_guess_is_placed_by_the_wider_search(scene):
    window, T_true, pts = scene
    n, d, _ = dominant_plane(pts)
    T_b_a = np.linalg.inv(T_true[1])
    T = np.linalg.inv(orbit_hypotheses(T_b_a, n, d, (40.0,), ())[0])  # 40 deg off
    head = T_true.copy()
    head[1] = T
    images = [v.image for v in window.views]
    K = np.stack([v.K for v in window.views])
    r_head = rot_err(head, T_true)
    assert r_head > 35.0
    narrow = RgbPoseConfig(wide_orbit_deg=(), wide_roll_deg=())
    assert not refine_rgb_views(head, images, K, pts, narrow).ok[1]  # beyond the head check
    out = refine_rgb_views(head, images, K, pts)
    assert out.ok[1]
    assert rot_err(out.T_ref_cam, T_true) < 5.0, (r_head, rot_err(out.T_ref_cam, T_true))


@pytest.fixture(scope="module")
def scene4():
    """Return a 4-view window, its true T_ref_cam and its surface (normalised as ``scene``)."""
    return normalised_window(4)


def wrong(T_b_a):
    """Return the pair's pose turned 20 deg about camera b's y axis."""
    T = T_b_a.copy()
    T[:3, :3] = rot([0.0, 1.0, 0.0], 20.0) @ T[:3, :3]
    return T


def test_consistency_re_places_a_view_that_its_other_pairs_contradict(scene4):
    _, T_true, _ = scene4
    rel = {(a, b): np.linalg.inv(T_true[b]) @ T_true[a] for a in range(4) for b in range(a + 1, 4)}
    edges = {e: (1.9, T) for e, T in rel.items()}
    edges[(2, 3)] = (1.95, wrong(rel[(2, 3)]))  # the best scored, 20 deg wrong
    P = T_true.copy()
    P[3] = P[2] @ np.linalg.inv(edges[(2, 3)][1])
    Q, anchor = consistent_tree(edges, P, np.array([0, 0, 0, 2]), 5.0)
    assert anchor[3] == 0  # the shallowest of the consistent placements
    np.testing.assert_allclose(Q, T_true, atol=1e-9)
    # two views: nothing to compare (refine_rgb_views does not call it below 3 views)
    Q2, anchor2 = consistent_tree({(0, 1): edges[(0, 1)]}, T_true[:2], np.array([0, 0]), 5.0)
    np.testing.assert_allclose(Q2, T_true[:2], atol=1e-9)
    assert list(anchor2) == [0, 0]


def test_consistency_prefers_fully_supported_pairs_over_a_weak_reversed_one(scene4):
    """View 3 from view 0 by a weak essential matrix (56 inliers, score 0.56): reversed.

    That pair is 3 deg off in rotation with its translation reversed. Every tree agrees
    within 5 degrees in rotation (a tie), and the shallowest one goes through that pair;
    the tree that places view 3 by a plane alignment from view 1 or 2 (score 1.9) wins
    instead (seen in an RGB-only bag: a near-planar pair 6.5 cm apart).
    """
    _, T_true, _ = scene4
    rel = {(a, b): np.linalg.inv(T_true[b]) @ T_true[a] for a in range(4) for b in range(a + 1, 4)}
    edges = {e: (1.9, T) for e, T in rel.items()}
    bad = rel[(0, 3)].copy()
    bad[:3, :3] = rot([0.0, 1.0, 0.0], 3.0) @ bad[:3, :3]
    bad[:3, 3] *= -3.0
    edges[(0, 3)] = (0.56, bad)
    P = T_true.copy()
    P[3] = P[0] @ np.linalg.inv(bad)
    Q, anchor = consistent_tree(edges, P, np.array([0, 0, 0, 0]), 5.0)
    assert anchor[3] in (1, 2)
    np.testing.assert_allclose(Q, T_true, atol=1e-9)
    # with the pair (0, 3) fully supported too (an essential matrix with 100 inliers scores
    # 1), the shallowest tree wins the tie, as before
    edges[(0, 3)] = (1.0, bad)
    assert consistent_tree(edges, P, np.array([0, 0, 0, 0]), 5.0)[1][3] == 0


def test_a_wrong_pair_alignment_is_outvoted_in_a_window(scene4, monkeypatch):
    window, T_true, pts = scene4
    images = [v.image for v in window.views]
    K = np.stack([v.K for v in window.views])
    place = pose_rgb._place_pair

    def wrong_23(a, b, *args):  # view 3's alignment from view 2 wrong, and scored best
        cand = place(a, b, *args)
        if (a, b) == (2, 3) and cand is not None:
            cand = (cand[0] + 1.0, a, wrong(cand[2]), *cand[3:])
        return cand

    monkeypatch.setattr(pose_rgb, "_place_pair", wrong_23)
    off = refine_rgb_views(T_true, images, K, pts, RgbPoseConfig(consistency_deg=0.0,
                                                                 reseat_rounds=0))  # fmt: skip
    assert off.ok.all() and off.anchor[3] == 2
    assert rot_err(off.T_ref_cam[[0, 3]], T_true[[0, 3]]) > 15.0  # published wrong
    # without the vote, putting views back after the joint step (step 5) finds it too
    back = refine_rgb_views(T_true, images, K, pts, RgbPoseConfig(consistency_deg=0.0))
    assert max(pairwise_pose_errors(list(back.T_ref_cam), list(T_true))[0]) < 5.0
    out = refine_rgb_views(T_true, images, K, pts)
    assert out.ok.all() and out.anchor[3] != 2
    errs = pairwise_pose_errors(list(out.T_ref_cam), list(T_true))[0]
    assert max(errs) < 5.0, errs


DEV = Path(__file__).resolve().parents[2] / "shared/data/7scenes-redkitchen-dev"


def real_frames(frames, tilt_deg):
    """Return images, K, view 0's measured points, true poses and a head guess of dev frames.

    The points (2048, view 0's frame) and the translations are divided by the points'
    median distance (the model's normalised scale); the points are tilted by ``tilt_deg``
    about the x axis through their centroid (a decoded plane off by that much). The head
    guess turns views 1 and 2 by 5.7 degrees (about y and x).
    """
    from nova3r_ros.core.pointcloud import backproject_depth
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    window, gt = SevenScenesSequence(DEV).window(frames, known_poses=True)
    v0 = window.views[0]
    P = backproject_depth(np.asarray(v0.depth), np.asarray(v0.K), stride=4)[0]
    P = P[np.random.default_rng(0).choice(len(P), 2048, replace=False)].astype(np.float64)
    s = float(np.median(np.linalg.norm(P, axis=1)))  # the model's normalised scale
    P = ((P - P.mean(0)) @ rot([1.0, 0.0, 0.0], tilt_deg).T + P.mean(0)) / s
    T0_inv = np.linalg.inv(gt.T_world_cam[0])
    T_true = np.stack([T0_inv @ T for T in gt.T_world_cam])
    T_true[:, :3, 3] /= s
    head = T_true.copy()
    for v, axis in zip(range(1, len(head)), ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0]), strict=False):
        head[v, :3, :3] = T_true[v, :3, :3] @ rot(axis, 5.7)
    images, K = [v.image for v in window.views], np.stack([v.K for v in window.views])
    return images, K, P, T_true, head


@pytest.mark.skipif(not DEV.is_dir(), reason=f"{DEV} not present")
@pytest.mark.parametrize("first,tilt_deg", [(0, 30.0), (0, -30.0), (60, 30.0)])
def test_a_plane_pose_that_the_matches_contradict_is_not_used(first, tilt_deg):
    """Place a view by its matches where the decoded plane is off.

    Real frames 20 apart, the decoded plane tilted by 30 degrees (as the model's can be on
    real images): the plane's pose is off; the essential matrix from many matches places
    the view instead.
    """
    images, K, P, T_true, head = real_frames([first, first + 20], tilt_deg)
    errs = {}
    for share in (0.0, RgbPoseConfig().min_match_share):
        # 3 levels: from the pair's coarser 4th level the tilted plane's pose of frames
        # 60/80 lands near the truth unchecked, and the check would not be exercised there
        cfg = RgbPoseConfig(min_match_share=share, pair_direct_iters=())
        out = refine_rgb_views(head, images, K, P, cfg)
        r, t = pairwise_pose_errors(list(out.T_ref_cam), list(T_true))
        errs[share] = float(r[0]), float(t[0])
    assert errs[0.0][1] > 15.0  # the plane's pose, unchecked: translation off
    checked = errs[RgbPoseConfig().min_match_share]
    assert checked[0] < 1.5 and checked[1] < 10.0


@pytest.mark.skipif(not DEV.is_dir(), reason=f"{DEV} not present")
@pytest.mark.parametrize("tilt_deg", [0.0, 30.0])
def test_a_joint_refinement_that_loses_the_matches_is_not_kept(tilt_deg):
    """Keep the pairwise poses of real frames where the joint refinement loses the matches.

    Three real frames 15 apart; a kitchen is not one plane, so the joint refinement over
    the dominant plane (measured, or tilted as the model's can be) moves the views off,
    and the matches' check keeps the pairwise placement.
    """
    from nova3r_ros.model.pose_rgb import PAIRS_ONLY

    images, K, P, T_true, head = real_frames([0, 15, 30], tilt_deg)
    unchecked = refine_rgb_views(head, images, K, P, RgbPoseConfig(joint_min_match_ratio=0.0))
    assert min(pairwise_pose_errors(list(unchecked.T_ref_cam), list(T_true))[1]) > 15.0
    assert unchecked.joint_kept and unchecked.stats()["pose_joint_kept"] == 1.0
    pairs = refine_rgb_views(head, images, K, P, PAIRS_ONLY)
    out = refine_rgb_views(head, images, K, P)
    assert np.array_equal(out.T_ref_cam, pairs.T_ref_cam)
    assert not out.joint_kept and not pairs.joint_kept
    assert out.stats()["pose_joint_kept"] == 0.0
    assert max(pairwise_pose_errors(list(out.T_ref_cam), list(T_true))[0]) < 1.5


@pytest.mark.skipif(not DEV.is_dir(), reason=f"{DEV} not present")
def test_a_pair_that_its_matches_fix_skips_the_joint_refinement():
    """Two real frames 20 apart: hundreds of matches fix the pair, so step 5 does not run.

    Run anyway (``joint_skip_matches`` out of reach), the joint refinement over the one
    plane passes its match check here and moves the translation further off.
    """
    from nova3r_ros.model.pose_rgb import PAIRS_ONLY

    images, K, P, T_true, head = real_frames([40, 60], 0.0)
    forced = refine_rgb_views(head, images, K, P, RgbPoseConfig(joint_skip_matches=10**9))
    pairs = refine_rgb_views(head, images, K, P, PAIRS_ONLY)
    out = refine_rgb_views(head, images, K, P)
    assert forced.joint_kept and not out.joint_kept
    assert np.array_equal(out.T_ref_cam, pairs.T_ref_cam)
    t_forced = pairwise_pose_errors(list(forced.T_ref_cam), list(T_true))[1][0]
    t_out = pairwise_pose_errors(list(out.T_ref_cam), list(T_true))[1][0]
    assert t_forced > t_out + 5.0


@pytest.mark.skipif(not DEV.is_dir(), reason=f"{DEV} not present")
@pytest.mark.parametrize("frames", [[61, 71], [65, 75]])
def test_sifts_well_supported_pose_holds_against_more_learned_inliers(frames):
    """Real frames 10 apart, session 48's matcher: SIFT's E (about 115 inliers) holds.

    The learned matches' E counts about 590 inliers (cells, a wider threshold) with the
    translation 23-24 degrees off; with no limit (``learned_max_sift_inliers`` 0) it stands
    in for SIFT's, with the default it does not and SIFT's pose is within 8 degrees.
    """
    from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, K, P, T_true, head = real_frames(frames, 0.0)
    loose = refine_rgb_views(head, images, K, P, RgbPoseConfig(learned_max_sift_inliers=0),
                             matcher=net)  # fmt: skip
    out = refine_rgb_views(head, images, K, P, matcher=net)
    assert loose.stats()["pose_learned_pairs"] == 1.0 and loose.inliers[1] > 400
    assert out.stats()["pose_learned_pairs"] == 0.0
    assert RgbPoseConfig().learned_max_sift_inliers <= out.inliers[1] < 400
    t_loose = pairwise_pose_errors(list(loose.T_ref_cam), list(T_true))[1][0]
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(T_true))
    assert t_loose > 15.0 and t[0] < 8.0 and r[0] < 2.5
    # the packaged matcher (session 56's) keeps SIFT's pose with the defaults too
    now = refine_rgb_views(head, images, K, P, matcher=load_matcher(PACKAGED_CHECKPOINT)[0])
    r, t = pairwise_pose_errors(list(now.T_ref_cam), list(T_true))
    assert now.stats()["pose_learned_pairs"] == 0.0 and t[0] < 8.0 and r[0] < 2.5


def test_two_synthetic_views_are_refined_jointly_with_the_plane():
    """Two rendered views, a plane tilted 5 degrees: step 5 runs with 2 views and is kept."""
    window, gt = generate_window(1_500_001, benchmark_config(2, height=192, width=256))
    T0 = np.linalg.inv(gt.T_world_cam[0])
    T_true = np.stack([T0 @ T for T in gt.T_world_cam])
    pts = gt.points.astype(np.float64) @ T0[:3, :3].T + T0[:3, 3]
    pts = pts[np.random.default_rng(0).choice(len(pts), 4096, replace=False)]
    pts = (pts - pts.mean(0)) @ rot([1.0, 0.0, 0.0], 5.0).T + pts.mean(0)
    head = T_true.copy()
    head[1, :3, :3] = T_true[1, :3, :3] @ rot([0.0, 1.0, 0.0], 5.7)
    images, K = [v.image for v in window.views], np.stack([v.K for v in window.views])
    out = refine_rgb_views(head, images, K, pts)
    off = refine_rgb_views(head, images, K, pts, RgbPoseConfig(joint_min_views=3))
    assert out.joint_kept and not off.joint_kept
    assert not np.array_equal(out.T_ref_cam, off.T_ref_cam)
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(T_true))
    assert r[0] < 3.0 and t[0] < 5.0


def _decoded_window(seed: int, views: int = 2):
    """Return an RGB-only tabletop window's images, ground truth and stored decode.

    The window is rendered as ``nova3r eval`` renders it (256x192); the packaged model's
    head poses ``T`` (V, 4, 4), decoded points ``pts`` (1024, 3, view 0's frame, float64)
    and ``K`` (V, 3, 3) come from ``test/data/decoded_rgb_pair_<seed>.npz`` (2 views) or
    ``decoded_rgb_<V>views_<seed>.npz`` (its CPU decode by ``scripts/rgb_pose_ab.py``), so
    that a test does not hinge on how a CPU rounds the decoder.
    """
    window, gt = generate_window(seed, benchmark_config(views, height=192, width=256))
    name = f"decoded_rgb_pair_{seed}" if views == 2 else f"decoded_rgb_{views}views_{seed}"
    with np.load(Path(__file__).parent / "data" / f"{name}.npz", allow_pickle=False) as f:
        T, pts, K = f["T_ref_head"], f["points"].astype(np.float64), f["K"]
    return [v.image for v in window.views], gt, T, pts, K


def test_a_pair_slid_along_striped_table_is_placed_from_a_coarser_level():
    """Seed 1,500,463: with 3 levels the pair slides along the stripes (translation 27 deg).

    The head's poses and decoded points are the packaged model's (run 8) for this window as
    ``scripts/rgb_pose_ab.py`` decodes it (CPU, 1,024 points, 4 steps, seed 0), stored in
    ``test/data/decoded_rgb_pair_1500463.npz`` so that the test does not depend on how a
    CPU rounds the decoder; with one coarser level (the 2-view default) the table's edge
    and objects place the pair. (The planar-twin step, off in the 3-level run here, also
    brings that run's translation to 7 degrees: SIFT's E pose there is neither of the
    table's two poses, and the one the decoded plane prefers explains as many matches.)
    """
    images, gt, T, pts, K = _decoded_window(1_500_463)
    out = refine_rgb_views(T, images, K, pts)
    three_levels = RgbPoseConfig(pair_direct_iters=(), twin_min_gain_deg=0.0)
    flat = refine_rgb_views(T, images, K, pts, three_levels)
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(gt.T_world_cam))
    t_flat = pairwise_pose_errors(list(flat.T_ref_cam), list(gt.T_world_cam))[1]
    assert out.ok[1] and flat.ok[1]  # both pass their checks: the slide is not caught there
    assert r[0] < 3.0 and t[0] < 5.0
    assert t_flat[0] > 15.0


def test_a_pair_frees_the_plane_normal_from_its_decoded_tilt():
    """Seed 1,500,751: the decoded plane's normal is off, and held near it the pair tilts.

    The head's poses and decoded points are the packaged model's for this window, stored as
    for seed 1,500,463 (``test/data/decoded_rgb_pair_1500751.npz``). With the weaker 2-view
    prior (the default) the joint refinement ends within 5 degrees. With the window-wide
    prior (``pair_joint_prior_weight=None``) it kept the pair 12 degrees off on a 2-core AMD
    EPYC but ends 4.1 degrees off on a 2-core Intel Xeon (the descent's path differs in
    floating point between CPUs), so only the default's accuracy is asserted.
    """
    images, gt, T, pts, K = _decoded_window(1_500_751)
    out = refine_rgb_views(T, images, K, pts)
    held = refine_rgb_views(T, images, K, pts, RgbPoseConfig(pair_joint_prior_weight=None))
    assert out.joint_kept and held.joint_kept and out.ok[1] and held.ok[1]
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(gt.T_world_cam))
    assert r[0] < 5.0 and t[0] < 5.0


def test_a_weak_pair_alignment_gives_way_to_an_orbited_start_that_explains_more():
    """Seed 1,500,552: the head's start ends 38 deg off at correlation 0.63 and passes.

    The head's poses and decoded points are the packaged model's for this window, stored as
    for seed 1,500,463 (``test/data/decoded_rgb_pair_1500552.npz``). The start from the
    head's guess ends in a poor minimum that still passes ``min_ecc`` and explains few of
    the pair's feature matches; the head's guess orbited 15 degrees about the plane's
    normal aligns within 1 degree and explains clearly more of them, so it replaces it (the
    default). Without that second look (``recheck_share=0``) the pair stays far off: 38
    degrees in rotation on a 2-core AMD EPYC, 5.7 in rotation and 27 in translation
    direction on a 2-core Intel Xeon (the descent's path differs in floating point between
    CPUs).
    """
    images, gt, T, pts, K = _decoded_window(1_500_552)
    out = refine_rgb_views(T, images, K, pts)
    once = refine_rgb_views(T, images, K, pts, RgbPoseConfig(recheck_share=0.0))
    assert out.ok[1] and once.ok[1]  # both pass their checks
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(gt.T_world_cam))
    assert r[0] < 1.0 and t[0] < 2.0
    r_once, t_once = pairwise_pose_errors(list(once.T_ref_cam), list(gt.T_world_cam))
    assert max(r_once[0], t_once[0]) > 20.0
    assert out.confidence[1] > once.confidence[1] + 0.2  # better correlation, more matches


def test_four_views_refine_jointly_from_one_coarser_level():
    """Seed 1,500,584 (4 views): on 3 pyramid levels the joint step leaves 3 pairs 18-24 deg off.

    The head's poses and decoded points are the packaged model's for this window, stored as
    for seed 1,500,463 (``test/data/decoded_rgb_4views_1500584.npz``). Windows of 3 or more
    views refine on ``multi_joint_iters`` (4 levels, one coarser: the default) and end
    within 3 degrees; on ``joint_iters`` (3 levels, ``multi_joint_iters=()``) they do not.
    """
    images, gt, T, pts, K = _decoded_window(1_500_584, views=4)
    out = refine_rgb_views(T, images, K, pts)
    fine = refine_rgb_views(T, images, K, pts, RgbPoseConfig(multi_joint_iters=()))
    assert out.ok.all() and fine.ok.all() and out.joint_kept and fine.joint_kept
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(gt.T_world_cam))
    r_fine = pairwise_pose_errors(list(fine.T_ref_cam), list(gt.T_world_cam))[0]
    assert max(r) < 3.0 and max(t) < 5.0
    assert max(r_fine) > 15.0


def test_a_view_the_joint_step_carries_off_is_put_back():
    """Seed 1,500,499 (4 views): the joint step carries view 3 about 20 deg off its pairs.

    The head's poses and decoded points are the packaged model's for this window, stored as
    for seed 1,500,463 (``test/data/decoded_rgb_4views_1500499.npz``). Its pairwise
    placement put view 3 within 5 degrees; the joint step, descending coarse to fine, ends
    at a worse loss than that placement (``reseat_rounds=0``: three pairs 19-22 degrees
    off). Put back where the loss at full size is lower and refined again (the default),
    every pair ends within 2 degrees; put back without refining again, within 5.
    """
    images, gt, T, pts, K = _decoded_window(1_500_499, views=4)
    out = refine_rgb_views(T, images, K, pts)
    left = refine_rgb_views(T, images, K, pts, RgbPoseConfig(reseat_rounds=0))
    back = refine_rgb_views(T, images, K, pts, RgbPoseConfig(reseat_polish_iters=()))
    assert out.ok.all() and left.ok.all() and out.joint_kept and left.joint_kept
    assert out.views_put_back == 1 and left.views_put_back == 0
    assert out.stats()["pose_views_put_back"] == 1.0
    r, t = pairwise_pose_errors(list(out.T_ref_cam), list(gt.T_world_cam))
    assert max(r) < 2.0 and max(t) < 3.0
    assert max(pairwise_pose_errors(list(back.T_ref_cam), list(gt.T_world_cam))[0]) < 5.5
    assert max(pairwise_pose_errors(list(left.T_ref_cam), list(gt.T_world_cam))[0]) > 15.0


def test_a_second_joint_descent_keeps_the_lower_loss():
    """Seed 1,500,540 (4 views): the joint step from 4 levels ends 10-16 deg off; from 3, not.

    The head's poses and decoded points are the packaged model's for this window, stored as
    for seed 1,500,463 (``test/data/decoded_rgb_4views_1500540.npz``). With
    ``multi_joint_alt_iters`` the joint step also descends on 3 levels, and that result
    scores the lower loss at full size: every pair ends within 2 degrees.
    """
    images, gt, T, pts, K = _decoded_window(1_500_540, views=4)
    one = refine_rgb_views(T, images, K, pts)
    two = refine_rgb_views(T, images, K, pts, RgbPoseConfig(multi_joint_alt_iters=(20, 10, 10)))
    assert one.ok.all() and two.ok.all() and one.joint_kept and two.joint_kept
    r, t = pairwise_pose_errors(list(two.T_ref_cam), list(gt.T_world_cam))
    assert max(r) < 2.0 and max(t) < 2.5
    assert max(pairwise_pose_errors(list(one.T_ref_cam), list(gt.T_world_cam))[0]) > 15.0


def test_a_pair_the_joint_step_slides_off_its_learned_matches_keeps_its_placement():
    """Seed 1,500,163: the pair is placed within half a degree; the joint step slides it off.

    The head's poses and decoded points are the packaged model's for this window, stored as
    for seed 1,500,463 (``test/data/decoded_rgb_pair_1500163.npz``). SIFT finds too few
    matches to check the joint refinement, which ends 13 degrees off; session 48's learned
    matcher's matches explained by the pair's placement are lost there, and with
    ``pair_learned_check_min`` the placement is kept.
    """
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_500_163)
    slid = refine_rgb_views(T, images, K, pts, RgbPoseConfig(pair_learned_check_min=0), net)
    kept = refine_rgb_views(T, images, K, pts, RgbPoseConfig(pair_learned_check_min=8), net)
    r_slid = pairwise_pose_errors(list(slid.T_ref_cam), list(gt.T_world_cam))[0]
    r, t = pairwise_pose_errors(list(kept.T_ref_cam), list(gt.T_world_cam))
    assert slid.joint_kept and r_slid[0] > 10.0
    assert not kept.joint_kept and r[0] < 1.5 and t[0] < 3.0
    # without a matcher the option changes nothing
    plain = refine_rgb_views(T, images, K, pts, RgbPoseConfig(pair_learned_check_min=8))
    assert np.allclose(plain.T_ref_cam, refine_rgb_views(T, images, K, pts).T_ref_cam)


def test_a_stricter_learned_check_refuses_a_joint_step_that_keeps_half_the_matches():
    """Seed 1,512,329 (stored CPU decode): the joint step's 27 degrees pass the default check.

    The pair is placed within 2 degrees; the joint refinement ends 27 degrees off and still
    explains half the learned matches the placement explained, so the default check
    (``joint_min_match_ratio`` 0.5) keeps it; ``pair_learned_check_ratio`` 0.85 (an option,
    off by default: on fresh windows it moved AUC@30 by -0.000 to +0.004) refuses it.
    """
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_512_329)
    loose = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    strict = refine_rgb_views(T, images, K, pts, RgbPoseConfig(pair_learned_check_ratio=0.85), net)
    r_loose = pairwise_pose_errors(list(loose.T_ref_cam), list(gt.T_world_cam))[0]
    assert loose.joint_kept and r_loose[0] > 20.0
    r, t = pairwise_pose_errors(list(strict.T_ref_cam), list(gt.T_world_cam))
    assert not strict.joint_kept and r[0] < 3.0 and t[0] < 5.0


def test_four_views_off_their_learned_matches_are_polished_onto_them():
    """Seed 1,500,120, 4 views: placed 5-10 degrees off, polished within one degree.

    The head's poses and decoded points are the packaged model's CPU decode of this window
    (``test/data/decoded_rgb_4views_1500120.npz``). Over the decoded plane, whose normal is
    a few degrees off, every pair ends 5-10 degrees from the truth; session 48's learned
    matcher's matches, transferred through the plane while its normal is freed, bring every
    pair within one degree (:mod:`nova3r_ros.model.pose_rgb_polish`), and the stats say so.
    """
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_500_120, views=4)
    before = refine_rgb_views(T, images, K, pts, RgbPoseConfig(polish_scales_px=()), net)
    after = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    r0 = pairwise_pose_errors(list(before.T_ref_cam), list(gt.T_world_cam))[0]
    r, t = pairwise_pose_errors(list(after.T_ref_cam), list(gt.T_world_cam))
    assert not before.polished and max(r0) > 7.0
    assert after.polished and after.ok.all() and max(r) < 1.5 and max(t) < 3.0
    assert after.stats()["pose_polished"] == 1.0 and before.stats()["pose_polished"] == 0.0
    # without a matcher nothing is polished
    plain = refine_rgb_views(T, images, K, pts)
    assert not plain.polished and "pose_polished" not in plain.stats()


def test_a_joint_step_that_moves_good_placements_off_is_undone():
    """Seed 1,528,127, 4 views (stored CPU decode): the joint step carries views 10-20 deg off.

    The pairwise placement and the vote put every pair within a few degrees; the joint
    refinement passes its check (every pair keeps half its SIFT matches) and ends with pairs
    12-21 degrees off, which the polish on the learned matches does not bring back. The
    placement polished alike explains clearly more learned and SIFT matches, so step 7
    (``joint_undo_gain``, the packaged matcher) keeps it: every pair within 2 degrees.
    """
    from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(PACKAGED_CHECKPOINT, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_528_127, views=4)
    kept = refine_rgb_views(T, images, K, pts, RgbPoseConfig(joint_undo_gain=0.0), net)
    undone = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    r_kept = pairwise_pose_errors(list(kept.T_ref_cam), list(gt.T_world_cam))[0]
    r, t = pairwise_pose_errors(list(undone.T_ref_cam), list(gt.T_world_cam))
    assert kept.joint_kept and not kept.joint_undone and max(r_kept) > 15.0
    assert undone.joint_undone and undone.ok.all() and max(r) < 2.0 and max(t) < 3.0
    assert undone.stats()["pose_joint_undone"] == 1.0 and kept.stats()["pose_joint_undone"] == 0.0
    # a gain no placement reaches leaves the joint step's result, polish included, as it was
    never = refine_rgb_views(T, images, K, pts, RgbPoseConfig(joint_undo_gain=1e9), net)
    assert not never.joint_undone and np.allclose(never.T_ref_cam, kept.T_ref_cam)
    # without a matcher there is nothing to compare by
    plain = refine_rgb_views(T, images, K, pts)
    assert not plain.joint_undone and "pose_joint_undone" not in plain.stats()


def test_close_handheld_views_keep_the_joint_step(tmp_path):
    """A handheld camera's 3-view window (bag seed 1,200,000, window 8; stored CPU decode).

    The joint step leaves every pair within 1 degree and 8 degrees of translation
    direction; the poses before it, polished, explain 1.1-1.2 times as many matches (the
    product of step 7) but are 30-40 degrees off in translation (between close views the
    matches hardly fix its direction) and differ from it by under 3 degrees of rotation.
    Without the rotation condition (and with a gain of 1.02, clear of that product) step 7
    takes them; by default it keeps the joint step.
    """
    from nova3r_ros.cli import main
    from nova3r_ros.eval.bag_eval import bag_sequence, node_windows
    from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT
    from nova3r_ros.model.matcher_files import load_matcher

    bag = tmp_path / "rgb1"
    assert main(["make-bag", str(bag), "--cameras", "1", "--steps", "10", "--motion",
                 "handheld", "--no-depth", "--tf", "none", "--seed", "1200000"]) == 0  # fmt: skip
    _, item = node_windows(bag_sequence(str(bag)), 3)[8]
    with np.load(Path(__file__).parent / "data" / "decoded_rgb_bag_1200000_w8.npz") as f:
        T, pts, K = f["T_ref_head"], f["points"].astype(np.float64), f["K"]
    images = [v.image for v in item.window.views]
    net = load_matcher(PACKAGED_CHECKPOINT, "cpu")[0]
    loose_cfg = RgbPoseConfig(joint_undo_min_deg=0.0, joint_undo_gain=1.02)
    loose = refine_rgb_views(T, images, K, pts, loose_cfg, net)
    kept = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    _, t_loose = pairwise_pose_errors(list(loose.T_ref_cam), list(item.gt.T_world_cam))
    r, t = pairwise_pose_errors(list(kept.T_ref_cam), list(item.gt.T_world_cam))
    assert loose.joint_undone and max(t_loose) > 25.0
    assert kept.joint_kept and not kept.joint_undone and max(r) < 1.5 and max(t) < 10.0


def test_a_polish_the_images_disagree_with_is_not_kept():
    """Seed 1,500,121, 4 views: the learned matches are few (5-30 a pair) and pull wrong.

    Polished on them the poses explain more of them yet end farther off (a pair 10 -> 32
    degrees); their photometric loss over the polished plane is higher than before, so
    with ``polish_max_loss_ratio`` (default 1) the polish is not kept
    (``test/data/decoded_rgb_4views_1500121.npz``: the packaged model's CPU decode).
    """
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_500_121, views=4)
    none = refine_rgb_views(T, images, K, pts, RgbPoseConfig(polish_scales_px=()), net)
    unguarded = refine_rgb_views(T, images, K, pts, RgbPoseConfig(polish_max_loss_ratio=0.0), net)
    guarded = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    r_none = pairwise_pose_errors(list(none.T_ref_cam), list(gt.T_world_cam))[0]
    r_off = pairwise_pose_errors(list(unguarded.T_ref_cam), list(gt.T_world_cam))[0]
    assert unguarded.polished and max(r_off) > max(r_none) + 5.0
    assert not guarded.polished and np.array_equal(guarded.T_ref_cam, none.T_ref_cam)


def test_a_pair_placed_on_the_planar_twin_of_its_matches_is_moved_by_the_decoded_plane():
    """Seed 1,510,414, 2 views: the learned matches' essential matrix takes the planar twin.

    ``test/data/decoded_rgb_pair_1510414.npz``: the packaged model's CPU decode. The
    learned matches (344) lie on the table; the E pose 27 degrees off explains 337 of them,
    the true pose 335. The decomposition of their homography whose normal is nearest the
    decoded plane's is the true pose (:func:`.pose_rgb_epipolar.planar_twin`).
    """
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_510_414)
    off = refine_rgb_views(T, images, K, pts, RgbPoseConfig(twin_min_gain_deg=0.0), net)
    on = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    r_off = pairwise_pose_errors(list(off.T_ref_cam), list(gt.T_world_cam))[0]
    r, t = pairwise_pose_errors(list(on.T_ref_cam), list(gt.T_world_cam))
    assert on.ok.all() and r[0] < 4.0 and t[0] < 5.0
    assert off.stats()["pose_planar_twins"] == 0.0
    # The E pose is a near tie (337 against 335 matches). On CPUs whose SIMD rounds the
    # matcher's scores otherwise (an AVX2-only EPYC, 2026-12-06) the later steps bring the
    # pair back without the rule (2.6 degrees); the rule itself is tested on exact matches
    # in test_pose_rgb_planar_twin.py.
    if r_off[0] > 20.0:
        assert on.stats()["pose_planar_twins"] >= 1.0
    else:
        assert off.ok.all() and r_off[0] < 4.0


def test_a_view_no_pair_places_takes_a_weaker_learned_pose_with_the_fallback():
    """Seed 1,510,243, 2 views: nothing places view 1 but a learned E pose of 40 inliers.

    ``test/data/decoded_rgb_pair_1510243.npz``: the packaged model's CPU decode. SIFT's
    matches are wrong and the plane alignment fails its checks, so by default view 1 keeps
    the head's guess (22 degrees off) and is not published. Its learned matches' E pose
    (40 inliers, under ``learned_min_inliers``) is within 3 degrees; with
    ``learned_fallback_min_inliers`` 20 a third pass places the view from it.
    """
    from nova3r_ros.model.matcher_files import load_matcher

    net = load_matcher(SESSION48_MATCHER, "cpu")[0]
    images, gt, T, pts, K = _decoded_window(1_510_243)
    plain = refine_rgb_views(T, images, K, pts, RgbPoseConfig(), net)
    weak = refine_rgb_views(T, images, K, pts, RgbPoseConfig(learned_fallback_min_inliers=20),
                            net)  # fmt: skip
    r, t = pairwise_pose_errors(list(weak.T_ref_cam), list(gt.T_world_cam))
    assert not plain.ok[1] and np.allclose(plain.T_ref_cam, T)
    assert weak.ok[1] and r[0] < 4.0 and t[0] < 6.0 and weak.confidence[1] < 0.5
    # without a matcher the option changes nothing
    bare = refine_rgb_views(T, images, K, pts, RgbPoseConfig(learned_fallback_min_inliers=20))
    assert not bare.ok[1]

"""Windows chained into one world without TF: the map check, failures, relocalisation, e2e.

The end-to-end tests replay a synthetic handheld bag with no TF through the node over
real rclpy loopback (``nova3r eval-bag``, lock-step) and score the trajectory the node
put on ``/tf`` against the sidecar after alignment.
"""

import json

import numpy as np
import pytest
from test_node_support import STAMP0, H, K, W, look_at, render

from nova3r_ros.bags.make import BagOptions, make_synthetic
from nova3r_ros.bags.sequence import SequenceConfig
from nova3r_ros.cli import main
from nova3r_ros.core.camera import PinholeCamera
from nova3r_ros.core.transforms import rotation_angle_deg
from nova3r_ros.eval.bag_eval import Trajectory, trajectory_metrics
from nova3r_ros.ros.backend import Backend
from nova3r_ros.ros.chaining import ChainError
from nova3r_ros.ros.keyframes import Keyframe, thumbnail
from nova3r_ros.ros.processing import Processor, ProcessorConfig
from nova3r_ros.ros.sync import CameraFrame, FrameGroup


def arc_pose(deg: float, height: float = 0.8) -> np.ndarray:
    """Return a camera on a 1.2 m circle around the box, looking at it."""
    a = np.radians(deg)
    return look_at([1.2 * np.cos(a), 1.2 * np.sin(a), height])


def frame_at(step: int, T_world_cam: np.ndarray) -> Keyframe:
    rgb, depth = render(T_world_cam)
    f = CameraFrame("cam0", STAMP0 + step * 10**8, "cam0_optical_frame", rgb, depth,
                    PinholeCamera(K, W, H))  # fmt: skip
    return Keyframe(FrameGroup([f]), [None], [None], [thumbnail(rgb)])


def depth_processor() -> Processor:
    values = dict(voxel_size=0.01, depth_stride=1, max_depth=0.0)
    return Processor(Backend("depth", values, "map"), ProcessorConfig(resolution=0.05))


def relative_errors(est, truth):
    """Per pose (m, deg) error of est[i] relative to est[0], against the truth's."""
    out = []
    for E, G in zip(est, truth, strict=True):
        dE, dG = np.linalg.inv(est[0]) @ E, np.linalg.inv(truth[0]) @ G
        D = np.linalg.inv(dG) @ dE
        out.append((float(np.linalg.norm(D[:3, 3])), float(rotation_angle_deg(D[:3, :3]))))
    return np.array(out)


def test_a_moving_camera_is_tracked_on_the_map_without_tf():
    proc = depth_processor()
    truth = [arc_pose(3.0 * i, 0.8 + 0.01 * i) for i in range(8)]  # 3 deg, 6 cm per step
    est = []
    for i, T in enumerate(truth):
        r = proc.process([frame_at(i, T)])
        assert r.pose_source == "estimated" and len(r.tf) == 1
        est.append(r.tf[0][0])
        if i:
            assert "refined on the map" in r.anchoring
    err = relative_errors(est, truth)
    assert err[:, 0].max() < 0.015 and err[:, 1].max() < 0.5, err  # 6 cm a step: tracked
    s = proc.chainer.stats
    assert s.windows_map_tracked == 7 and s.windows_not_placed == 0
    # the static-camera guess alone is off by the whole motion: the map corrected it
    assert np.linalg.norm(truth[-1][:3, 3] - truth[-2][:3, 3]) > 0.05


def test_a_window_that_agrees_with_no_placement_is_not_published_then_relocalised():
    proc = depth_processor()
    for i in range(3):
        proc.process([frame_at(i, arc_pose(3.0 * i))])
    blocked = frame_at(3, arc_pose(6.0))  # something 0.4 m in front of the lens
    blocked.group.frames[0].depth = np.full((H, W), 0.4, np.float32)
    with pytest.raises(ChainError, match="not placed"):
        proc.process([blocked])
    s = proc.chainer.stats
    assert s.windows_not_placed == 1 and "not placed" in s.chain_last
    back = proc.process([frame_at(4, arc_pose(7.0))])  # near the last placed pose again
    assert "relocalised" in back.anchoring and s.windows_relocalised == 1
    placed = [proc.anchor.camera_pose("cam0")]
    for i, deg in ((5, 10.0), (6, 13.0)):  # tracked again from there
        placed.append(proc.process([frame_at(i, arc_pose(deg))]).tf[0][0])
    err = relative_errors(placed, [arc_pose(d) for d in (7.0, 10.0, 13.0)])
    assert err[:, 0].max() < 0.015 and err[:, 1].max() < 0.5, err
    values = proc.chainer.values()
    assert values["chain/windows_not_placed"] == 1 and values["chain/windows_relocalised"] == 1


def test_trajectory_metrics_align_and_see_a_jump():
    truth = [arc_pose(3.0 * i) for i in range(10)]
    Tw = np.eye(4)
    Tw[:3, :3] = look_at([1, 0.3, 0.5])[:3, :3]  # any world: alignment removes it
    Tw[:3, 3] = [3, -1, 2]
    est = [Tw @ T for T in truth]
    traj = Trajectory([("cam0", i) for i in range(10)], list(est), truth)
    m = trajectory_metrics(traj, metric=True)
    assert m["ate"] < 1e-9 and m["ate_deg"] < 1e-6 and m["error_change_max"] < 1e-9
    np.testing.assert_allclose(traj.T_gt_node @ Tw, np.eye(4), atol=1e-9)
    jumped = [T.copy() for T in est]
    for T in jumped[5:]:  # the trajectory jumps by 8 cm after step 4 and stays off
        T[:3, 3] += Tw[:3, :3] @ [0.08, 0, 0]
    jumped[7] = None
    m = trajectory_metrics(Trajectory(traj.keys, jumped, truth), metric=True)
    # alignment takes up part of it (the ends differ by 8 cm), never all of it
    assert m["tracked"] == 0.9 and 0.05 < m["error_change_max"] < 0.09 and m["ate"] > 0.02


@pytest.fixture(scope="module")
def handheld_bag(tmp_path_factory):
    """Write a bag of a handheld camera: 30 deg over 8 steps, 1 cm / 1 deg shake, no TF."""
    seq = SequenceConfig(cameras=1, steps=8, motion="handheld", arc_deg=30.0, height=96,
                         width=128, n_gt_points=20_000, seed=1_200_021)  # fmt: skip
    return make_synthetic(tmp_path_factory.mktemp("hh") / "bag", seq, BagOptions(tf="none"),
                          log=lambda s: None)  # fmt: skip


@pytest.mark.parametrize("backend", ["depth", "model"])
def test_handheld_bag_without_tf_gives_one_consistent_trajectory(handheld_bag, tmp_path,
                                                                 capsys, backend):  # fmt: skip
    out = tmp_path / "out"
    args = ["eval-bag", str(handheld_bag), "--backend", backend, "--window-size", "2",
            "--points", "512", "--steps", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "trajectory (no TF; SE(3)-aligned to the sidecar)" in printed
    traj = json.loads((out / "trajectory.json").read_text())
    assert traj["tracked"] == 1.0  # every step's camera pose went out on /tf
    assert traj["ate"] < 0.02 and traj["error_change_max"] < 0.03, traj
    assert traj["ate_deg"] < 2.0, traj
    assert traj["chain/windows_not_placed"] == 0 and traj["chain/map_points"] > 1000, traj
    assert "chaining: windows_chained" in printed
    m = json.loads((out / "metrics.json").read_text())[f"node ({backend})"]
    assert m["published"] == 1.0 and m["ate"] == pytest.approx(traj["ate"])
    # the clouds, moved into the sidecar's world by the alignment, lie on the surface
    assert m["precision@5cm"] > 0.8, m


def test_a_view_whose_pose_fails_gets_no_tf_and_is_counted():
    """The real model on a window whose newest view is blocked: its pose fails the checks."""
    from nova3r_ros.ros.backend import open_backend

    values = dict(backend="model", device="cpu", checkpoint="", n_points=256, ode_steps=2,
                  depth_consistency=True, output_spacing=0.02, min_confidence=0.7,
                  publish_completion=True, plane_completion=True, voxel_size=0.01,
                  plane_max_oblique_deg=-1.0, silhouette_depth_m=-1.0, open_hole_share=-1.0,
                  fusion_sigmas=-1.0,
                  hidden_completion=True, hidden_min_probability=-1.0, hidden_consensus=-1.0,
                  hidden_snap_subcells=0, hidden_snap_bounding_subcells=0,
                  hidden_single_view_min_probability=-1.0,
                  hidden_snap_existence=-1.0, hidden_snap_tolerance=-1.0,
                  hidden_snap_bounding_reach=-1.0, depth_stride=1, voxel_head="",
                  voxel_min_probability=-1.0, voxel_far=-1.0, voxel_points_per_cell=-1,
                  voxel_snap=-1.0,
                  behind_cut_from=-1.0,
                  behind_cut_to=-1.0, rgb_redecode=False, rgb_matcher="",
                  max_depth=0.0)  # fmt: skip
    backend = open_backend(values, "map")
    if backend.fallback:
        pytest.skip(f"the model cannot run here: {backend.fallback}")
    proc = Processor(backend, ProcessorConfig(resolution=0.05))
    first = frame_at(0, arc_pose(0.0))
    proc.process([first])
    blocked = frame_at(1, arc_pose(3.0))  # something 0.4 m in front of the lens
    blocked.group.frames[0].depth = np.full((H, W), 0.4, np.float32)
    r = proc.process([first, blocked])
    assert r.stats.get("pose_ok_1") == 0.0, r.stats  # the model's own check failed it
    assert r.tf == [] and r.view_cameras == ["cam0"] and len(r.T_world_cams) == 1
    assert proc.chainer.stats.views_tf_withheld == 1 and proc.chainer.stats.views_rescued == 0
    assert "views_tf_withheld" in str(proc.chainer.values())
    # its points are not published either: the cloud is view 0's depth (the box and floor)
    assert r.points[:, 2].max() < 0.45  # the box top is at 0.3 m; the blocking plane higher


def _sim3(scale: float, deg: float, t) -> np.ndarray:
    a = np.radians(deg)
    S = np.eye(4)
    S[:3, :3] = scale * np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0],
                                  [0, 0, 1]])  # fmt: skip
    S[:3, 3] = t
    return S


def _turned(T: np.ndarray, deg: float) -> np.ndarray:
    """``T`` with its camera turned by ``deg`` about its own x axis."""
    a = np.radians(deg)
    R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    out = T.copy()
    out[:3, :3] = T[:3, :3] @ R
    return out


def _shared_case(n: int):
    """Remembered world poses of ``n`` views, and the same views in a window's own frame."""
    world = [arc_pose(20.0 * i) for i in range(n)]
    S = _sim3(0.4, 35.0, [0.3, -0.2, 0.1])  # window frame -> world (normalised scale)
    S_inv = np.linalg.inv(S)
    out = []
    for T in world:
        T_out = S_inv @ T
        T_out[:3, :3] /= np.cbrt(np.linalg.det(T_out[:3, :3]))  # a camera pose: rigid
        out.append(T_out)
    return world, out, S


def test_shared_views_that_agree_keep_the_placement():
    from nova3r_ros.ros.chaining import MapChainer
    from nova3r_ros.ros.world import align_poses

    world, out, S = _shared_case(3)
    T = align_poses(out, world, with_scale=True)
    np.testing.assert_allclose(T, S, atol=1e-9)
    chainer = MapChainer()
    placed, how = chainer.check_shared(T, out, world, True)
    np.testing.assert_allclose(placed, T)
    assert how.startswith("3 shared views agree")
    assert chainer.stats.views_shared_dropped == chainer.stats.windows_not_placed == 0
    assert chainer.stats.windows_chained == 1 and "checked by its shared views" in (
        chainer.stats.chain_last
    )
    assert chainer.check_shared(T, out[:1], world[:1], True)[1] == "one shared view: unchecked"
    assert chainer.stats.windows_chained == 2 and chainer.stats.windows_unchecked == 1
    assert chainer.stats.chain_last == "chained through one shared view, unchecked"


def test_a_disagreeing_shared_view_is_left_out_of_the_placement():
    from nova3r_ros.ros.chaining import MapChainer
    from nova3r_ros.ros.world import align_poses

    world, out, S = _shared_case(4)
    out[2] = _turned(out[2], 30.0)  # that view's estimate is 30 deg off
    chainer = MapChainer()
    placed, how = chainer.check_shared(align_poses(out, world, True), out, world, True)
    np.testing.assert_allclose(placed, S, atol=1e-9)  # from the three that agree
    assert "1 disagreeing left out" in how and chainer.stats.views_shared_dropped == 1


def test_two_shared_views_that_disagree_do_not_place_the_window():
    from nova3r_ros.ros.chaining import MapChainer
    from nova3r_ros.ros.world import align_poses

    world, out, _ = _shared_case(2)
    out[1] = _turned(out[1], 25.0)
    chainer = MapChainer()
    with pytest.raises(ChainError, match="shared views disagree"):
        chainer.check_shared(align_poses(out, world, True), out, world, True)
    assert chainer.stats.windows_shared_disagree == chainer.stats.windows_not_placed == 1
    values = chainer.values()
    assert values["chain/windows_shared_disagree"] == 1

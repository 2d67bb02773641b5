"""ROS-free parts of the node: TF buffer, world anchoring, the worker and window processing."""

import threading
import time

import numpy as np
import pytest
from test_node_support import RIG, STAMP0, H, K, W, render, surface_distance

from nova3r_ros.core.camera import PinholeCamera
from nova3r_ros.core.occupancy import occupied_voxels
from nova3r_ros.core.transforms import rotation_angle_deg, se3_from_rt, se3_inverse
from nova3r_ros.pipeline import PipelineError
from nova3r_ros.ros.backend import Backend, open_backend
from nova3r_ros.ros.keyframes import Keyframe, thumbnail
from nova3r_ros.ros.processing import Processor, ProcessorConfig
from nova3r_ros.ros.sync import CameraFrame, FrameGroup
from nova3r_ros.ros.tf_listener import TfBuffer
from nova3r_ros.ros.worker import Worker
from nova3r_ros.ros.world import align_poses, fit_support_plane, gravity_frame


def rot_z(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def test_tf_buffer_looks_up_chains_and_ignores_own_frames():
    buf = TfBuffer(ignore_prefix="nova3r/")
    T_map_odom = se3_from_rt(rot_z(90), [1, 0, 0])
    T_odom_base = se3_from_rt(np.eye(3), [0, 2, 0])
    T_base_cam = se3_from_rt(rot_z(-30), [0.1, 0, 0.5])
    buf.set_transform("map", "odom", T_map_odom, 10, static=False)
    buf.set_transform("odom", "base", T_odom_base, 10, static=False)
    buf.set_transform("base", "cam", T_base_cam, 0, static=True)
    np.testing.assert_allclose(buf.lookup("map", "cam"), T_map_odom @ T_odom_base @ T_base_cam)
    np.testing.assert_allclose(buf.lookup("cam", "odom"), se3_inverse(T_odom_base @ T_base_cam))
    assert buf.lookup("map", "elsewhere") is None
    assert not buf.set_transform("map", "nova3r/cam", np.eye(4), 11, static=False)
    assert buf.lookup("map", "nova3r/cam") is None
    newer = se3_from_rt(np.eye(3), [0, 3, 0])
    buf.set_transform("odom", "base", newer, 20, static=False)
    buf.set_transform("odom", "base", T_odom_base, 15, static=False)  # late, older: ignored
    np.testing.assert_allclose(buf.lookup("odom", "base"), newer)


def test_support_plane_and_gravity_frame():
    rng = np.random.default_rng(1)
    tilt = se3_from_rt(rot_z(20) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]]), [0.3, -0.2, 1])
    floor = np.c_[rng.uniform(-1, 1, (3000, 2)), np.zeros(3000)]
    wall = np.c_[rng.uniform(-1, 1, 1000), np.full(1000, 1.0), rng.uniform(0, 1, 1000)]
    T_ref_world = tilt  # the points as a camera-centred frame would see them
    pts = (np.r_[floor, wall] @ T_ref_world[:3, :3].T) + T_ref_world[:3, 3]
    T_world_cam = se3_from_rt(np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0.0]]), [0, -0.8, 0.5])
    T_ref_cam = T_ref_world @ T_world_cam
    n, _, count = fit_support_plane(pts, -T_ref_cam[:3, 1], 0.01)
    np.testing.assert_allclose(n, T_ref_world[:3, 2], atol=1e-3)  # world z in the ref frame
    assert 3000 <= count < 3050  # the floor (and the wall's foot), not the wall
    T_new_ref, how = gravity_frame(pts, T_ref_cam)
    assert "RANSAC" in how
    cam = T_new_ref @ T_ref_cam
    assert cam[2, 3] == pytest.approx(0.5, abs=2e-3)  # the camera's height above the floor
    np.testing.assert_allclose(cam[:2, 3], 0, atol=1e-9)  # origin below camera 0
    floor_new = pts[:3000] @ T_new_ref[:3, :3].T + T_new_ref[:3, 3]
    np.testing.assert_allclose(floor_new[:, 2], 0, atol=3e-3)


def test_align_poses_rigid_and_similarity():
    T_b_a = se3_from_rt(rot_z(40), [1, 2, 3])
    S = T_b_a.copy()
    S[:3, :3] *= 2.0
    cams_a = [se3_from_rt(rot_z(10 * i), [i, i * i * 0.3, 0.1 * i]) for i in range(4)]
    scaled = [np.r_[np.c_[T[:3, :3], T[:3, 3] / 2.0], [[0, 0, 0, 1]]] for T in cams_a]
    np.testing.assert_allclose(align_poses(scaled, [S @ T for T in scaled], True), S, atol=1e-9)
    np.testing.assert_allclose(
        align_poses(cams_a, [T_b_a @ T for T in cams_a], False), T_b_a, atol=1e-9
    )
    one = align_poses(cams_a[:1], [T_b_a @ cams_a[0]], False)  # a single camera: rigid
    np.testing.assert_allclose(one, T_b_a, atol=1e-9)


def test_worker_keeps_only_the_newest_job_and_survives_errors():
    gate, results, errors = threading.Event(), [], []

    def process(job):
        gate.wait(5)
        if job == "bad":
            raise PipelineError("bad window")
        return job

    w = Worker(process, results.append, errors.append)
    w.start()
    w.submit("first")
    time.sleep(0.05)  # the worker holds "first"
    for job in ("second", "bad", "third"):
        w.submit(job)
    gate.set()
    deadline = time.monotonic() + 5
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results == ["first", "third"] and w.replaced == 2
    w.submit("bad")
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(errors[0], PipelineError) and w.failed == 1
    w.submit("fourth")
    while len(results) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results[-1] == "fourth"
    assert w.stop(5) and not w.alive


def test_worker_times_include_stages_added_by_on_result():
    class Job:
        def __init__(self):
            self.timings = {"backend": 0.01}

    done = threading.Event()

    def on_result(result):
        result.timings["publish_cloud"] = 0.002  # stages run after process() count too
        done.set()

    w = Worker(lambda job: job, on_result, lambda exc: None)
    w.start()
    w.submit(Job())
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while w.times.count == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert set(w.times.last) == {"backend", "publish_cloud", "queue_wait"}
    assert w.stop(5)


def keyframe(step, cams=("cam0", "cam1"), world=False, rig=False):
    cam = PinholeCamera(K, W, H)
    frames = []
    for c in cams:
        rgb, depth = render(RIG[c])
        frames.append(CameraFrame(c, STAMP0 + step * 10**8, f"{c}_optical_frame", rgb, depth, cam))
    poses = [RIG[c] for c in cams]
    none = [None] * len(cams)
    thumbs = [thumbnail(f.image) for f in frames]
    return Keyframe(FrameGroup(frames), poses if world else none, poses if rig else none, thumbs)


def depth_backend(**kw):
    values = dict(voxel_size=0.01, depth_stride=1, max_depth=0.0) | kw
    return Backend("depth", values, "map")


@pytest.mark.parametrize("source", ["tf_world", "tf_rig"])
def test_known_rig_gives_the_true_surface_and_poses(source):
    proc = Processor(depth_backend(), ProcessorConfig(resolution=0.05, z_min=0.05, z_max=1.0))
    for step in range(3):
        kfs = [keyframe(s, world=source == "tf_world", rig=source == "tf_rig")
               for s in range(max(0, step - 1), step + 1)]  # fmt: skip
        r = proc.process(kfs)
    assert r.pose_source == source and r.scale_mode == "metric" and r.frame == "map"
    assert r.stamp == STAMP0 + 2 * 10**8  # the newest view's stamp
    assert np.percentile(surface_distance(r.points), 99) < 0.01
    published = [] if source == "tf_world" else [f"nova3r/cam{i}_optical_frame" for i in (0, 1)]
    assert [child for _, child in r.tf] == published  # TF-known poses are never re-published
    for T, cam in zip(r.T_world_cams, r.view_cameras, strict=True):
        np.testing.assert_allclose(T, RIG[cam], atol=1e-9)
    g = r.grid  # the box [-0.2, 0.2] x [-0.15, 0.15] up to 0.3 m is occupied in the band
    col, row = (np.array([0.0, 0.0]) - g.origin_xy) // g.resolution
    assert g.data[int(row), int(col)] == 100
    col, row = (np.array([0.8, 0.0]) - g.origin_xy) // g.resolution  # between cam0 and box
    assert g.data[int(row), int(col)] == 0
    assert r.voxels is not None and len(r.voxels) > 10


def test_cloud_first_then_map_and_a_reset_in_between_drops_the_update():
    proc = Processor(depth_backend(), ProcessorConfig(resolution=0.05, z_min=0.05, z_max=1.0))
    r = proc.process_cloud([keyframe(0, world=True)])
    assert r.grid is None and r.voxels is None and "occupancy" not in r.timings
    assert len(proc.map.occupied()) == 0  # the map waits for update_map
    assert proc.update_map(r) is r and r.grid is not None and len(r.voxels) > 10
    assert r.timings["occupancy"] > 0 and r.map_input is None
    occupied = len(proc.map.occupied())
    proc.update_map(r)  # integrated once only
    assert len(proc.map.occupied()) == occupied
    stale = proc.process_cloud([keyframe(1, world=True)])
    assert proc.reset()  # the map and world are cleared before the update comes
    proc.update_map(stale)
    assert stale.grid is None and len(proc.map.occupied()) == 0


def test_occupancy_rays_per_cube_match_every_ray_on_the_grid():
    grids = []
    for cell in (1.0, 0.0):  # one ray per voxel-sized cube (the default), every ray
        cfg = ProcessorConfig(resolution=0.05, z_min=0.05, z_max=1.0, ray_cell_voxels=cell)
        proc = Processor(depth_backend(), cfg)
        grids.append((proc.process([keyframe(0, world=True)]).grid, proc.map))
    (fast, fast_map), (exact, exact_map) = grids
    np.testing.assert_array_equal(fast_map.occupied(), exact_map.occupied())
    free_fast = {tuple(v) for v in fast_map.free()}
    free_exact = {tuple(v) for v in exact_map.free()}
    assert free_fast <= free_exact and len(free_fast) > 0.95 * len(free_exact)
    assert fast.origin_xy == exact.origin_xy
    assert np.mean(fast.data == exact.data) > 0.99


def test_unposed_single_camera_is_gravity_aligned_by_the_floor():
    proc = Processor(depth_backend(), ProcessorConfig(resolution=0.05))
    r = proc.process([keyframe(0, cams=("cam0",))])
    assert r.pose_source == "estimated" and "RANSAC" in r.anchoring
    T = r.T_world_cams[0]
    assert T[2, 3] == pytest.approx(RIG["cam0"][2, 3], abs=0.01)  # height above the floor
    heights = r.points[:, 2]
    assert np.mean(np.abs(heights) < 0.01) > 0.5  # most points are floor at z = 0
    assert heights.max() == pytest.approx(0.3, abs=0.02)  # the box top
    down = rotation_angle_deg(T[:3, :3].T @ RIG["cam0"][:3, :3])  # yaw differs, tilt not
    assert T[:3, 2] @ [0, 0, 1] == pytest.approx(RIG["cam0"][:3, 2] @ [0, 0, 1], abs=1e-3)
    assert down > 0
    r2 = proc.process([keyframe(1, cams=("cam0",))])  # chained: a static camera stays put
    np.testing.assert_allclose(r2.T_world_cams[0], T, atol=1e-9)
    assert not proc.reset() or not proc.anchor.anchored


def test_depth_backend_without_poses_refuses_two_cameras():
    proc = Processor(depth_backend(), ProcessorConfig())
    with pytest.raises(PipelineError, match="poses from TF"):
        proc.process([keyframe(0)])


def test_crop_box_in_the_world_frame():
    proc = Processor(depth_backend(), ProcessorConfig(crop_lo=(-0.3, -0.3, 0.02),
                                                      crop_hi=(0.3, 0.3, 1.0)))  # fmt: skip
    r = proc.process([keyframe(0, world=True)])
    assert np.all(np.abs(r.points[:, :2]) <= 0.3) and r.points[:, 2].min() >= 0.02
    assert len(r.points) == len(r.colors) == len(r.observed) == len(r.confidence) > 100


class NormalisedDepth(Backend):
    """The depth backend's cloud divided by its median range: a stand-in for the model."""

    def run(self, window):
        rec = super().run(window)
        scale = float(np.median(np.linalg.norm(rec.points, axis=1)))
        rec.points = rec.points / scale
        rec.T_ref_cam = [np.r_[np.c_[T[:3, :3], T[:3, 3] / scale], [[0, 0, 0, 1]]]
                         for T in rec.T_ref_cam]  # fmt: skip
        rec.scale_mode = "normalized"
        return rec


def test_normalised_scale_withholds_grid_and_voxels():
    backend = NormalisedDepth("depth", dict(voxel_size=0.0, depth_stride=2, max_depth=0.0), "map")
    proc = Processor(backend, ProcessorConfig())
    r = proc.process([keyframe(0, cams=("cam0",))])
    assert r.scale_mode == "normalized" and r.grid is None and r.voxels is None
    assert len(proc.map.occupied()) == 0


class WithCompletion(Backend):
    """The depth backend's cloud plus completed points (observed False) of given confidence."""

    def __init__(self, completed, confidence):
        """Add ``completed`` world points (N, 3) with ``confidence`` (N,) to every window."""
        super().__init__("depth", dict(voxel_size=0.01, depth_stride=1, max_depth=0.0), "map")
        self.completed = np.asarray(completed, np.float32)
        self.completed_confidence = np.asarray(confidence, np.float32)

    def run(self, window):
        rec = super().run(window)
        n = len(self.completed)
        rec.points = np.r_[rec.points, self.completed]
        rec.colors = np.r_[rec.colors, np.zeros((n, 3), np.uint8)]
        rec.observed = np.r_[rec.observed, np.zeros(n, bool)]
        rec.confidence = np.r_[rec.confidence, self.completed_confidence]
        rec.stats = {"gated": 0, "completed": n}
        return rec


def test_completed_points_occupy_only_above_min_confidence_and_never_carve():
    cfg = ProcessorConfig(resolution=0.05, z_min=-1.0, z_max=1.0, min_confidence=0.5)
    plain = Processor(depth_backend(), cfg)
    plain.process([keyframe(0, world=True)])
    # Below the floor: no camera sees there and no ray reaches it (unknown in `plain`).
    completed = [
        [-0.52, 0.52, -0.42],
        [0.52, -0.52, -0.42],
        [-0.52, -0.52, -0.42],
        [0.02, 0.02, -0.22],
    ]
    confidence = [0.9, 0.5, 0.3, 0.49]  # the last two are under min_confidence
    proc = Processor(WithCompletion(completed, confidence), cfg)
    r = proc.process([keyframe(0, world=True)])
    assert r.stats == {"gated": 0, "completed": 4}  # the backend's stats reach the result
    assert int((~r.observed).sum()) == 4  # the cloud keeps them all; the map does not
    voxels = lambda m: {tuple(v) for v in m}  # noqa: E731
    extra = voxels(occupied_voxels(np.array(completed[:2]), 0.05, proc.map.origin))
    assert voxels(proc.map.occupied()) == voxels(plain.map.occupied()) | extra
    assert voxels(proc.map.free()) == voxels(plain.map.free())  # completions carve nothing
    low = voxels(occupied_voxels(np.array(completed[2:]), 0.05, proc.map.origin))
    assert not low & voxels(proc.map.occupied())


def test_model_parameters_reach_the_backend_config():
    values = dict(
        backend="model",
        device="cpu",
        checkpoint="",
        n_points=256,
        ode_steps=2,
        depth_consistency=True,
        output_spacing=0.02,
        min_confidence=0.7,
        publish_completion=False,
        plane_completion=False,
        plane_max_oblique_deg=30.0,
        silhouette_depth_m=0.05,
        open_hole_share=0.4,
        fusion_sigmas=1.5,
        hidden_completion=False,
        hidden_min_probability=0.6,
        hidden_single_view_min_probability=0.55,
        hidden_consensus=0.5,
        hidden_snap_subcells=2,
        hidden_snap_bounding_subcells=4,
        hidden_snap_existence=0.8,
        hidden_snap_tolerance=0.0,
        hidden_snap_bounding_reach=0.0,
        voxel_head="none",
        voxel_min_probability=0.4,
        voxel_far=0.1,
        voxel_points_per_cell=9,
        voxel_snap=0.05,
        behind_cut_from=0.1,
        behind_cut_to=0.4,
        rgb_redecode=True,
        rgb_matcher="none",
        voxel_size=0.01,
        depth_stride=2,
        max_depth=0.0,
    )
    try:
        backend = open_backend(values, "map")
    except PipelineError as exc:
        pytest.skip(f"no packaged checkpoint in this build: {exc}")
    try:
        if backend.fallback:
            pytest.skip(f"the model cannot run here: {backend.fallback}")
        c = backend.config
        assert (c.output_spacing, c.min_confidence, c.force_gate, c.publish) == (
            0.02, 0.7, True, True)  # fmt: skip
        assert (c.n_points, c.steps, c.device) == (256, 2, "cpu")
        assert c.rgb_redecode is True and c.rgb_matcher == "none"
        assert c.plane_completion is False and c.publish_config().plane_closing_m == 0
        assert c.hidden_head == "none" and c.publish_config().hidden_min_probability == 0.6
        snap = c.publish_config()
        assert (snap.hidden_snap_existence, snap.hidden_snap_tolerance) == (0.8, 0.0)
        assert snap.hidden_snap_bounding_reach_m == 0.0
        assert c.voxel_head == "none"
        assert (snap.voxel_min_probability, snap.voxel_far_m) == (0.4, 0.1)
        assert snap.voxel_points_per_cell == 9 and snap.voxel_snap_m == 0.05
        assert (snap.behind_cut_from_m, snap.behind_cut_to_m) == (0.1, 0.4)
        assert snap.plane_max_oblique_deg == 30.0
        assert snap.silhouette_depth_m == 0.05 and snap.open_hole_share == 0.4
        assert snap.fusion_sigmas == 1.5
        assert snap.hidden_consensus == 0.5
        assert snap.hidden_snap_subcells == 2 and snap.hidden_snap_bounding_subcells == 4
        assert snap.hidden_single_view_min_probability == 0.55
    finally:
        backend.release()

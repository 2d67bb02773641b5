"""The model backend in the node (real rclpy, loopback, tiny CPU settings) and its fallback.

The network runs for real, at 256 points and 2 ODE steps so that a window takes well
under a second on a CPU. The fallback rule (``ros/backend.py``): the model falls back
to the depth backend when it cannot run here (packaged checkpoint missing or broken,
no CUDA for ``device`` 'cuda'); an explicitly given checkpoint that is not one fails
configure.
"""

import os
import signal
import threading

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.parameter import Parameter
from test_node_support import TINY_MODEL, Harness, OneCamera, eager_params

from nova3r_ros.ros import backend as backend_module
from nova3r_ros.ros.conversions import pointcloud2_to_arrays
from nova3r_ros.ros.node import FAILURE, SUCCESS, ReconstructionNode

NO_CUDA = "device 'cuda' requested but no CUDA device is available"


@pytest.fixture
def ros():
    h = Harness()
    yield h
    h.close()


def _start(ros, **params):
    node = ros.add(ReconstructionNode(context=ros.context, parameter_overrides=eager_params(
        **params)))  # fmt: skip
    assert node.trigger_configure() == SUCCESS, node.last_error
    assert node.trigger_activate() == SUCCESS
    return node


def test_model_windows_report_the_published_cloud_and_the_gate(ros):
    node = _start(ros, **TINY_MODEL)
    assert node.backend.name == "model" and node.backend.fallback == ""
    cam = OneCamera(ros)
    assert cam.connected()
    cloud = cam.cloud(cam.send())
    assert cloud is not None, f"no cloud: {node.last_error!r}"
    assert ros.spin_until(lambda: node.latest is not None)  # set after the map update
    stats = node.latest.stats
    assert {"gated", "completed", "observed_conflict", "views_rejected"} <= set(stats)
    status, values = cam.diagnostics(lambda v: v.get("windows_processed") == "1")
    assert status is not None, "no /diagnostics after the window"
    assert values["backend"] == "model"
    assert values["cuda_graph_captures"] == "0"  # CPU: no CUDA graphs
    assert values["backend_process_restarts"] == "0"
    assert values["gated_last"] == ("true" if stats["gated"] else "false")
    assert values["windows_gated"] == str(int(stats["gated"]))
    assert values["completed_points_last"] == str(stats["completed"])
    assert values["plane_points_last"] == str(stats["plane_points"])
    assert values["hidden_points_last"] == str(stats["hidden_points"])
    assert values["side_points_last"] == str(stats["side_points"])
    assert values["observed_conflict_last"] == str(stats["observed_conflict"])
    assert values["views_rejected_last"] == str(stats["views_rejected"])
    assert values["open_pixels_last"] == str(stats.get("open_pixels", 0))
    assert status.level == DiagnosticStatus.OK, status.message  # gated or not: normal

    # publish_completion false: observed surfaces only; every window is gated, at OK level.
    assert node.trigger_deactivate() == SUCCESS and node.trigger_cleanup() == SUCCESS
    assert node.set_parameters([Parameter("publish_completion", value=False)])[0].successful
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    assert node.backend.config.force_gate and cam.connected()
    cloud = cam.cloud(cam.send())
    assert cloud is not None, f"no cloud: {node.last_error!r}"
    arrays = pointcloud2_to_arrays(cloud)
    assert len(arrays["points"]) > 1000
    assert np.all(arrays["observed"] == 1.0) and np.all(arrays["confidence"] == 1.0)
    status, values = cam.diagnostics(lambda v: v.get("gated_last") == "true")
    assert status is not None, "no gated window in /diagnostics"
    assert status.level == DiagnosticStatus.OK
    assert "gated (publish_completion false)" in status.message
    assert int(values["windows_gated"]) == int(values["windows_processed"]) >= 1
    assert values["completed_points_last"] == "0"
    assert values["plane_points_last"] == values["hidden_points_last"] == "0"  # forced gate
    assert values["side_points_last"] == "0"


def test_open_space_reaches_the_cloud_and_the_diagnostics(ros):
    """The rendered view misses 22 % of its pixels past the floor's edge, at the border."""
    node = _start(ros, **TINY_MODEL, open_hole_share=0.15)
    assert node.backend.config.publish_config().open_hole_share == 0.15
    cam = OneCamera(ros)
    assert cam.connected()
    assert cam.cloud(cam.send()) is not None, f"no cloud: {node.last_error!r}"
    assert ros.spin_until(lambda: node.latest is not None)
    stats = node.latest.stats
    assert stats["open_pixels"] > 1000
    status, values = cam.diagnostics(lambda v: v.get("windows_processed") == "1")
    assert values["open_pixels_last"] == str(stats["open_pixels"])
    assert status.level == DiagnosticStatus.OK
    assert "depth-hole pixels taken as open space" in status.message


def test_the_behind_cut_reaches_the_cloud_and_the_diagnostics(ros):
    """A band of 0-10 m cuts every completed point behind a measured surface.

    The node's window counts them in its stats and its diagnostics.
    """
    node = _start(ros, **TINY_MODEL, behind_cut_from=0.0, behind_cut_to=10.0)
    config = node.backend.config.publish_config()
    assert (config.behind_cut_from_m, config.behind_cut_to_m) == (0.0, 10.0)
    cam = OneCamera(ros)
    assert cam.connected()
    assert cam.cloud(cam.send()) is not None, f"no cloud: {node.last_error!r}"
    assert ros.spin_until(lambda: node.latest is not None)
    stats = node.latest.stats
    assert stats["gated"] == 1 and stats["behind_cut"] > 0
    _, values = cam.diagnostics(lambda v: v.get("windows_processed") == "1")
    assert values["behind_cut_last"] == str(stats["behind_cut"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: no fallback")
def test_cuda_without_cuda_falls_back_to_depth_and_keeps_running(ros, capfd):
    capfd.readouterr()
    node = _start(ros, backend="model", device="cuda")
    assert node.backend.name == "depth" and node.backend.fallback == NO_CUDA
    warnings = [ln for ln in capfd.readouterr().err.splitlines() if "unavailable" in ln]
    assert len(warnings) == 1 and NO_CUDA in warnings[0] and "WARN" in warnings[0]
    cam = OneCamera(ros)
    assert cam.connected()
    assert cam.cloud(cam.send()) is not None, f"no cloud: {node.last_error!r}"
    status, values = cam.diagnostics(lambda v: v.get("windows_processed") == "1")
    assert values["backend"] == f"depth (fallback: {NO_CUDA})"
    assert status.level == DiagnosticStatus.WARN and "fallback" in status.message


@pytest.mark.parametrize("packaged", ["missing", "broken"])
def test_packaged_checkpoint_missing_or_broken_falls_back(ros, tmp_path, monkeypatch, packaged):
    base = tmp_path / "base"
    if packaged == "broken":
        base.mkdir()
        (base / "config.json").write_text("{not json")
    monkeypatch.setattr(backend_module, "PACKAGED_CHECKPOINT", base)
    node = ros.add(ReconstructionNode(context=ros.context, parameter_overrides=[
        Parameter("backend", value="model"), Parameter("device", value="cpu"),
    ]))  # fmt: skip
    assert node.trigger_configure() == SUCCESS, node.last_error
    assert node.backend.name == "depth" and node.backend.label.startswith("depth (fallback: ")
    expected = "packaged checkpoint" if packaged == "missing" else "cannot load"
    assert expected in node.backend.fallback
    assert node.trigger_activate() == SUCCESS and node.worker.alive


def test_explicit_checkpoint_typo_fails_configure_even_without_cuda(ros, tmp_path):
    typo = str(tmp_path / "chekpoint")
    node = ros.add(ReconstructionNode(context=ros.context, parameter_overrides=[
        Parameter("backend", value="model"), Parameter("device", value="cuda"),
        Parameter("checkpoint", value=typo),
    ]))  # fmt: skip
    assert node.trigger_configure() == FAILURE
    assert node.state == "unconfigured" and node.backend is None
    assert typo in node.last_error and "not a checkpoint" in node.last_error


def test_a_killed_backend_process_costs_one_window_and_is_started_again(ros):
    node = _start(ros, **TINY_MODEL, diagnostics_period=0.1)
    assert node.backend.pid is not None  # backend_process is on by default
    cam = OneCamera(ros)
    assert cam.connected()
    assert cam.cloud(cam.send()) is not None
    pid = node.backend.pid
    # stopped, the child is alive when the next window goes out to it; killed while the
    # node waits for its answer (killed at once, it could be found dead and restarted
    # before the window: then no window is lost, test_backend_process.py)
    os.kill(pid, signal.SIGSTOP)
    threading.Timer(1.0, os.kill, (pid, signal.SIGKILL)).start()
    cloud = cam.cloud(cam.send())  # the window the child died on: observed-only cloud
    assert cloud is not None and cloud.width > 0
    assert ros.spin_until(lambda: node.backend_failures == 1, 5.0)
    assert "exited with code -9" in node.last_error
    arrays = pointcloud2_to_arrays(cloud)
    assert np.all(arrays["observed"] == 1.0)
    assert cam.cloud(cam.send(), timeout=30.0) is not None  # a new child, the model again
    assert node.backend.pid not in (None, pid) and node.backend.restarts == 1
    status, values = cam.diagnostics(lambda v: v.get("backend_process_restarts") == "1")
    assert status is not None and values["windows_backend_failed"] == "1"
    assert node.state == "active" and node.worker.alive


def _voxel_node(ros, head: str):
    return ros.add(ReconstructionNode(context=ros.context, parameter_overrides=eager_params(
        **TINY_MODEL, voxel_head=head, voxel_min_probability=0.0, voxel_far=0.0)))  # fmt: skip


@pytest.mark.parametrize("kind", ["missing", "broken"])
@pytest.mark.parametrize(
    ("name", "marker", "word"),
    [("voxel_head", "voxel_head.json", "voxel"), ("rgb_matcher", "matcher.json", "matcher")],
)
def test_a_head_or_matcher_folder_that_is_not_one_fails_configure(ros, tmp_path, kind, name,
                                                                  marker, word):  # fmt: skip
    folder = tmp_path / word
    if kind == "broken":  # a packaged checkpoint would fall back; a given folder never does
        folder.mkdir()
        (folder / marker).write_text("{not json")
    node = ros.add(ReconstructionNode(context=ros.context, parameter_overrides=eager_params(
        **TINY_MODEL, **{name: str(folder)})))  # fmt: skip
    assert node.trigger_configure() == FAILURE
    assert node.state == "unconfigured" and node.backend is None
    assert str(folder) in node.last_error and word in node.last_error


def test_a_voxel_head_given_by_folder_completes_the_window(ros, tmp_path):
    from test_voxel_published import saved_all_occupied

    saved_all_occupied(tmp_path / "voxel")
    node = _voxel_node(ros, str(tmp_path / "voxel"))
    assert node.trigger_configure() == SUCCESS, node.last_error
    assert node.trigger_activate() == SUCCESS and node.backend.name == "model"
    cam = OneCamera(ros)
    assert cam.connected()
    cloud = cam.cloud(cam.send())
    assert cloud is not None, f"no cloud: {node.last_error!r}"
    assert ros.spin_until(lambda: node.latest is not None)
    stats = node.latest.stats
    assert stats["gated"] == 1, "the test scene's window must be completed"
    assert stats["voxel_points"] > 0  # every unseen cell in the region: occupied
    arrays = pointcloud2_to_arrays(cloud)
    assert int((arrays["observed"] == 0.0).sum()) >= stats["voxel_points"]


def _matcher_node(ros, folder: str):
    return ros.add(ReconstructionNode(context=ros.context, parameter_overrides=eager_params(
        **TINY_MODEL, rgb_matcher=folder, backend_process=False)))  # fmt: skip


def test_a_matcher_given_by_folder_reaches_the_rgb_only_refinement(ros, tmp_path):
    """The node's backend runs an RGB-only window (no depth, no poses) with the matcher.

    A folder, 'own' and '' (the default: the packaged checkpoint's, whose file lists CUDA
    and the CPU) give it on the CPU; 'none' does not.
    """
    from nova3r_ros.eval.run import strip_inputs
    from nova3r_ros.model.matcher import MatchNet
    from nova3r_ros.model.matcher_files import save_matcher
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_window

    save_matcher(tmp_path / "matcher", MatchNet())
    node = _matcher_node(ros, str(tmp_path / "matcher"))
    window, _ = generate_window(1_500_000, benchmark_config(2, family="tabletop", height=192,
                                                              width=256))  # fmt: skip
    rgb_only = strip_inputs(window, depth=True, poses=True)
    for value, used in ((str(tmp_path / "matcher"), True), ("own", True), ("", True),
                        ("none", False)):  # fmt: skip
        assert node.set_parameters([Parameter("rgb_matcher", value=value)])[0].successful
        assert node.trigger_configure() == SUCCESS, node.last_error
        if node.backend.fallback:
            pytest.skip(f"the model cannot run here: {node.backend.fallback}")
        assert node.backend.config.rgb_matcher == value
        r = node.backend.run(rgb_only)
        assert r.stats["pose_rgb"] == 1.0, r.stats
        assert ("pose_learned_pairs" in r.stats) is used, (value, r.stats)
        assert node.trigger_cleanup() == SUCCESS

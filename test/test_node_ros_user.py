"""The node as a ROS user meets it: namespaces, sim time, streams, start-up, limits.

Also: CameraInfo first, quiet start-up, idle diagnostics, the unconfigured notice,
threads and the view limit.

Real rclpy over loopback (random ROS_DOMAIN_ID, test/conftest.py), real serialization.
"""

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from test_node_support import (
    NS,
    RIG,
    STAMP0,
    TINY_MODEL,
    H,
    Harness,
    K,
    W,
    eager_params,
    render,
    surface_distance,
)

from nova3r_ros.ros.conversions import header, numpy_to_image, stamp_to_ns
from nova3r_ros.ros.node import FAILURE, SUCCESS, ReconstructionNode

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
RGB, DEPTH = render(RIG["cam0"])


class Camera:
    """Publishers of one camera under ``prefix`` and probes of the node's outputs."""

    def __init__(self, h, prefix="/cam0", node_ns="", info=True, depth=True, image=True):
        """Create the publishers under ``prefix`` and the probes (node in ``node_ns``)."""
        self.h, self.step = h, 0
        probe = h.node(f"driver{abs(hash(prefix)) % 10000}")
        self.info = probe.create_publisher(CameraInfo, f"{prefix}/camera_info", QOS)
        self.depth = probe.create_publisher(Image, f"{prefix}/depth/image_raw", QOS)
        self.image = probe.create_publisher(Image, f"{prefix}/image_raw", QOS)
        self.send_info, self.send_depth, self.send_image = info, depth, image
        self.clouds, self.diags = [], []
        probe.create_subscription(PointCloud2, f"{node_ns}/nova3r_reconstruction/cloud",
                                  self.clouds.append, QOS)  # fmt: skip
        probe.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, QOS)

    def connected(self, pubs=None) -> bool:
        pubs = pubs or (self.info, self.depth, self.image)
        return self.h.spin_until(lambda: all(p.get_subscription_count() for p in pubs))

    def send(self, stamp: int | None = None) -> int:
        """Publish one frame at ``stamp`` (default: 0.1 s after the previous step's)."""
        self.step += 1
        stamp = STAMP0 + self.step * NS // 10 if stamp is None else stamp
        hdr = header("cam0_optical_frame", stamp)
        if self.send_info:
            info = CameraInfo(header=hdr, width=W, height=H, distortion_model="plumb_bob")
            info.k = K.reshape(9).tolist()
            self.info.publish(info)
        if self.send_depth == "16UC1":  # millimetres, as RealSense drivers send it
            self.depth.publish(numpy_to_image(np.round(DEPTH * 1000).astype(np.uint16),
                                              "16UC1", hdr))  # fmt: skip
        elif self.send_depth:
            self.depth.publish(numpy_to_image(DEPTH, "32FC1", hdr))
        if self.send_image:
            self.image.publish(numpy_to_image(RGB, "rgb8", hdr))
        return stamp

    def cloud(self, stamp, timeout=10.0):
        def got():
            return next((c for c in self.clouds if stamp_to_ns(c.header.stamp) == stamp), None)

        self.h.spin_until(lambda: got() is not None, timeout)
        return got()

    def status(self, timeout=5.0, where=lambda s: True) -> DiagnosticStatus | None:
        """Return the first diagnostics report after this call that satisfies ``where``."""
        self.diags.clear()

        def found():
            return next((s for m in self.diags for s in m.status if where(s)), None)

        self.h.spin_until(lambda: found() is not None, timeout)
        return found()


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def start(h, *overrides, namespace=None, activate=True, **kw):
    params = eager_params(**kw) + list(overrides)
    node = h.add(ReconstructionNode(context=h.context, parameter_overrides=params,
                                    namespace=namespace))  # fmt: skip
    if activate:
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    return node


def test_a_namespace_moves_inputs_and_outputs_together():
    h = Harness()
    try:
        node = start(h, namespace="robot1")
        assert node.inputs[0].topics["image"] == "/robot1/cam0/image_raw"
        cam = Camera(h, prefix="/robot1/cam0", node_ns="/robot1")
        assert cam.connected()
        stamp = cam.send()
        assert cam.cloud(stamp) is not None, node.last_error
    finally:
        h.close()


def test_diagnostics_come_under_sim_time_without_clock():
    h = Harness()
    try:
        node = start(h, Parameter("use_sim_time", value=True), diagnostics_period=0.1)
        assert node.get_clock().now().nanoseconds == 0  # no /clock: the ROS clock stands still
        cam = Camera(h)
        status = cam.status(where=lambda s: s.name.endswith("reconstruction"))
        assert status is not None, "no /diagnostics under sim time"
        v = values(status)
        assert v["clock"] == "sim" and "stamp_age_ms" not in v  # no age against a 0 clock
        assert status.hardware_id == "cpu/cam0"
    finally:
        h.close()


def test_colour_only_under_use_depth_names_the_missing_stream(capfd):
    h = Harness()
    try:
        start(h, sync__camera_timeout=0.3, diagnostics_period=0.1)
        cam = Camera(h, depth=False)
        assert cam.connected()
        for _ in range(10):
            cam.send()
            h.spin_until(lambda: False, 0.06)
        status = cam.status(where=lambda s: "depth" in values(s).get("streams_missing", ""))
        assert status is not None, "streams_missing never named the depth stream"
        assert status.level == DiagnosticStatus.WARN
        assert "/cam0/depth/image_raw" in values(status)["streams_missing"]
        assert not cam.clouds  # no window without depth
        err = capfd.readouterr().err
        assert "no depth" in err and "align_depth.enable" in err
    finally:
        h.close()


def test_streams_resuming_after_a_pause_are_not_called_missing(capfd):
    """A player pauses, then resumes one stream a moment before the others: not missing.

    (The player waits for the node, as ``nova3r eval-bag`` does.) Nor at the end of the
    input, the last frame's streams a few ms apart. A stream that stays away while the
    others go on is still named missing.
    """
    from nova3r_ros.ros.inputs import silent_streams

    inf = float("inf")
    last = {"camera_info": 9.0, "image": 12.0, "depth": 12.0}  # paused 9 -> 12 s
    assert silent_streams(last, {"camera_info": 5.0, "image": 12.0, "depth": 12.0}, 0.3,
                          12.05) == []  # fmt: skip
    assert silent_streams(last, {"camera_info": 5.0, "image": 11.5, "depth": 12.0}, 0.3,
                          12.05) == ["camera_info"]  # fmt: skip
    assert silent_streams({"image": 12.0, "depth": -inf}, {"image": 11.0, "depth": inf}, 0.3,
                          12.05) == ["depth"]  # fmt: skip
    assert silent_streams({"image": 9.0, "depth": 9.0}, {"image": 1.0, "depth": 1.0}, 0.3,
                          12.05) == []  # fmt: skip
    end = {"camera_info": 10.002, "image": 10.0, "depth": 10.001}  # the input ends
    assert silent_streams(end, dict.fromkeys(end, 5.0), 0.3, 10.3015) == []
    stopped = {"camera_info": 11.0, "image": 10.0, "depth": 11.0}  # the others go on
    assert silent_streams(stopped, dict.fromkeys(stopped, 5.0), 0.3, 11.05) == ["image"]
    h = Harness()
    try:
        start(h, sync__camera_timeout=0.3, diagnostics_period=0.1)
        cam = Camera(h)
        assert cam.connected()
        for _ in range(8):
            cam.send()
            h.spin_until(lambda: False, 0.06)
        h.spin_until(lambda: False, 0.6)  # the player pauses
        capfd.readouterr()
        cam.send_info = cam.send_image = False
        cam.send()  # depth first, the rest of the frame 0.1 s later
        h.spin_until(lambda: False, 0.1)
        cam.send_info = cam.send_image = True
        cam.send_depth = False
        cam.step -= 1
        cam.send()
        cam.send_depth = True
        for _ in range(3):
            cam.send()
            h.spin_until(lambda: False, 0.06)
        status = cam.status()
        assert status is not None and not values(status).get("streams_missing"), values(status)
        assert "other streams arrive" not in capfd.readouterr().err
    finally:
        h.close()


def test_frames_before_camera_info_are_dropped_and_counted_and_the_error_ages_out():
    h = Harness()
    try:
        node = start(h)
        cam = Camera(h, info=False)
        assert cam.connected()
        for _ in range(3):
            cam.send()
        assert h.spin_until(lambda: node.bad_input["cam0/no_camera_info"] >= 6, 5.0)  # 3 x 2
        assert node.worker.failed == 0 and not cam.clouds  # never a window without K
        cam.send_info = True
        stamp = cam.send()
        assert cam.cloud(stamp) is not None, node.last_error
        node.last_error = "RuntimeError: an old failure"  # as a failed window leaves it
        node._last_window = "failed"
        stamp = cam.send()
        assert cam.cloud(stamp) is not None
        assert node.last_error == "" and node._last_window == "ok"
    finally:
        h.close()


def test_no_timeout_warning_before_data_nor_after_a_reactivation(capfd):
    h = Harness()
    try:
        node = start(h, sync__camera_timeout=0.2, diagnostics_period=0.1)
        cam = Camera(h)
        status = cam.status(where=lambda s: s.name.endswith("reconstruction"))
        h.spin_until(lambda: False, 0.6)  # three timeouts long, nothing published
        status = cam.status(where=lambda s: s.name.endswith("reconstruction"))
        assert status.level == DiagnosticStatus.OK and status.message == "waiting for input"
        assert node.trigger_deactivate() == SUCCESS and node.trigger_activate() == SUCCESS
        h.spin_until(lambda: False, 0.6)
        err = capfd.readouterr().err
        assert "silent for more than" not in err and "publishing again" not in err
    finally:
        h.close()


def test_idle_is_ok_after_the_input_ends():
    h = Harness()
    try:
        start(h, sync__camera_timeout=0.3, diagnostics_period=0.1)
        cam = Camera(h)
        assert cam.connected()
        assert cam.cloud(cam.send()) is not None
        h.spin_until(lambda: False, 0.8)  # the input has ended
        status = cam.status(where=lambda s: s.name.endswith("reconstruction"))
        v = values(status)
        assert status.level == DiagnosticStatus.OK, status.message
        assert status.message == "idle: no input" and v["input_idle"] == "true"
        assert v["cameras_missing"] == "cam0"
    finally:
        h.close()


def test_an_unconfigured_node_says_why_once(capfd):
    h = Harness()
    try:
        start(h, activate=False)
        h.spin_until(lambda: False, 5.5)
        err = capfd.readouterr().err
        assert err.count("still unconfigured after 5 s") == 1
        assert "autostart" in err and "ros2 lifecycle set /nova3r_reconstruction configure" in err
    finally:
        h.close()


def test_threads_limits_torch():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    h = Harness()
    try:
        start(h, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        h.close()


def test_switch_interval_applies_at_configure():
    import sys

    before = sys.getswitchinterval()
    h = Harness()
    try:
        node = start(h, activate=False, switch_interval=0.0005)
        assert node.trigger_configure() == SUCCESS
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)
        h.close()


def test_a_window_larger_than_the_model_takes_fails_configure():
    pytest.importorskip("torch")
    h = Harness()
    try:
        node = start(h, activate=False, window_size=5, cameras=["a", "b", "c", "d"], **TINY_MODEL)
        t0 = time.monotonic()
        assert node.trigger_configure() == FAILURE
        assert "20 views" in node.last_error and "16" in node.last_error, node.last_error
        assert node.state == "unconfigured" and time.monotonic() - t0 < 120
    finally:
        h.close()


def test_uncalibrated_and_rational_polynomial_camera_info():
    h = Harness()
    try:
        node = start(h)
        cam = Camera(h, info=False)
        assert cam.connected()
        info = CameraInfo(header=header("cam0_optical_frame", STAMP0), width=W, height=H)
        cam.info.publish(info)  # K all zeros: usb_cam without a calibration file
        assert h.spin_until(lambda: node.bad_input["cam0/uncalibrated"] >= 1, 5.0)
        info.distortion_model = "rational_polynomial"  # Azure Kinect
        info.k = K.reshape(9).tolist()
        info.d = [0.0] * 8
        cam.info.publish(info)
        assert h.spin_until(lambda: node.inputs[0].intrinsics is not None, 5.0)
        cam_model = node.inputs[0].intrinsics
        assert cam_model.distortion_model == "rational_polynomial"
        np.testing.assert_allclose(cam_model.K, K)
    finally:
        h.close()


def test_16_bit_millimetre_depth_is_reconstructed_in_metres():
    from nova3r_ros.ros.conversions import pointcloud2_to_arrays

    h = Harness()
    try:
        node = start(h, Parameter("use_tf_poses", value=False))
        cam = Camera(h, depth="16UC1")
        assert cam.connected()
        cloud = cam.cloud(cam.send())
        assert cloud is not None, node.last_error
        points = pointcloud2_to_arrays(cloud)["points"]
        assert len(points) > 100
        assert h.spin_until(lambda: node.latest is not None, 5.0)
        T = RIG["cam0"] @ np.linalg.inv(node.latest.T_world_cams[0])  # output -> scene frame
        world = points @ T[:3, :3].T + T[:3, 3]
        assert np.median(surface_distance(world)) < 0.01  # metres, not millimetres
    finally:
        h.close()

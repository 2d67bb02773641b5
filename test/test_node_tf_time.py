"""TF in time: lookups at the image's stamp, a history in the fallback buffer, the start-up wait.

Frames: ``map`` -> ``cam0_optical_frame`` (OpenCV optical frame), poses 4x4 T_map_cam.
"""

import numpy as np
import pytest
from geometry_msgs.msg import PoseArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from test_node_ros_user import Camera, start, values
from test_node_support import NS, RIG, STAMP0, Harness
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.transforms import se3_from_rt
from nova3r_ros.ros.conversions import poses_to_tf_message, stamp_to_ns
from nova3r_ros.ros.tf_listener import Extrapolation, TfBuffer, interpolate

QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def rot_z(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def test_buffer_interpolates_at_the_stamp_and_refuses_to_extrapolate():
    buf = TfBuffer()
    A, B = se3_from_rt(np.eye(3), [0, 0, 0]), se3_from_rt(rot_z(90), [1, 0, 0])
    buf.set_transform("odom", "base", A, 100, static=False)
    buf.set_transform("odom", "base", B, 200, static=False)
    buf.set_transform("base", "cam", np.eye(4), 0, static=True)  # static: any time
    np.testing.assert_allclose(buf.lookup("odom", "cam", 100), A, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("odom", "cam", 200), B, atol=1e-12)
    mid = buf.lookup("odom", "cam", 150)
    np.testing.assert_allclose(mid[:3, 3], [0.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(mid[:3, :3], rot_z(45), atol=1e-12)  # slerp
    np.testing.assert_allclose(buf.lookup("odom", "cam"), B)  # 0 = latest
    with pytest.raises(Extrapolation):
        buf.lookup_at("odom", "cam", 250)  # newer than the newest transform
    with pytest.raises(Extrapolation):
        buf.lookup_at("odom", "cam", 50)
    assert buf.lookup("odom", "cam", 250) is None


def test_subscriber_ready_says_whether_a_lookup_would_succeed_and_counts_nothing():
    """What the lock-step player waits on: no waiting, no diagnostics counters touched."""
    import rclpy

    from nova3r_ros.ros.tf_listener import TfSubscriber

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node("tf_ready_probe", context=ctx)
        sub = TfSubscriber(node, TfBuffer())
        assert not sub.ready("odom", "cam", 100)  # nothing yet
        sub.buffer.set_transform("odom", "base", np.eye(4), 100, static=False)
        sub.buffer.set_transform("base", "cam", np.eye(4), 0, static=True)
        assert sub.ready("odom", "cam", 100) and not sub.ready("odom", "cam", 150)
        assert sum(sub.counters.values()) == 0
        sub.destroy()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)


def test_buffer_keeps_a_bounded_history_in_order():
    buf = TfBuffer(cache_ns=1000)
    for t in (500, 100, 300, 1400):  # out of order, as /tf may deliver
        buf.set_transform("map", "cam", se3_from_rt(np.eye(3), [t, 0, 0]), t, static=False)
    assert buf._edges["cam"].stamps == [500, 1400]  # older than 1400 - 1000 forgotten
    np.testing.assert_allclose(buf.lookup("map", "cam", 950)[0, 3], 950)
    np.testing.assert_allclose(interpolate(np.eye(4), np.eye(4), 0.3), np.eye(4))


def _poses(msgs, stamp):
    return next((m for m in msgs if stamp_to_ns(m.header.stamp) == stamp), None)


def test_camera_pose_is_looked_up_at_the_image_stamp_on_a_moving_rig():
    """Poses at 10 Hz; the image between two of them gets the interpolated pose, not the latest."""
    h = Harness()
    try:
        node = start(h, tf__lookup_timeout=0.5)
        cam = Camera(h)
        probe = h.node("robot")
        tf = probe.create_publisher(TFMessage, "/tf", QOS)
        poses = []
        probe.create_subscription(PoseArray, "/nova3r_reconstruction/camera_poses",
                                  poses.append, QOS)  # fmt: skip
        assert cam.connected((cam.image, tf))

        def pose_at(t):  # the rig slides along x at 1 m/s
            T = RIG["cam0"].copy()
            T[0, 3] += (t - STAMP0) / NS
            return T

        for k in range(6):  # TF from STAMP0 to STAMP0 + 0.5 s, before the image
            t = STAMP0 + k * NS // 10
            tf.publish(poses_to_tf_message([pose_at(t)], "map", ["cam0_optical_frame"], t))
        h.spin_until(lambda: False, 0.3)
        stamp = cam.send(STAMP0 + 3 * NS // 20)  # 0.15 s: between two poses, 0.35 s old
        assert cam.cloud(stamp) is not None, node.last_error
        assert h.spin_until(lambda: _poses(poses, stamp) is not None, 5.0)
        p = _poses(poses, stamp).poses[0].position
        expected = pose_at(stamp)[:3, 3]
        np.testing.assert_allclose([p.x, p.y, p.z], expected, atol=1e-6)  # not the latest
        assert node.tf.counters["tf_lookups_ok"] >= 1
    finally:
        h.close()


def test_an_image_beyond_the_tf_history_counts_an_extrapolation():
    h = Harness()
    try:
        node = start(h, tf__lookup_timeout=0.05, diagnostics_period=0.1)
        cam = Camera(h)
        tf = h.node("robot").create_publisher(TFMessage, "/tf", QOS)
        assert cam.connected((cam.image, tf))
        tf.publish(poses_to_tf_message([RIG["cam0"]], "map", ["cam0_optical_frame"], STAMP0))
        h.spin_until(lambda: node.tf.buffer.can_transform("map", "cam0_optical_frame"), 3.0)
        cam.send()  # STAMP0 + 0.1 s: after the only transform; TF never catches up
        assert h.spin_until(lambda: node.tf.counters["tf_extrapolation"] >= 1, 5.0)
        status = cam.status(where=lambda s: int(values(s).get("tf_extrapolation", 0)) >= 1)
        assert status is not None
        assert node.state == "active"
    finally:
        h.close()


def test_tf_arriving_late_is_waited_for_and_never_estimated_over():
    """Robot TF comes 0.5 s after the first frames: the node waits, then uses it."""
    h = Harness()
    try:
        node = start(h, tf__startup_wait=3.0)
        cam = Camera(h)
        probe = h.node("robot")
        static = probe.create_publisher(TFMessage, "/tf_static", LATCHED)
        seen = []
        probe.create_subscription(TFMessage, "/tf", seen.append, QOS)
        assert cam.connected()
        for _ in range(5):
            cam.send()
            h.spin_until(lambda: False, 0.1)
        assert not cam.clouds and node.tf_wait.held >= 1  # held back: no estimate yet
        static.publish(poses_to_tf_message([RIG["cam0"]], "map", ["cam0_optical_frame"], 0))
        h.spin_until(lambda: node.tf.buffer.can_transform("map", "cam0_optical_frame"), 3.0)
        stamp = cam.send()
        assert cam.cloud(stamp) is not None, node.last_error
        assert h.spin_until(lambda: node.latest is not None, 5.0)
        assert node.latest.pose_source == "tf_world"
        h.spin_until(lambda: False, 0.3)
        children = {t.child_frame_id for m in seen for t in m.transforms}
        assert "nova3r/cam0_optical_frame" not in children, children
    finally:
        h.close()

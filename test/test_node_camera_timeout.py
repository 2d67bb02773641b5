"""A camera that stops publishing: after sync.camera_timeout the windows go on without it."""

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from test_node_support import NS, RIG, STAMP0, H, Harness, K, W, eager_params, render
from tf2_msgs.msg import TFMessage

from nova3r_ros.ros.conversions import header, numpy_to_image, poses_to_tf_message, stamp_to_ns
from nova3r_ros.ros.node import SUCCESS, ReconstructionNode

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
CAMS = ("cam0", "cam1")


def test_windows_go_on_without_a_silent_camera_and_take_it_back():
    h = Harness()
    try:
        params = eager_params(cameras=list(CAMS), sync__camera_timeout=0.3,
                              diagnostics_period=0.1)  # fmt: skip
        node = h.add(ReconstructionNode(context=h.context, parameter_overrides=params))
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        probe = h.node("camera")
        frames = {c: f"{c}_optical_frame" for c in CAMS}
        tf = probe.create_publisher(TFMessage, "/tf_static", LATCHED)
        tf.publish(poses_to_tf_message([RIG[c] for c in CAMS], "map", list(frames.values()), 0))
        pubs, data = {}, {}
        for c in CAMS:
            pubs[c] = [
                probe.create_publisher(t, f"/{c}/{n}", QOS)
                for t, n in (
                    (CameraInfo, "camera_info"),
                    (Image, "depth/image_raw"),
                    (Image, "image_raw"),
                )
            ]
            data[c] = render(RIG[c])
        clouds, diags = [], []
        probe.create_subscription(PointCloud2, "/nova3r_reconstruction/cloud", clouds.append, QOS)
        probe.create_subscription(DiagnosticArray, "/diagnostics", diags.append, QOS)
        assert h.spin_until(lambda: all(p.get_subscription_count() for v in pubs.values()
                                        for p in v))  # fmt: skip
        step = iter(range(1, 10**6))
        sent = [0.0]

        def publish(cams, force=True):
            if not force and time.monotonic() - sent[0] < 0.05:  # 20 Hz
                return None
            sent[0] = time.monotonic()
            stamp = STAMP0 + next(step) * NS // 10
            for c in cams:
                info = CameraInfo(header=header(frames[c], stamp), width=W, height=H)
                info.k, info.distortion_model = K.reshape(9).tolist(), "plumb_bob"
                rgb, depth = data[c]
                pubs[c][0].publish(info)
                pubs[c][1].publish(numpy_to_image(depth, "32FC1", header(frames[c], stamp)))
                pubs[c][2].publish(numpy_to_image(rgb, "rgb8", header(frames[c], stamp)))
            return stamp

        def cloud_after(stamp, timeout, cams):
            return h.spin_until(
                lambda: any(stamp_to_ns(c.header.stamp) > stamp for c in clouds),
                timeout, publish=lambda: publish(cams, force=False),
            )  # fmt: skip

        def last_values():
            return {kv.key: kv.value for kv in diags[-1].status[0].values}

        # Both cameras: windows fuse two views.
        assert cloud_after(STAMP0, 5.0, CAMS), f"no cloud: {node.last_error!r}"
        assert len(node.keyframes.keyframes[-1].group.frames) == 2
        # cam1 stops: after the timeout the windows have cam0 only; the node says so.
        stopped = publish(["cam0"])
        assert cloud_after(stopped, 5.0, ["cam0"]), "windows stopped with cam1"
        assert [f.camera for f in node.keyframes.keyframes[-1].group.frames] == ["cam0"]
        assert node.state == "active" and node.worker.alive
        diags.clear()
        assert h.spin_until(lambda: diags and last_values()["cameras_missing"] == "cam1", 3.0)
        values = last_values()
        assert int(values["cam1/timeouts"]) == 1 and "cam1" in diags[-1].status[0].message
        # cam1 comes back: windows fuse both cameras again.
        back = publish(CAMS)
        assert cloud_after(back, 5.0, CAMS)
        assert len(node.keyframes.keyframes[-1].group.frames) == 2
        diags.clear()
        assert h.spin_until(lambda: diags and last_values()["cameras_missing"] == "", 3.0)
        assert np.isfinite(float(last_values()["points"]))
    finally:
        h.close()

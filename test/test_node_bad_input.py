"""Bad input keeps the node alive, is counted, and the next good frame is processed."""

import itertools

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from test_node_support import NS, RIG, STAMP0, H, Harness, K, W, eager_params, render

from nova3r_ros.ros.conversions import header, numpy_to_image, stamp_to_ns
from nova3r_ros.ros.node import SUCCESS, ReconstructionNode

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
RGB, DEPTH = render(RIG["cam0"])
_stamps = itertools.count(1)


def camera_info(stamp, k=K, width=W, height=H):
    msg = CameraInfo(header=header("cam0_optical_frame", stamp), width=width, height=height)
    msg.k = np.asarray(k, float).reshape(9).tolist()
    msg.distortion_model = "plumb_bob"
    return msg


class Rig:
    def __init__(self):
        """Start an active node (cam0, window of 1) and a fake camera publishing to it."""
        self.h = Harness()
        self.node = self.h.add(
            ReconstructionNode(context=self.h.context, parameter_overrides=eager_params())
        )
        assert self.node.trigger_configure() == SUCCESS
        assert self.node.trigger_activate() == SUCCESS
        probe = self.h.node("camera")
        self.info = probe.create_publisher(CameraInfo, "/cam0/camera_info", QOS)
        self.image = probe.create_publisher(Image, "/cam0/image_raw", QOS)
        self.depth = probe.create_publisher(Image, "/cam0/depth/image_raw", QOS)
        self.clouds, self.diags = [], []
        probe.create_subscription(PointCloud2, "/nova3r_reconstruction/cloud", self.clouds.append,
                                  QOS)  # fmt: skip
        probe.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, QOS)
        assert self.h.spin_until(
            lambda: all(p.get_subscription_count() for p in (self.info, self.image, self.depth))
        )

    def good_frame(self, depth=DEPTH, with_info=True):
        stamp = STAMP0 + next(_stamps) * NS // 10
        if with_info:
            self.info.publish(camera_info(stamp))
        self.depth.publish(numpy_to_image(depth, "32FC1", header("cam0_optical_frame", stamp)))
        self.image.publish(numpy_to_image(RGB, "rgb8", header("cam0_optical_frame", stamp)))
        return stamp

    def processed(self, stamp, timeout=8.0) -> bool:
        return self.h.spin_until(
            lambda: any(stamp_to_ns(c.header.stamp) == stamp for c in self.clouds), timeout
        )


@pytest.fixture(scope="module")
def rig():
    r = Rig()
    assert r.processed(r.good_frame()), "the node never processed a good frame"
    yield r
    r.h.close()


def _bad_image(encoding="rgb8", pixels=RGB, truncate=False):
    def send(r, stamp):
        msg = numpy_to_image(pixels, "rgb8", header("cam0_optical_frame", stamp))
        msg.encoding = encoding
        if truncate:
            msg.data = msg.data[:-7]
        r.info.publish(camera_info(stamp))
        r.image.publish(msg)

    return send


def _bad_info(r, stamp):
    r.info.publish(camera_info(stamp, k=np.full((3, 3), np.nan)))


def _uncalibrated_info(r, stamp):  # usb_cam / v4l2_camera without a calibration file
    r.info.publish(camera_info(stamp, k=np.zeros((3, 3))))


def _bad_depth(depth, encoding="32FC1"):
    def send(r, stamp):
        msg = numpy_to_image(depth, "32FC1", header("cam0_optical_frame", stamp))
        msg.encoding = encoding
        r.depth.publish(msg)

    return send


ALL_NAN = np.full((H, W), np.nan, np.float32)
IDS = "encoding data_length size_vs_info camera_info uncalibrated all_nan_depth depth_encoding"
IDS = [*IDS.split(), "depth_size"]


@pytest.mark.parametrize(
    "send, counter",
    [
        (_bad_image(encoding="yuv422"), "bad_image"),
        (_bad_image(truncate=True), "bad_image"),
        (_bad_image(pixels=np.ascontiguousarray(RGB[::2, ::2])), "size_mismatch"),
        (_bad_info, "bad_camera_info"),
        (_uncalibrated_info, "uncalibrated"),
        (_bad_depth(ALL_NAN), "bad_depth"),
        (_bad_depth(DEPTH, encoding="rgb8"), "bad_depth"),
        (_bad_depth(DEPTH[::2, ::2].copy()), "size_mismatch"),
    ],
    ids=IDS,
)
def test_bad_message_is_counted_and_the_next_frame_processed(rig, send, counter):
    key = f"cam0/{counter}"
    before = rig.node.bad_input[key]
    send(rig, STAMP0 + next(_stamps) * NS // 10)
    assert rig.h.spin_until(lambda: rig.node.bad_input[key] > before, 5.0), f"{key} not counted"
    assert rig.node.state == "active" and rig.node.worker.alive
    # The next frame comes without CameraInfo: the last good one is still in use.
    assert rig.processed(rig.good_frame(with_info=False)), "the next good frame was lost"


def test_nan_pixels_are_masked_and_the_frame_kept(rig):
    depth = DEPTH.copy()
    depth[:10] = np.nan
    depth[10:12] = -1.0
    before = rig.node.bad_input["cam0/depth_nonfinite"]
    stamp = rig.good_frame(depth=depth)
    assert rig.processed(stamp), "a frame with some NaN depth must still be processed"
    assert rig.node.bad_input["cam0/depth_nonfinite"] == before + 1
    cloud = next(c for c in rig.clouds if stamp_to_ns(c.header.stamp) == stamp)
    assert cloud.width > 100


def test_diagnostics_report_the_counters(rig):
    rig.diags.clear()
    assert rig.h.spin_until(lambda: rig.diags, 5.0), "no /diagnostics"
    (status,) = rig.diags[-1].status
    values = {kv.key: kv.value for kv in status.values}
    assert values["state"] == "active" and values["backend"] == "depth"
    assert values["device"] == "cpu" and values["scale_mode"] == "metric"
    assert int(values["bad_input/cam0/bad_image"]) >= 2
    assert int(values["windows_processed"]) >= 1
    assert "latency_ms/backend" in values and "rate_hz/cam0/image" in values
    assert "cam0/image_dropped" in values


def _send_pair(r, stamp):
    r.depth.publish(numpy_to_image(DEPTH, "32FC1", header("cam0_optical_frame", stamp)))
    r.image.publish(numpy_to_image(RGB, "rgb8", header("cam0_optical_frame", stamp)))


@pytest.mark.parametrize("when", ["out_of_order", "future"])
def test_bad_stamp_is_rejected_counted_and_reported(rig, when):
    key = f"cam0/stamp_{when}"
    before = rig.node.bad_input[key]
    last = rig.good_frame()
    assert rig.processed(last)
    if when == "out_of_order":
        stamp = last - NS // 20  # older than the frame just processed
    else:  # 60 s ahead of the node clock (limit sync.max_future = 10 s)
        stamp = rig.node.get_clock().now().nanoseconds + 60 * NS
    _send_pair(rig, stamp)
    assert rig.h.spin_until(lambda: rig.node.bad_input[key] >= before + 2, 5.0), key
    assert not rig.processed(stamp, timeout=0.3), "a bad stamp must not make a window"
    assert rig.node.state == "active" and rig.node.worker.alive
    rig.diags.clear()
    assert rig.h.spin_until(
        lambda: any(kv.key == f"bad_input/{key}" for d in rig.diags for kv in d.status[0].values),
        5.0,
    ), f"bad_input/{key} not in /diagnostics"
    assert rig.processed(rig.good_frame(with_info=False)), "the next good frame was lost"

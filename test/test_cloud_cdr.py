"""PointCloud2 written as serialized CDR (cloud_cdr) against rclpy's own message path."""

import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import PointCloud2

from nova3r_ros.ros.cloud_cdr import pointcloud2_cdr
from nova3r_ros.ros.cloud_msgs import PointCloudError, pointcloud2_to_arrays, points_to_pointcloud2
from nova3r_ros.ros.conversions import header

RNG = np.random.default_rng(11)


def _arrays(n: int, dtype=np.float32):
    points = RNG.normal(size=(n, 3)).astype(dtype)
    colors = RNG.integers(0, 256, (n, 3), dtype=np.uint8)
    extra = {"observed": RNG.random(n) < 0.5, "confidence": RNG.random(n)}
    return points, colors, extra


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 1000])
@pytest.mark.parametrize("with_colors", [True, False])
@pytest.mark.parametrize("with_extra", [True, False])
def test_same_message_as_rclpy(n, with_colors, with_extra):
    points, colors, extra = _arrays(n)
    colors = colors if with_colors else None
    extra = extra if with_extra else {}
    for frame, stamp in (("map", 0), ("a_long_world_frame_name", 1_700_000_000_123_456_789)):
        ref = points_to_pointcloud2(points, colors, extra, header(frame, stamp))
        raw = pointcloud2_cdr(points, colors, extra, frame, stamp)
        assert isinstance(raw, bytes)
        assert deserialize_message(raw, PointCloud2) == ref


def test_values_survive_and_nan_clears_is_dense():
    points, colors, extra = _arrays(500, np.float64)  # cast to float32 on writing
    points[7, 2] = np.nan
    msg = deserialize_message(pointcloud2_cdr(points, colors, extra, "map", 5), PointCloud2)
    assert not msg.is_dense
    back = pointcloud2_to_arrays(msg)
    np.testing.assert_array_equal(back["points"], points.astype(np.float32))
    np.testing.assert_array_equal(back["colors"], colors)
    np.testing.assert_array_equal(back["observed"], extra["observed"].astype(np.float32))
    np.testing.assert_array_equal(back["confidence"], extra["confidence"].astype(np.float32))


@pytest.mark.parametrize(
    "points, colors, extra, stamp, match",
    [
        (np.zeros((4, 2)), None, {}, 0, "Nx3"),
        (np.zeros((4, 3)), np.zeros((4, 3), np.float32), {}, 0, "colors"),
        (np.zeros((4, 3)), np.zeros((3, 3), np.uint8), {}, 0, "colors"),
        (np.zeros((4, 3)), None, {"x": np.zeros(4)}, 0, "twice"),
        (np.zeros((4, 3)), None, {"c": np.zeros(5)}, 0, "shape"),
        (np.zeros((4, 3)), None, {}, -1, "negative"),
    ],
)
def test_bad_input_raises(points, colors, extra, stamp, match):
    with pytest.raises(PointCloudError, match=match):
        pointcloud2_cdr(points, colors, extra, "map", stamp)


def test_bytes_published_over_loopback_arrive_as_the_cloud():
    points, colors, extra = _arrays(20_000)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("cloud_cdr_test", context=context)
        qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        pub = node.create_publisher(PointCloud2, "cloud_cdr_test", qos)
        got: list[PointCloud2] = []
        node.create_subscription(PointCloud2, "cloud_cdr_test", got.append, qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            pub.publish(pointcloud2_cdr(points, colors, extra, "map", 42))
            executor.spin_once(timeout_sec=0.2)
        assert got, "no cloud received over loopback"
        assert got[0] == points_to_pointcloud2(points, colors, extra, header("map", 42))
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)

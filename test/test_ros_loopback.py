"""Real rclpy pub/sub between two nodes over loopback (random domain, LOCALHOST discovery)."""

import time

import numpy as np
import pytest
import rclpy
from nav_msgs.msg import OccupancyGrid
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.occupancy import OccupancyGrid2D
from nova3r_ros.core.transforms import se3_from_rt
from nova3r_ros.ros.conversions import (
    grid_to_occupancy_grid,
    header,
    occupancy_grid_to_array,
    pointcloud2_to_arrays,
    points_to_pointcloud2,
    poses_to_tf_message,
    stamp_to_ns,
    transform_to_matrix,
)

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


@pytest.fixture
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []

    def make_node(name):
        node = rclpy.create_node(name, context=context)
        executor.add_node(node)
        nodes.append(node)
        return node

    def spin_until(predicate, timeout=10.0, publish=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if publish is not None:
                publish()
            executor.spin_once(timeout_sec=0.05)
            if predicate():
                return True
        return False

    yield make_node, spin_until
    for node in nodes:
        node.destroy_node()
    executor.shutdown()
    rclpy.shutdown(context=context)


def test_cloud_and_tf_between_two_nodes(ros):
    make_node, spin_until = ros
    talker, listener = make_node("talker"), make_node("listener")
    clouds, tfs = [], []
    listener.create_subscription(PointCloud2, "cloud", clouds.append, RELIABLE)
    listener.create_subscription(TFMessage, "/tf", tfs.append, RELIABLE)
    cloud_pub = talker.create_publisher(PointCloud2, "cloud", RELIABLE)
    tf_pub = talker.create_publisher(TFMessage, "/tf", RELIABLE)

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(100_000, 3)).astype(np.float32)
    cols = rng.integers(0, 256, (100_000, 3), dtype=np.uint8)
    conf = rng.random(100_000).astype(np.float32)
    stamp = 1_700_000_000_123_456_789
    cloud = points_to_pointcloud2(pts, cols, {"confidence": conf}, header("map", stamp))
    T = se3_from_rt(np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]), np.array([1.0, 2.0, 3.0]))
    tf = poses_to_tf_message([T], "map", ["nova3r/cam0_optical_frame"], stamp)

    def publish():
        if not clouds:
            cloud_pub.publish(cloud)
        if not tfs:
            tf_pub.publish(tf)

    assert spin_until(lambda: clouds and tfs, publish=publish), "nothing arrived over loopback"
    got = pointcloud2_to_arrays(clouds[0])
    np.testing.assert_array_equal(got["points"], pts)
    np.testing.assert_array_equal(got["colors"], cols)
    np.testing.assert_array_equal(got["confidence"], conf)
    assert clouds[0].header.frame_id == "map" and stamp_to_ns(clouds[0].header.stamp) == stamp
    (t,) = tfs[0].transforms
    assert (t.header.frame_id, t.child_frame_id) == ("map", "nova3r/cam0_optical_frame")
    np.testing.assert_allclose(transform_to_matrix(t.transform), T, atol=1e-12)


def test_transient_local_grid_reaches_late_subscriber(ros):
    make_node, spin_until = ros
    mapper = make_node("mapper")
    grid_pub = mapper.create_publisher(OccupancyGrid, "occupancy", LATCHED)
    data = np.full((3, 4), -1, np.int8)
    data[1, 2], data[0, 0] = 100, 0
    grid = OccupancyGrid2D(data=data, resolution=0.05, origin_xy=(-1.0, 2.0))
    grid_pub.publish(grid_to_occupancy_grid(grid, "map", 42))
    spin_until(lambda: False, timeout=0.3)  # the publisher is alone for a while

    late = make_node("late_subscriber")
    grids = []
    late.create_subscription(OccupancyGrid, "occupancy", grids.append, LATCHED)
    assert spin_until(lambda: grids), "late subscriber did not get the latched grid"
    msg = grids[0]
    np.testing.assert_array_equal(occupancy_grid_to_array(msg), data)
    assert (msg.info.width, msg.info.height) == (4, 3)
    assert msg.info.resolution == pytest.approx(0.05)
    assert (msg.info.origin.position.x, msg.info.origin.position.y) == (-1.0, 2.0)
    assert msg.header.frame_id == "map" and stamp_to_ns(msg.header.stamp) == 42

"""A multi-MB PointCloud2 crosses processes with the shipped Fast DDS profile (RELIABLE).

Fast DDS 2.14 (ROS 2 Jazzy) reads the profile from FASTRTPS_DEFAULT_PROFILES_FILE.
"""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2

from nova3r_ros.ros.cloud_msgs import pointcloud2_to_arrays

PROFILE = Path(__file__).resolve().parents[1] / "config" / "fastdds_large_messages.xml"
N_POINTS = 1_000_000  # 24 MB with x, y, z, rgb, observed, confidence

PUBLISHER = textwrap.dedent(
    f"""
    import time
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2
    from nova3r_ros.ros.cloud_msgs import points_to_pointcloud2

    rclpy.init()
    node = rclpy.create_node("big_cloud_talker")
    pub = node.create_publisher(
        PointCloud2, "big_cloud", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    )
    rng = np.random.default_rng(7)
    pts = rng.normal(size=({N_POINTS}, 3)).astype(np.float32)
    cols = rng.integers(0, 256, ({N_POINTS}, 3), dtype=np.uint8)
    extra = {{"observed": np.ones({N_POINTS}, np.float32),
             "confidence": np.full({N_POINTS}, 0.5, np.float32)}}
    msg = points_to_pointcloud2(pts, cols, extra)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and rclpy.ok():
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.5)
    """
)


def test_one_million_point_cloud_between_processes():
    started = time.time() - 1.0
    env = dict(os.environ, FASTRTPS_DEFAULT_PROFILES_FILE=str(PROFILE))
    talker = subprocess.Popen([sys.executable, "-c", PUBLISHER], env=env)
    old = os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE")
    os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(PROFILE)  # read at participant creation
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        executor = SingleThreadedExecutor(context=context)
        node = rclpy.create_node("big_cloud_listener", context=context)
        executor.add_node(node)
        got = []
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(PointCloud2, "big_cloud", got.append, qos)
        deadline = time.monotonic() + 40
        while not got and time.monotonic() < deadline and talker.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        assert got, "no 24 MB cloud arrived from the other process within 40 s"
        # The profile must really be in force: Fast DDS ignores a profile it cannot find.
        segments = [
            f.stat().st_size
            for f in Path("/dev/shm").glob("fastrtps_*")
            if "port" not in f.name and f.stat().st_mtime >= started
        ]
        assert max(segments, default=0) >= 128 * 2**20, (
            "no enlarged shared-memory segment: is FASTRTPS_DEFAULT_PROFILES_FILE honoured?"
        )
        out = pointcloud2_to_arrays(got[0])
        assert out["points"].shape == (N_POINTS, 3)
        rng = np.random.default_rng(7)
        np.testing.assert_array_equal(
            out["points"], rng.normal(size=(N_POINTS, 3)).astype(np.float32)
        )
        np.testing.assert_array_equal(out["confidence"], 0.5)
        node.destroy_node()
        executor.shutdown()
    finally:
        rclpy.shutdown(context=context)
        talker.terminate()
        talker.wait(timeout=10)
        if old is None:
            os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
        else:
            os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = old

"""Benchmark: publishing the node's cloud as serialized CDR against a PointCloud2 message.

The node's ``~/cloud`` (x y z rgb observed confidence, 24 bytes a point) is published to
a subscriber in another process (RELIABLE, depth 2, as the node's QoS; the shipped Fast
DDS profile, as the launch file sets it), first as rclpy publishes a message built by
``cloud_msgs.points_to_pointcloud2`` (the baseline, what the node did before), then as
the bytes ``cloud_cdr.pointcloud2_cdr`` writes (``Publisher.publish(bytes)``, what the
node does now), alternating, in the same process. Times are build + publish per cloud,
median of ``--repeats``; the subscriber checks that every message it got deserializes to
the same cloud size. Ends with ``name=value`` lines.

Usage: python bench/cloud_publish.py [--points 74417] [--repeats 40]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2

from nova3r_ros.ros.cloud_cdr import pointcloud2_cdr
from nova3r_ros.ros.cloud_msgs import points_to_pointcloud2
from nova3r_ros.ros.conversions import header

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "/bench_cloud_publish"
SUBSCRIBER = """
import sys, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import PointCloud2
rclpy.init()
node = rclpy.create_node("bench_cloud_sink")
n, bad = [0], [0]
def on(data):
    n[0] += 1
    if deserialize_message(data, PointCloud2).width != int(sys.argv[1]):
        bad[0] += 1
node.create_subscription(PointCloud2, sys.argv[2], on,
                         QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE), raw=True)
try:
    while rclpy.ok():
        rclpy.spin_once(node, timeout_sec=0.1)
except KeyboardInterrupt:
    pass
print(f"received={n[0]} bad={bad[0]}", flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=74417, help="points per cloud")
    ap.add_argument("--repeats", type=int, default=40)
    a = ap.parse_args()
    os.environ.setdefault(
        "FASTRTPS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_large_messages.xml")
    )
    rng = np.random.default_rng(0)
    n = a.points
    points = rng.uniform(-2, 2, (n, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    extra = {"observed": rng.random(n) < 0.8, "confidence": rng.random(n).astype(np.float32)}
    sink = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, str(n), TOPIC],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    rclpy.init()
    node = rclpy.create_node("bench_cloud_publish")
    pub = node.create_publisher(
        PointCloud2, TOPIC, QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    )
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if pub.get_subscription_count() == 0:
        sink.kill()
        sys.exit("the subscriber process did not match within 30 s")

    def as_message(stamp: int) -> None:
        pub.publish(points_to_pointcloud2(points, colors, extra, header("map", stamp)))

    def as_bytes(stamp: int) -> None:
        pub.publish(pointcloud2_cdr(points, colors, extra, "map", stamp))

    times: dict[str, list[float]] = {"message": [], "cdr": []}
    for i in range(a.repeats + 2):  # alternate; the first two rounds are warm-up
        for name, fn in (("message", as_message), ("cdr", as_bytes)):
            t0 = time.perf_counter()
            fn(i + 1)
            if i >= 2:
                times[name].append(time.perf_counter() - t0)
            time.sleep(0.02)  # let the subscriber take it (as between the node's windows)
    time.sleep(0.5)
    node.destroy_node()
    rclpy.shutdown()
    sink.send_signal(2)
    out = sink.communicate(timeout=10)[0]
    message_ms, cdr_ms = (1e3 * float(np.median(times[k])) for k in ("message", "cdr"))
    print(
        f"# {n} points, {24 * n / 1e6:.2f} MB a cloud, {a.repeats} of each, {os.cpu_count()} CPUs"
    )
    print(f"# subscriber: {out.strip()} (of {2 * (a.repeats + 2)} sent)")
    print(f"publish_message_ms={message_ms:.2f}")
    print(f"publish_cdr_ms={cdr_ms:.2f}")
    print(f"speedup={message_ms / cdr_ms:.2f}")


if __name__ == "__main__":
    main()

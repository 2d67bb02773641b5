"""Input accounting of the node: 4 RGB-D cameras at 30 Hz, node vs a plain subscriber.

This process publishes 4 cameras (``--size`` WxH rgb8 + 16UC1 depth + CameraInfo,
BEST_EFFORT depth 5 as camera drivers' sensor-data QoS) at 30 Hz for ``--seconds``
and the cameras' poses on ``/tf_static``. Two other processes listen at the same time:

    the node (``reconstruction_node``, depth backend, window of 1 keyframe x 4 cameras
        every 0.2 s: the worker runs as it does in use), and
    a plain subscriber: one rclpy node, a single-threaded executor, BEST_EFFORT depth
        5 subscriptions on the same 8 image and depth topics whose callbacks only count.

At the end the node's ``/diagnostics`` give, per camera and stream, ``received``
(taken by a callback and pushed to the sync buffers), ``dropped`` (of those, pushed
out of a full buffer), ``lost`` (gaps in the publisher's sequence numbers: never
taken) and bad input. Printed: messages sent, the plain subscriber's count, the
node's received count, received / plain (target >= 98 %) and sent - (received + lost
+ bad) (target 0: every message accounted for).

Usage: python bench/node_inputs.py [--seconds S] [--size WxH] [--qos-depth N]
"""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from _load import CAMS, camera_poses
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

from nova3r_ros.ros.conversions import header, numpy_to_image, poses_to_tf_message

ROOT = Path(__file__).resolve().parents[1]
SENSOR = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
PLAIN = """
import sys, time, rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("plain_subscriber")
qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
count = {}
def counter(topic):
    count[topic] = 0
    def cb(msg):
        count[topic] += 1
    return cb
for c in sys.argv[1].split(","):
    for t in (f"/{c}/image_raw", f"/{c}/depth/image_raw"):
        node.create_subscription(Image, t, counter(t), qos)
ex = SingleThreadedExecutor()
ex.add_node(node)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    ex.spin_once(timeout_sec=0.05)
print(" ".join(f"{k}={v}" for k, v in count.items()), flush=True)
"""


def take_delays(diags: list[DiagnosticArray]) -> list[float]:
    """Return every report's ``input_take_delay_ms_max`` (ms)."""
    return [float(kv.value) for m in diags for s in m.status for kv in s.values
            if kv.key == "input_take_delay_ms_max"]  # fmt: skip


def node_counts(diags: list[DiagnosticArray]) -> dict[str, int]:
    """Return the integer values of the node's last diagnostics status."""
    for msg in reversed(diags):
        for status in msg.status:
            if status.name.endswith("reconstruction"):
                return {kv.key: int(kv.value) for kv in status.values if kv.value.isdigit()}
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--qos-depth", type=int, default=None, help="the node's qos.depth")
    ap.add_argument(
        "--backend",
        choices=("depth", "model"),
        default="depth",
        help="model: the packaged network on the CPU",
    )
    ap.add_argument("--points", type=int, default=1024, help="model: n_points")
    ap.add_argument("--steps", type=int, default=8, help="model: ode_steps")
    ap.add_argument("--threads", type=int, default=None, help="the node's threads")
    ap.add_argument(
        "--stress",
        type=int,
        default=0,
        help="busy-loop processes competing for the cores while publishing",
    )
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    os.environ.setdefault(
        "FASTRTPS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_large_messages.xml")
    )
    params = Path(tempfile.mkdtemp()) / "inputs.yaml"
    qos_line = f"    qos.depth: {a.qos_depth}\n" if a.qos_depth else ""
    if a.threads is not None:
        qos_line += f"    threads: {a.threads}\n"
    if a.backend == "model":
        qos_line += f"    device: cpu\n    n_points: {a.points}\n    ode_steps: {a.steps}\n"
    params.write_text(
        f"/**:\n  ros__parameters:\n    backend: {a.backend}\n    cameras: {CAMS}\n"
        "    window_size: 1\n    keyframe.min_interval: 0.2\n    world_frame: map\n"
        f"    publish_voxels: false\n    autostart: true\n    diagnostics_period: 0.5\n{qos_line}"
    )
    procs: list[subprocess.Popen] = []
    atexit.register(lambda: [p.kill() for p in procs if p.poll() is None])
    node_cmd = [sys.executable, "-m", "nova3r_ros.ros.node", "--ros-args",
                "--params-file", str(params)]  # fmt: skip
    procs.append(subprocess.Popen(node_cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL))  # fmt: skip
    rclpy.init()
    node = rclpy.create_node("bench_cameras")
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
    node.create_publisher(TFMessage, "/tf_static", latched).publish(
        poses_to_tf_message(camera_poses(), "map", [f"{c}_optical_frame" for c in CAMS], 0)
    )
    pubs = {
        c: (
            node.create_publisher(CameraInfo, f"/{c}/camera_info", SENSOR),
            node.create_publisher(Image, f"/{c}/depth/image_raw", SENSOR),
            node.create_publisher(Image, f"/{c}/image_raw", SENSOR),
        )
        for c in CAMS
    }
    diags: list[DiagnosticArray] = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
        p.get_subscription_count() for v in pubs.values() for p in v
    ):
        rclpy.spin_once(node, timeout_sec=0.1)
    plain = subprocess.Popen([sys.executable, "-c", PLAIN, ",".join(CAMS), str(a.seconds + 6)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    procs.append(plain)
    time.sleep(3.0)  # the plain subscriber discovers the publishers
    busy = f"import time\nend = time.monotonic() + {a.seconds + 1}\n"
    busy += "while time.monotonic() < end: pass"
    procs.extend(subprocess.Popen([sys.executable, "-c", busy]) for _ in range(a.stress))
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = np.full((h, w), 1100, np.uint16)
    k = [250.0 * w / 320, 0, (w - 1) / 2, 0, 250.0 * w / 320, (h - 1) / 2, 0, 0, 1]
    n = int(a.seconds * 30)
    t0 = time.monotonic()
    for i in range(n):
        stamp = time.time_ns()
        for c in CAMS:
            hdr = header(f"{c}_optical_frame", stamp)
            info = CameraInfo(header=hdr, width=w, height=h, k=k, distortion_model="plumb_bob")
            pubs[c][0].publish(info)
            pubs[c][1].publish(numpy_to_image(depth, "16UC1", hdr))
            pubs[c][2].publish(numpy_to_image(np.roll(rgb, i, axis=1), "rgb8", hdr))
        rclpy.spin_once(node, timeout_sec=0)
        time.sleep(max(0.0, t0 + (i + 1) / 30 - time.monotonic()))
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    plain_out = dict(kv.split("=") for kv in plain.communicate(timeout=30)[0].split())
    counts = node_counts(diags)
    sent = n * len(CAMS) * 2
    got_plain = sum(int(v) for v in plain_out.values())
    received = sum(v for k, v in counts.items() if k.endswith(("/image_received",
                                                               "/depth_received")))  # fmt: skip
    lost = sum(v for k, v in counts.items() if k.endswith(("/image_lost", "/depth_lost")))
    dropped = sum(v for k, v in counts.items() if k.endswith(("/image_dropped",
                                                              "/depth_dropped")))  # fmt: skip
    bad = sum(v for k, v in counts.items() if k.startswith("bad_input/"))
    print(f"size {w}x{h}, {a.seconds:g} s, 4 cameras x 30 Hz x (image + depth)")
    print(f"sent={sent} plain_subscriber={got_plain} node_received={received} "
          f"node_dropped={dropped} node_lost={lost} node_bad={bad}")  # fmt: skip
    print(f"node/plain={100.0 * received / max(got_plain, 1):.1f}% "
          f"unaccounted={sent - received - lost - bad} "
          f"windows={counts.get('windows_processed', 0)}")  # fmt: skip
    delays = take_delays(diags)
    if delays:
        print(f"node take delay (DDS to callback) max per report: median "
              f"{np.median(delays):.0f} ms, max {max(delays):.0f} ms")  # fmt: skip
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()

"""End-to-end node benchmark: 4 RGB-D cameras at 30 Hz into ``nova3r node`` in another process.

This process publishes 4 cameras (320x240 rgb8 + 32FC1 depth + CameraInfo, stamped
with the wall clock just before the messages are built) at 30 Hz and the cameras'
poses on ``/tf_static``; the node (subprocess, depth backend, window of 1 keyframe x 4
cameras; the texture shifts every frame so that the image-change keyframe policy
fires, at most every ``keyframe.min_interval`` = 0.2 s, so at most 5 windows/s)
publishes ``~/cloud`` stamped with its window's stamp. Both processes use the shipped
Fast DDS profile (``config/fastdds_large_messages.xml``, as the launch file does;
without it Fast DDS's default 0.5 MB shared-memory segment loses ~20 % of these
images). Measured:

    ``e2e_latency_ms_median`` / ``_p90``: cloud received here minus its stamp (the last
        image of the window): the camera's own send time + transport + sync + keyframe
        + queueing + reconstruction + publish + transport back.
    ``windows_per_s``: clouds received per second (capped at 5 by the keyframe interval).
    ``input_drops``: input messages the node reports dropped (``/diagnostics``).
    ``input_received``: image + depth messages the node converted (of those sent).
    ``camera_send_ms_median``: stamp to the last publish of a frame set, in this process
        (part of the latency that a real camera driver would add too).
    ``pipeline_ms``: the bare ``pipeline.reconstruct`` on the same window in this process,
        median of 20 runs after the node has exited (no occupancy: the node updates the
        map after publishing the cloud, off the cloud's latency path).
    ``node_overhead_pct``: (median latency - pipeline time) / pipeline time, the issue's
        measure (target: under 20 %).
    ``node_added_ms``: median latency - pipeline time, the same overhead in ms (it does
        not grow with the backend's time, so it is the figure that carries over to the
        model backend).
    ``worker_capacity_windows_per_s``: 1 / the worker's mean busy time per window
        (cloud, publish, occupancy update, map publish): the rate it could sustain.
    ``node_mean_<stage>_ms``: the node's own mean stage times from ``/diagnostics``
        (``input_age``: window stamp to the worker's start; ``queue_wait``: job waiting
        for the worker; ``occupancy`` and ``publish_map`` run after the cloud is out).

Usage: python bench/node_e2e.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.types import View, Window
from nova3r_ros.pipeline import DepthBackendConfig, reconstruct
from nova3r_ros.ros.conversions import header, numpy_to_image, poses_to_tf_message, stamp_to_ns

ROOT = Path(__file__).resolve().parents[1]
W, H, CAMS = 320, 240, ["cam0", "cam1", "cam2", "cam3"]
K = np.array([[250.0, 0, 159.5], [0, 250.0, 119.5], [0, 0, 1]])


def camera_poses() -> list[np.ndarray]:
    """Four cameras 1 m from the origin, 20 degrees apart, looking at it (camera-to-map)."""
    poses = []
    for i in range(len(CAMS)):
        a = np.radians(-30 + 20 * i)
        eye = np.array([np.sin(a), -np.cos(a), 0.6])
        z = -eye / np.linalg.norm(eye)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        T = np.eye(4)
        T[:3, :3] = np.column_stack([x, np.cross(z, x), z])
        T[:3, 3] = eye
        poses.append(T)
    return poses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    params = Path(tempfile.mkdtemp()) / "bench.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    backend: depth\n    device: cpu\n"
        f"    cameras: {CAMS}\n    window_size: 1\n    keyframe.min_interval: 0.2\n"
        "    use_tf_poses: true\n    world_frame: map\n    voxel_size: 0.01\n"
        "    publish_voxels: false\n"
    )
    profile = ROOT / "config" / "fastdds_large_messages.xml"
    os.environ.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE", str(profile))
    node_proc = subprocess.Popen(
        [sys.executable, "-m", "nova3r_ros.cli", "node", "--params-file",
         str(ROOT / "config" / "reconstruct.yaml"), "--params-file", str(params)],
        env=dict(os.environ), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rclpy.init()  # the DDS profile is read at init: set above, before the node starts
    node = rclpy.create_node("bench_cameras")
    sensor = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
    pubs = {
        c: (
            node.create_publisher(Image, f"/{c}/image_raw", sensor),
            node.create_publisher(Image, f"/{c}/depth/image_raw", sensor),
            node.create_publisher(CameraInfo, f"/{c}/camera_info", sensor),
        )
        for c in CAMS
    }
    poses = camera_poses()
    node.create_publisher(TFMessage, "/tf_static", latched).publish(
        poses_to_tf_message(poses, "map", [f"{c}_optical_frame" for c in CAMS], 0)
    )
    latencies, drops, received, node_stages, send_ms = [], [0], {}, {}, []

    def on_cloud(msg):
        latencies.append((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6)

    def on_diag(msg):
        for status in msg.status:
            for kv in status.values:
                if kv.key.endswith("_dropped"):
                    drops[0] = max(drops[0], int(float(kv.value)))
                elif kv.key.endswith("_received") and "/" in kv.key:
                    received[kv.key] = int(float(kv.value))
                elif kv.key.startswith("mean_latency_ms/"):
                    node_stages[kv.key.split("/", 1)[1]] = float(kv.value)

    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(PointCloud2, "/nova3r_reconstruction/cloud", on_cloud, reliable)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), 1.1, np.float32)
    info = CameraInfo(width=W, height=H, k=K.reshape(-1).tolist(), distortion_model="plumb_bob",
                      d=[0.0] * 5)  # fmt: skip
    time.sleep(3.0)  # the node starts and activates
    t_end, period, n_sent = time.monotonic() + a.seconds, 1 / 30, 0
    next_t = time.monotonic()
    while time.monotonic() < t_end:
        stamp = time.time_ns()
        frame = np.roll(rgb, 16 * (n_sent // 8), axis=1)  # the scene changes: new keyframes
        for c in CAMS:
            h = header(f"{c}_optical_frame", stamp)
            img, dep = numpy_to_image(frame, "rgb8", h), numpy_to_image(depth, "32FC1", h)
            info.header = h
            pubs[c][2].publish(info)
            pubs[c][0].publish(img)
            pubs[c][1].publish(dep)
        send_ms.append((time.time_ns() - stamp) / 1e6)
        n_sent += len(CAMS) * 2
        next_t += period
        while time.monotonic() < next_t:
            rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.monotonic()))
    for _ in range(20):
        rclpy.spin_once(node, timeout_sec=0.05)
    node_proc.terminate()
    node_proc.wait(timeout=10)
    window = Window([View(rgb, depth, K, T, 0, f"{c}_optical_frame", c)
                     for c, T in zip(CAMS, poses, strict=True)])  # fmt: skip
    cfg = DepthBackendConfig(voxel_size=0.01, stride=2, world_frame="map")
    runs = []
    for i in range(22):
        t0 = time.perf_counter()
        reconstruct(window, "depth", cfg)
        if i >= 2:  # two warm-up runs
            runs.append(1e3 * (time.perf_counter() - t0))
    pipeline_ms = statistics.median(runs)
    if not latencies:
        print("no cloud received: is the node starting? (try: nova3r node --params-file ...)")
        sys.exit(1)
    med = statistics.median(latencies)
    print(f"# {len(latencies)} clouds, {n_sent} image messages sent at 30 Hz x {len(CAMS)}")
    print(f"e2e_latency_ms_median={med:.1f}")
    print(f"e2e_latency_ms_p90={np.percentile(latencies, 90):.1f}")
    print(f"windows_per_s={len(latencies) / a.seconds:.2f}")
    print(f"input_drops={drops[0]}")
    print(f"input_received={sum(received.values())}")
    print(f"camera_send_ms_median={statistics.median(send_ms):.1f}")
    print(f"pipeline_ms={pipeline_ms:.1f}")
    print(f"node_overhead_pct={100 * (med - pipeline_ms) / pipeline_ms:.0f}")
    print(f"node_added_ms={med - pipeline_ms:.1f}")
    busy = [node_stages.get(k, 0.0) for k in ("total", "publish_cloud", "publish_map")]
    if busy[0] > 0:
        print(f"worker_capacity_windows_per_s={1e3 / sum(busy):.1f}")
    for stage, ms in sorted(node_stages.items()):
        print(f"node_mean_{stage}_ms={ms:.1f}")
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()

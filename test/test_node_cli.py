"""``nova3r node --params-file ...`` starts the node, configured and active, in a process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import rclpy

ROOT = Path(__file__).resolve().parents[1]


def test_nova3r_node_runs_and_advertises_outputs():
    cmd = [sys.executable, "-m", "nova3r_ros.cli", "node", "--params-file",
           str(ROOT / "config" / "reconstruct.yaml")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=dict(os.environ), cwd=ROOT)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        probe = rclpy.create_node("cli_probe", context=context)
        deadline = time.monotonic() + 20
        topics = {}
        while time.monotonic() < deadline and proc.poll() is None:
            topics = dict(probe.get_topic_names_and_types())
            if "/nova3r_reconstruction/cloud" in topics and "/diagnostics" in topics:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "nova3r node exited"
        assert topics.get("/nova3r_reconstruction/cloud") == ["sensor_msgs/msg/PointCloud2"]
        assert topics.get("/nova3r_reconstruction/occupancy") == ["nav_msgs/msg/OccupancyGrid"]
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        proc.terminate()
        proc.wait(timeout=10)

"""``nova3r node --params-file ... --ros-args ...`` starts the node in a process.

Configured and active; the ROS arguments after ``--ros-args`` reach it (a rename, a
parameter).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from rcl_interfaces.srv import GetParameters
from rclpy.executors import SingleThreadedExecutor

ROOT = Path(__file__).resolve().parents[1]


def test_nova3r_node_runs_and_advertises_outputs():
    cmd = [sys.executable, "-m", "nova3r_ros.cli", "node", "--params-file",
           str(ROOT / "config" / "reconstruct.yaml"), "--ros-args", "-r", "__node:=cli_named",
           "-p", "n_points:=300"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=dict(os.environ), cwd=ROOT)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        probe = rclpy.create_node("cli_probe", context=context)
        deadline = time.monotonic() + 20
        topics = {}
        while time.monotonic() < deadline and proc.poll() is None:
            topics = dict(probe.get_topic_names_and_types())
            if "/cli_named/cloud" in topics and "/diagnostics" in topics:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "nova3r node exited"
        assert topics.get("/cli_named/cloud") == ["sensor_msgs/msg/PointCloud2"]
        assert topics.get("/cli_named/occupancy") == ["nav_msgs/msg/OccupancyGrid"]
        client = probe.create_client(GetParameters, "/cli_named/get_parameters")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(GetParameters.Request(names=["n_points"]))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(probe)
        executor.spin_until_future_complete(future, timeout_sec=10)
        assert future.result().values[0].integer_value == 300
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        proc.terminate()
        proc.wait(timeout=10)

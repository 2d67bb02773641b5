"""Full-size images cross from ``nova3r replay`` to a best-effort reader in another process.

The player sets the shipped Fast DDS profile itself (``ros/dds_profile.py``): without it
a 640x480 image (0.9 MB) exceeds the writer's default shared-memory segment and
best-effort readers lose some (8-10 of 12 in a measured run).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from test_node_support import Harness

from nova3r_ros.bags.make import BagOptions, make_synthetic
from nova3r_ros.bags.sequence import SequenceConfig
from nova3r_ros.ros.dds_profile import ENV, shipped_profile, use_profile

BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
STEPS = 10


def test_profile_choice(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    assert use_profile() == str(shipped_profile()) and Path(os.environ[ENV]).is_file()
    mine = tmp_path / "mine.xml"
    mine.write_text("<profiles/>")
    monkeypatch.setenv(ENV, str(mine))
    assert use_profile() == str(mine)  # the user's own choice is kept
    other = tmp_path / "other.xml"
    other.write_text("<profiles/>")
    assert use_profile(str(other)) == str(other)  # an explicit one wins
    with pytest.raises(ValueError, match="not a file"):
        use_profile(str(tmp_path / "missing.xml"))


def test_replayed_640x480_frames_all_reach_a_best_effort_reader(tmp_path):
    cfg = SequenceConfig(cameras=1, steps=STEPS, height=480, width=640, period_s=0.1,
                         n_gt_points=2000)  # fmt: skip
    bag = make_synthetic(tmp_path / "bag", cfg, BagOptions(topics="realsense", tf="none"),
                         log=lambda s: None)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != ENV}  # the player picks it itself
    h = Harness()
    try:
        reader = h.node("reader")
        images, depths = [], []
        root = "/camera/camera"
        reader.create_subscription(Image, f"{root}/color/image_raw", images.append, BEST_EFFORT)
        reader.create_subscription(Image, f"{root}/aligned_depth_to_color/image_raw",
                                   depths.append, BEST_EFFORT)  # fmt: skip
        reader.create_subscription(CameraInfo, f"{root}/color/camera_info", lambda m: None,
                                   BEST_EFFORT)  # fmt: skip
        player = subprocess.Popen([sys.executable, "-m", "nova3r_ros.cli", "replay", str(bag),
                                   "--wait", "30"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            h.spin_until(lambda: player.poll() is not None, 60.0)
            h.spin_until(lambda: len(images) == len(depths) == STEPS, 3.0)
        finally:
            if player.poll() is None:
                player.kill()
        out = player.communicate()[0]
        assert player.returncode == 0, out
        assert "subscribers found" in out, out
        assert len(images) == STEPS and len(depths) == STEPS, (len(images), len(depths), out)
        assert images[0].width == 640 and len(images[0].data) == 640 * 480 * 3
    finally:
        h.close()

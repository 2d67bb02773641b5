"""nova3r replay over real rclpy loopback: waiting, /clock, loop re-stamping, damage, remap."""

import subprocess
import sys
import threading
import time
from itertools import pairwise

import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from test_node_support import Harness

from nova3r_ros.bags.make import BagOptions, make_synthetic
from nova3r_ros.bags.reader import open_bag
from nova3r_ros.bags.sequence import SequenceConfig
from nova3r_ros.cli import main
from nova3r_ros.ros.conversions import stamp_to_ns
from nova3r_ros.ros.replay import BagPlayer

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
QUIET = {"log": lambda s: None}


def bag(tmp_path, name="bag", steps=1, cameras=1, **opts):
    cfg = SequenceConfig(cameras=cameras, steps=steps, height=24, width=32, n_gt_points=500)
    return make_synthetic(tmp_path / name, cfg, BagOptions(**opts), **QUIET)


def empty_bag(path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    with Writer(path, version=9) as w:
        w.add_connection("/cam0/image_raw", "sensor_msgs/msg/Image", typestore=store)
    return path


@pytest.fixture
def h():
    harness = Harness()
    yield harness
    harness.close()


def test_waits_for_a_late_subscriber_then_plays_everything(tmp_path, h):
    b = bag(tmp_path)  # one frame: without the wait a short bag is lost entirely
    player = BagPlayer(h.node("player"), b)
    assert player.data_topics == ["/cam0/camera_info", "/cam0/depth/image_raw",
                                  "/cam0/image_raw"]  # fmt: skip
    got = []
    done = threading.Event()

    def play():
        assert player.wait_for_subscribers(timeout=20.0)
        player.play()
        done.set()

    t = threading.Thread(target=play)
    t.start()
    h.spin_until(lambda: False, 1.0)  # nobody listens yet: nothing may be published
    assert player.published == 0
    sub = h.node("late")
    sub.create_subscription(Image, "/cam0/image_raw", got.append, RELIABLE)
    sub.create_subscription(CameraInfo, "/cam0/camera_info", lambda m: None, RELIABLE)
    sub.create_subscription(Image, "/cam0/depth/image_raw", lambda m: None, RELIABLE)
    assert h.spin_until(lambda: done.is_set() and len(got) == 1, 20.0)
    t.join()
    player.destroy()


def test_wait_timeout_gives_up_and_reports(tmp_path, h):
    player = BagPlayer(h.node("player"), bag(tmp_path))
    t0 = time.monotonic()
    assert not player.wait_for_subscribers(timeout=0.3)
    assert 0.3 <= time.monotonic() - t0 < 3.0
    assert player.missing_subscribers() == player.data_topics
    player.destroy()


def test_loop_restamps_a_one_frame_bag_and_publishes_clock(tmp_path, h):
    b = bag(tmp_path)
    stamps, clock = [], []
    sub = h.node("sub")

    def on_image(m):
        stamps.append(stamp_to_ns(m.header.stamp))

    sub.create_subscription(Image, "/cam0/image_raw", on_image, RELIABLE)
    sub.create_subscription(Clock, "/clock", lambda m: clock.append(stamp_to_ns(m.clock)), 10)
    sub.create_subscription(CameraInfo, "/cam0/camera_info", lambda m: None, RELIABLE)
    sub.create_subscription(Image, "/cam0/depth/image_raw", lambda m: None, RELIABLE)
    player = BagPlayer(h.node("player"), b, rate=1.0, loop=True, clock=True)
    assert player.wait_for_subscribers(timeout=20.0)
    player.start()
    assert h.spin_until(lambda: len(stamps) >= 4, 20.0)
    player.stop()
    assert all(b > a for a, b in pairwise(stamps)), stamps
    # a one-frame bag has zero duration: each pass is at least 0.1 s after the last
    assert min(b - a for a, b in pairwise(stamps)) >= 100_000_000
    assert player.passes < 100  # no busy loop
    first = open_bag(b)
    t0 = next(t for _, _, t, _ in first.messages())
    assert clock and clock[0] >= t0 and max(clock) >= stamps[2]
    player.destroy()


def test_zero_length_bag_does_not_loop(tmp_path, h):
    player = BagPlayer(h.node("player"), empty_bag(tmp_path / "empty"), loop=True)
    t0 = time.monotonic()
    assert player.play() == 0
    assert player.passes == 1 and time.monotonic() - t0 < 2.0 and player.error is None
    player.destroy()
    code, _, err = run_cli("replay", str(tmp_path / "empty"), "--loop", "--wait", "0")
    assert code == 0 and "holds no messages" in err


def test_remap_and_topic_selection(tmp_path, h):
    b = bag(tmp_path, topics="realsense")
    got = []
    sub = h.node("sub")
    sub.create_subscription(Image, "/robot1/color", got.append, RELIABLE)
    player = BagPlayer(h.node("player"), b, topics=["/camera/camera/color/image_raw"],
                       remap={"/camera/camera/color/image_raw": "/robot1/color"})  # fmt: skip
    assert list(player.publishers) == ["/robot1/color"]
    assert player.wait_for_subscribers(timeout=20.0)
    player.play()
    assert h.spin_until(lambda: len(got) == 1, 10.0)
    assert got[0].encoding == "rgb8" and got[0].header.frame_id == "camera_color_optical_frame"
    player.destroy()
    with pytest.raises(ValueError, match="not in the bag"):
        BagPlayer(h.node("p2"), b, topics=["/nope"])


def test_truncated_bag_plays_what_is_readable_then_fails(tmp_path, h):
    b = bag(tmp_path, steps=6, cameras=2)
    total = sum(1 for _ in open_bag(b).messages())
    mcap = next(b.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])
    player = BagPlayer(h.node("player"), b, rate=100.0)
    played = player.play()
    assert 0 < played < total and player.error is not None
    assert str(mcap) in str(player.error)
    player.destroy()
    code, _, err = run_cli("replay", str(b), "--wait", "0", "--rate", "100")
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("nova3r replay: error")]
    assert code == 1 and len(lines) == 1 and str(mcap) in lines[0] and "byte " in lines[0]


def run_cli(*args):
    p = subprocess.run([sys.executable, "-m", "nova3r_ros.cli", *args], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    return p.returncode, p.stdout, p.stderr


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "notabag").mkdir()
    for args, text in (
        (["replay", str(tmp_path / "notabag")], "not a rosbag2 folder"),
        (["replay", str(tmp_path / "missing")], "no such file"),
        (["replay", str(tmp_path), "--rate", "0"], "--rate must be > 0"),
        (["replay", str(tmp_path), "--remap", "a:=b"], "--remap expects"),
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and text in err, err
    code, _, err = run_cli("replay", "--help")
    assert code == 0 and "(default: 1.0)" in err + _
    from nova3r_ros.ros.replay import main as replay_main

    assert replay_main([str(tmp_path / "notabag")]) == 2  # the nova3r_replay alias


def test_the_alias_keeps_its_remap_and_passes_only_ros_args_to_rclpy(tmp_path, h):
    from nova3r_ros.ros.replay import split_ros_args

    assert split_ros_args(["b", "--remap", "/a:=/b"]) == (["b", "--remap", "/a:=/b"], [])
    assert split_ros_args(["b", "--ros-args", "-r", "__ns:=/x", "--", "--loop"]) == (
        ["b", "--loop"],
        ["--ros-args", "-r", "__ns:=/x", "--"],
    )
    b = bag(tmp_path)
    got = []
    h.node("sub").create_subscription(Image, "/renamed", got.append, RELIABLE)
    p = subprocess.Popen([sys.executable, "-c", "import sys; from nova3r_ros.ros.replay import "
                          "main; sys.exit(main(sys.argv[1:]))", str(b), "--remap",
                          "/cam0/image_raw:=/renamed", "--topics", "/cam0/image_raw",
                          "--wait", "20"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert h.spin_until(lambda: len(got) == 1, 60.0)
    assert p.wait(60) == 0


def test_ctrl_c_stops_a_looping_replay_without_a_traceback(tmp_path):
    import signal

    b = bag(tmp_path, steps=3)
    cmd = [sys.executable, "-m", "nova3r_ros.cli", "replay", str(b), "--loop", "--wait", "0",
           "--rate", "200"]  # fmt: skip
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    time.sleep(6.0)  # started and publishing
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=30)[1]
    assert "Traceback" not in err and "RCLError" not in err, err
    assert p.returncode == 0 and "published" in err

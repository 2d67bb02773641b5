"""make-bag, the sidecar and the tolerant bag reader: real files, real CDR, real rclpy types."""

import json
import subprocess
import sys

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from nova3r_ros.bags.decode import read_frames
from nova3r_ros.bags.make import BagOptions, make_synthetic
from nova3r_ros.bags.reader import BagCorrupt, BagError, open_bag
from nova3r_ros.bags.sequence import SequenceConfig, synthetic_sequence
from nova3r_ros.bags.sidecar import SidecarError, read_sidecar
from nova3r_ros.cli import main
from nova3r_ros.ros.image_msgs import compressed_to_depth, image_to_depth, image_to_rgb

TINY = SequenceConfig(cameras=2, steps=2, height=48, width=64, n_gt_points=5000)


def nova3r(*args):
    """Run the installed CLI in a subprocess: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "nova3r_ros.cli", *args], capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    return p.returncode, p.stdout, p.stderr


def test_synthetic_bag_project_names_16uc1_and_rig_tf(tmp_path):
    bag = make_synthetic(tmp_path / "bag", TINY, BagOptions(), log=lambda s: None)
    b = open_bag(bag)
    topics = {c.topic: c for c in b.connections}
    assert {"/tf_static", "/tf", "/cam0/image_raw", "/cam0/camera_info",
            "/cam1/depth/image_raw"} <= set(topics)  # fmt: skip
    assert topics["/tf_static"].latched and not topics["/tf"].latched
    raw = {}
    for topic, _, t, data in b.messages():
        raw.setdefault(topic, []).append((t, data))
    assert len(raw["/cam1/image_raw"]) == 2 and len(raw["/tf"]) == 2
    depth_msg = deserialize_message(raw["/cam0/depth/image_raw"][0][1], Image)
    assert depth_msg.encoding == "16UC1" and depth_msg.header.frame_id == "cam0_optical_frame"
    truth = synthetic_sequence(TINY)
    d = image_to_depth(depth_msg).depth
    valid = truth.views[0].depth > 0
    assert np.abs(d[valid] - truth.views[0].depth[valid]).max() <= 0.0005 + 1e-6
    np.testing.assert_array_equal(
        image_to_rgb(deserialize_message(raw["/cam0/image_raw"][0][1], Image)),
        truth.views[0].image)  # fmt: skip
    side = read_sidecar(bag)
    assert side.frame == "map" and side.tf == "rig" and side.rig_frame == "base_link"
    assert side.complete and len(side.views) == 4 and side.camera_names == ["cam0", "cam1"]
    np.testing.assert_allclose(side.views[3].T_world_cam, truth.gt.T_world_cam[3])
    frames = read_frames(b, side.cameras)
    assert (
        len(frames) == 4 and frames[("cam1", side.views[1].stamp_ns)]["depth"].dtype == np.float32
    )


def test_realsense_preset_bgr8_compressed_sqlite3(tmp_path):
    opts = BagOptions(topics="realsense", storage="sqlite3", color_encoding="bgr8")
    bag = make_synthetic(tmp_path / "rs", TINY, opts, log=lambda s: None)
    b = open_bag(bag)
    assert b.storage == "sqlite3"
    names = {c.topic for c in b.connections}
    assert {"/camera1/camera1/color/image_raw", "/camera1/camera1/color/camera_info",
            "/camera1/camera1/aligned_depth_to_color/image_raw",
            "/camera2/camera2/color/image_raw"} <= names  # fmt: skip
    msgs = {t: d for t, _, _, d in b.messages()}
    img = deserialize_message(msgs["/camera1/camera1/color/image_raw"], Image)
    assert img.encoding == "bgr8" and img.header.frame_id == "camera1_color_optical_frame"
    info = deserialize_message(msgs["/camera1/camera1/color/camera_info"], CameraInfo)
    assert info.width == 64 and info.header.frame_id == "camera1_color_optical_frame"
    side = read_sidecar(bag)
    frames = read_frames(b, side.cameras)
    truth = synthetic_sequence(TINY)
    np.testing.assert_array_equal(frames[("camera1", side.views[0].stamp_ns)]["image"],
                                  truth.views[0].image)  # bgr8 came back as RGB  # fmt: skip
    comp = make_synthetic(tmp_path / "c", TINY, BagOptions(topics="realsense", compressed=True),
                          log=lambda s: None)  # fmt: skip
    msgs = {}
    for t, _, _, d in open_bag(comp).messages():
        msgs.setdefault(t, d)  # the first step's
    cd = deserialize_message(
        msgs["/camera1/camera1/aligned_depth_to_color/image_raw/compressedDepth"], CompressedImage
    )
    depth = compressed_to_depth(cd).depth  # the node's own decoder reads our compressedDepth
    valid = truth.views[0].depth > 0
    assert np.abs(depth[valid] - truth.views[0].depth[valid]).max() <= 0.0005 + 1e-6


def _truncate(bag_dir, keep_share):
    mcap = next(bag_dir.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * keep_share)])
    return mcap


def test_truncated_mcap_yields_what_is_readable_then_names_file_and_offset(tmp_path):
    bag = make_synthetic(tmp_path / "bag", TINY, BagOptions(), log=lambda s: None)
    whole = sum(1 for _ in open_bag(bag).messages())
    mcap = _truncate(bag, 0.6)
    got = []
    with pytest.raises(BagCorrupt) as err:
        for m in open_bag(bag).messages():
            got.append(m)
    assert 0 < len(got) < whole
    assert str(mcap) in str(err.value) and "byte " in str(err.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.mcap").write_bytes(b"not an mcap at all")
    with pytest.raises(BagError, match="bad magic"):
        list(open_bag(tmp_path / "junk").messages())
    with pytest.raises(BagError, match="not a rosbag2 folder"):
        open_bag(tmp_path)


def test_sidecar_missing_is_one_clear_error(tmp_path):
    with pytest.raises(SidecarError, match="no ground-truth sidecar"):
        read_sidecar(tmp_path)


def test_make_bag_cli_and_its_bad_input(tmp_path, capsys):
    out = tmp_path / "b"
    args = ["make-bag", str(out), "--cameras", "1", "--steps", "2", "--height", "48", "--width",
            "64", "--motion", "handheld", "--depth-encoding", "32FC1"]  # fmt: skip
    assert main(args) == 0
    side = json.loads((out / "ground_truth.json").read_text())
    assert side["tf"] == "poses" and len(side["views"]) == 2
    capsys.readouterr()
    assert main(["make-bag", str(out)]) == 2  # exists
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists" in err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["make-bag", str(f)]) == 2
    assert "already exists (a file)" in capsys.readouterr().err
    assert main(["make-bag", str(tmp_path / "c"), "--from", "colmap:x"]) == 2
    assert main(["make-bag", str(tmp_path / "d"), "--from", f"7scenes:{tmp_path}/none"]) == 2
    assert main(["make-bag", str(tmp_path / "e"), "--motion", "handheld", "--tf", "rig"]) == 2
    assert not (tmp_path / "e").exists()
    code, _, err = nova3r("make-bag", str(tmp_path / "g"), "--storage", "rosbag1")
    assert code == 2 and "invalid choice" in err  # argparse usage error: exit 2 too


def test_damaged_sqlite3_bag_names_the_file_and_message(tmp_path):
    bag = make_synthetic(tmp_path / "sq", TINY, BagOptions(storage="sqlite3"), log=lambda s: None)
    db3 = next(bag.glob("*.db3"))
    data = db3.read_bytes()
    db3.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagCorrupt) as err:
        list(open_bag(bag).messages())
    assert str(db3) in str(err.value) and "message " in str(err.value)

import json

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from nova3r_ros.core.ply import read_ply
from nova3r_ros.core.types import GroundTruth, View
from nova3r_ros.ros.image_msgs import camera_info_to_camera, image_to_depth, image_to_rgb
from nova3r_ros.synth.bag_writer import write_bag

K = np.array([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])


def make_views():
    rng = np.random.default_rng(0)
    views = []
    for t in range(3):
        for cam in ("cam0", "cam1"):
            views.append(View(
                image=rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                depth=rng.uniform(0.5, 2, (48, 64)).astype(np.float32),
                K=K, stamp=1_000_000_000 + t * 100_000_000, camera=cam,
            ))  # fmt: skip
    return views


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_topics_messages_and_sidecar(tmp_path, storage):
    from rosbags.rosbag2 import Reader

    views = make_views()
    gt = GroundTruth(np.ones((10, 3)), np.arange(10) % 2 == 0, [np.eye(4)] * 6, [K] * 6)
    T_rig_cam1 = np.eye(4)
    T_rig_cam1[0, 3] = 0.1
    bag = write_bag(tmp_path / "bag", views, gt, {"cam0": np.eye(4), "cam1": T_rig_cam1},
                    base_frame="rig", storage=storage)  # fmt: skip
    with Reader(bag) as reader:
        topics = {c.topic: c for c in reader.connections}
        assert set(topics) == {
            "/tf_static", "/cam0/image_raw", "/cam0/camera_info", "/cam0/depth/image_raw",
            "/cam1/image_raw", "/cam1/camera_info", "/cam1/depth/image_raw",
        }  # fmt: skip
        assert topics["/tf_static"].ext.offered_qos_profiles[0].durability.name == (
            "TRANSIENT_LOCAL"
        )
        raw = {}
        for conn, stamp, data in reader.messages():
            raw.setdefault(conn.topic, []).append((stamp, data))
    assert len(raw["/cam1/image_raw"]) == 3
    # The bag's CDR bytes decode with real rclpy and our conversions.
    img = deserialize_message(raw["/cam1/image_raw"][2][1], Image)
    np.testing.assert_array_equal(image_to_rgb(img), views[5].image)
    assert img.header.frame_id == "cam1_optical_frame" and img.header.stamp.nanosec == 200_000_000
    depth = image_to_depth(deserialize_message(raw["/cam0/depth/image_raw"][0][1], Image))
    np.testing.assert_array_equal(depth.depth, views[0].depth)
    info = deserialize_message(raw["/cam0/camera_info"][0][1], CameraInfo)
    np.testing.assert_allclose(camera_info_to_camera(info).K, K)
    from tf2_msgs.msg import TFMessage

    tf = deserialize_message(raw["/tf_static"][0][1], TFMessage)
    assert [t.child_frame_id for t in tf.transforms] == [
        "cam0_optical_frame",
        "cam1_optical_frame",
    ]
    assert tf.transforms[1].transform.translation.x == pytest.approx(0.1)
    side = read_ply(bag / "ground_truth.ply")
    np.testing.assert_array_equal(side["visible"], gt.visible)
    doc = json.loads((bag / "ground_truth.json").read_text())
    assert len(doc["views"]) == 6 and doc["views"][1]["camera"] == "cam1"


def test_bad_arguments(tmp_path):
    views = make_views()
    with pytest.raises(ValueError, match="storage"):
        write_bag(tmp_path / "b", views, storage="rosbag1")
    with pytest.raises(ValueError, match="needs K"):
        write_bag(tmp_path / "c", [View(views[0].image)])

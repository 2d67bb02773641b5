"""Check tf2_msgs built from interfaces/tf2_msgs by scripts/build_tf2_msgs.sh.

tf2_msgs is not on PyPI, so the project builds it into the venv from the official Jazzy
interface definition. These tests check that it imports, that rclpy serializes it, and
that its type hash is the one of the official ROS 2 Jazzy package, so that /tf from this
package and from a real Jazzy install are the same topic type on the wire.
"""

import json
import os
import sys
from pathlib import Path

import pytest
import rclpy
from rclpy.serialization import deserialize_message, serialize_message

try:
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TF2Error, TFMessage
except ImportError as exc:  # pragma: no cover - only without the build
    pytest.fail(
        f"tf2_msgs does not import ({exc}); run: bash scripts/build_tf2_msgs.sh .venv",
        pytrace=False,
    )

# RIHS01 type hashes of the official ROS 2 Jazzy tf2_msgs (ros2/geometry2, branch jazzy,
# 0.36.x), as `ros2 topic info --verbose /tf` prints them on a Jazzy install and as
# rosbag2 (Jazzy) stores them in metadata.yaml (`type_description_hash`).
JAZZY_HASHES = {
    "tf2_msgs/msg/TFMessage": (
        "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"
    ),
    "tf2_msgs/msg/TF2Error": (
        "RIHS01_db2485e7d6a0ec75bf087e058ee45df682acc3a621ca7780503d10aac141809a"
    ),
}


def _transform(parent, child, sec, xyz, xyzw):
    """Return a populated geometry_msgs/TransformStamped."""
    t = TransformStamped()
    t.header.stamp.sec = sec
    t.header.stamp.nanosec = 250_000_000
    t.header.frame_id = parent
    t.child_frame_id = child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = xyz
    r = t.transform.rotation
    r.x, r.y, r.z, r.w = xyzw
    return t


def _tf_message():
    """Return a TFMessage with two transforms."""
    return TFMessage(
        transforms=[
            _transform("map", "odom", 1_700_000_000, (1.5, -2.25, 0.125), (0.0, 0.0, 0.0, 1.0)),
            _transform("odom", "base_link", 1_700_000_001, (0.5, 0.0, 0.0), (0.0, 0.0, 0.6, 0.8)),
        ]
    )


def _share_dir():
    """Return the installed share/tf2_msgs directory, or None."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in [*prefixes, sys.prefix]:
        share = Path(prefix) / "share" / "tf2_msgs"
        if (share / "msg" / "TFMessage.json").is_file():
            return share
    return None


@pytest.fixture
def context():
    """Yield an initialized rclpy context, shut down afterwards."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        rclpy.shutdown(context=ctx)


def test_interfaces_import():
    from tf2_msgs.action import LookupTransform
    from tf2_msgs.srv import FrameGraph

    assert TF2Error.TRANSFORM_ERROR == 6
    assert FrameGraph.Response().frame_yaml == ""
    goal = LookupTransform.Goal(target_frame="map", source_frame="base_link", advanced=True)
    assert goal.advanced
    assert LookupTransform.Result().error.error == TF2Error.NO_ERROR


def test_serialize_round_trip():
    msg = _tf_message()
    data = serialize_message(msg)
    assert data[:2] == b"\x00\x01"  # CDR little-endian encapsulation header
    back = deserialize_message(data, TFMessage)
    assert back == msg
    assert back.transforms[1].child_frame_id == "base_link"
    assert back.transforms[0].transform.translation.y == -2.25
    assert back.transforms[1].transform.rotation.z == 0.6
    empty = deserialize_message(serialize_message(TFMessage()), TFMessage)
    assert empty.transforms == []


def test_cdr_interoperates_with_rosbags():
    """Bytes decode both ways with an independent CDR codec (rosbags, Jazzy types).

    The bytes themselves are not compared: CDR leaves alignment padding unspecified and
    rclpy's serializer does not zero it.
    """
    typesys = pytest.importorskip("rosbags.typesys")
    store = typesys.get_typestore(typesys.Stores.ROS2_JAZZY)
    t = store.types
    transforms = [
        t["geometry_msgs/msg/TransformStamped"](
            header=t["std_msgs/msg/Header"](
                stamp=t["builtin_interfaces/msg/Time"](
                    sec=m.header.stamp.sec, nanosec=m.header.stamp.nanosec
                ),
                frame_id=m.header.frame_id,
            ),
            child_frame_id=m.child_frame_id,
            transform=t["geometry_msgs/msg/Transform"](
                translation=t["geometry_msgs/msg/Vector3"](
                    x=m.transform.translation.x,
                    y=m.transform.translation.y,
                    z=m.transform.translation.z,
                ),
                rotation=t["geometry_msgs/msg/Quaternion"](
                    x=m.transform.rotation.x,
                    y=m.transform.rotation.y,
                    z=m.transform.rotation.z,
                    w=m.transform.rotation.w,
                ),
            ),
        )
        for m in _tf_message().transforms
    ]
    theirs_msg = t["tf2_msgs/msg/TFMessage"](transforms=transforms)
    theirs = bytes(store.serialize_cdr(theirs_msg, "tf2_msgs/msg/TFMessage"))
    ours = serialize_message(_tf_message())
    assert len(ours) == len(theirs)
    assert deserialize_message(theirs, TFMessage) == _tf_message()
    assert store.deserialize_cdr(ours, "tf2_msgs/msg/TFMessage") == theirs_msg


@pytest.mark.parametrize("name", ["TFMessage", "TF2Error"])
def test_installed_type_description_hash(name):
    """The generated type description (share/tf2_msgs/msg/*.json) has the Jazzy hash."""
    share = _share_dir()
    if share is None:
        pytest.skip("share/tf2_msgs not found under AMENT_PREFIX_PATH or sys.prefix")
    desc = json.loads((share / "msg" / f"{name}.json").read_text())
    own = desc["type_hashes"][0]
    assert own["type_name"] == f"tf2_msgs/msg/{name}"
    assert own["hash_string"] == JAZZY_HASHES[own["type_name"]]


def test_runtime_topic_type_hash(context):
    """The hash the middleware announces for /tf is the official Jazzy one."""
    node = rclpy.create_node("tf2_msgs_build_check", context=context)
    try:
        pub = node.create_publisher(TFMessage, "/tf2_msgs_build_check/tf", 10)
        pub.publish(_tf_message())
        (info,) = node.get_publishers_info_by_topic("/tf2_msgs_build_check/tf")
        assert info.topic_type == "tf2_msgs/msg/TFMessage"
        assert str(info.topic_type_hash) == JAZZY_HASHES["tf2_msgs/msg/TFMessage"]
    finally:
        node.destroy_node()


@pytest.mark.parametrize("typename", sorted(JAZZY_HASHES))
def test_reference_hashes_match_rosbags_jazzy_store(typename):
    """Cross-check the reference hashes against rosbags' own ROS 2 Jazzy type store."""
    typesys = pytest.importorskip("rosbags.typesys")
    store = typesys.get_typestore(typesys.Stores.ROS2_JAZZY)
    assert store.hash_rihs01(typename) == JAZZY_HASHES[typename]

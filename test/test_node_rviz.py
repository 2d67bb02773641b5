"""config/nova3r.rviz: the displays it must have, on the topics the node really uses."""

from pathlib import Path

import pytest
import yaml
from geometry_msgs.msg import PoseArray
from nav_msgs.msg import OccupancyGrid
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2
from test_node_support import Harness

from nova3r_ros.ros.node import SUCCESS, ReconstructionNode

RVIZ = Path(__file__).resolve().parents[1] / "config" / "nova3r.rviz"


def _type_name(msg) -> str:
    return f"{msg.__module__.split('.')[0]}/msg/{msg.__name__}"


@pytest.fixture(scope="module")
def published():
    """Return {topic: type name} of the configured node's publishers."""
    h = Harness()
    try:
        node = h.add(
            ReconstructionNode(
                context=h.context, parameter_overrides=[Parameter("backend", value="depth")]
            )
        )
        assert node.trigger_configure() == SUCCESS
        # The node's own publishers, not the ROS graph: in this process the graph can
        # still list a node of the same name from an earlier test's closed context.
        return {p.topic_name: _type_name(p.msg_type) for p in node.publishers}
    finally:
        h.close()


def test_rviz_config_matches_the_node(published):
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "map"
    displays = {}
    for d in manager["Displays"]:
        displays.setdefault(d["Class"].split("/")[-1], []).append(d)
    assert "TF" in displays
    wanted = {
        "PointCloud2": ("/nova3r_reconstruction/cloud", PointCloud2),
        "Map": ("/nova3r_reconstruction/occupancy", OccupancyGrid),
        "PoseArray": ("/nova3r_reconstruction/camera_poses", PoseArray),
    }
    for cls, (topic, msg) in wanted.items():
        assert cls in displays, f"no {cls} display"
        topics = [d["Topic"]["Value"] for d in displays[cls]]
        assert topic in topics, f"{cls} shows {topics}, not {topic}"
        name = _type_name(msg)
        assert published.get(topic) == name, f"the node does not publish {name} on {topic}"
    (grid,) = displays["Map"]
    assert grid["Topic"]["Durability Policy"] == "Transient Local"  # the grid is latched
    assert grid["Topic"]["Reliability Policy"] == "Reliable"
    cloud = next(d for d in displays["PointCloud2"] if d["Enabled"])
    assert cloud["Topic"]["Value"] == "/nova3r_reconstruction/cloud"
    # Observed and completed points differ: intensity on the cloud's `observed` field.
    assert cloud["Color Transformer"] == "Intensity" and cloud["Channel Name"] == "observed"
    assert cloud["Min Color"] != cloud["Max Color"]
    for d in manager["Displays"]:
        if "Topic" in d:
            assert d["Topic"]["Value"] in published, f"{d['Name']}: unknown topic"

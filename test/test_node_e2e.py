"""End to end: a rosbag2 of a 2-camera RGB-D rig, replayed into the node over loopback.

The rig's extrinsics come from /tf_static (base_link -> camX_optical_frame) and the
node runs with rig_frame base_link, so the world is the rig frame and the output is
metric: the cloud must lie on the analytic scene's surface, the estimated camera
frames ``nova3r/camX_optical_frame`` must carry the true poses, the latched grid
must reach a late subscriber and ~/save must write PLY + PGM + YAML.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseArray
from nav_msgs.msg import OccupancyGrid
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_srvs.srv import Trigger
from test_node_support import RIG, Harness, surface_distance, views
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.ply import read_ply
from nova3r_ros.ros.conversions import (
    occupancy_grid_to_array,
    pointcloud2_to_arrays,
    stamp_to_ns,
    transform_to_matrix,
)
from nova3r_ros.ros.node import SUCCESS, ReconstructionNode
from nova3r_ros.ros.replay import BagPlayer
from nova3r_ros.synth.bag_writer import write_bag

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
STEPS = 4
NAME = "/nova3r_reconstruction"


@pytest.fixture(scope="module", params=["tf_rig", "tf_world"])
def run(request, tmp_path_factory):
    """Replay the bag once per pose source: extrinsics in base_link, or poses in map."""
    tmp = tmp_path_factory.mktemp("e2e")
    vs = views(STEPS)
    base = "base_link" if request.param == "tf_rig" else "map"
    bag = write_bag(tmp / "bag", vs, static_extrinsics=RIG, base_frame=base)
    h = Harness()
    node = h.add(ReconstructionNode(context=h.context, parameter_overrides=[
        Parameter("backend", value="depth"),
        Parameter("cameras", value=["cam0", "cam1"]),
        Parameter("rig_frame", value="base_link"),
        Parameter("window_size", value=2),
        Parameter("sync.slop", value=0.01),
        Parameter("keyframe.min_interval", value=0.0),
        Parameter("keyframe.min_image_change", value=0.0),
        Parameter("occupancy.resolution", value=0.05),
        Parameter("occupancy.z_min", value=0.05),
        Parameter("occupancy.z_max", value=1.0),
        Parameter("diagnostics_period", value=0.2),
        Parameter("save_directory", value=str(tmp / "saved")),
    ]))  # fmt: skip
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    probe = h.node("probe")
    got = {"cloud": [], "tf": [], "poses": [], "diag": []}
    probe.create_subscription(PointCloud2, f"{NAME}/cloud", got["cloud"].append, RELIABLE)
    probe.create_subscription(TFMessage, "/tf", got["tf"].append, RELIABLE)
    probe.create_subscription(PoseArray, f"{NAME}/camera_poses", got["poses"].append, RELIABLE)
    probe.create_subscription(DiagnosticArray, "/diagnostics", got["diag"].append, RELIABLE)
    player = BagPlayer(h.node("player"), bag, rate=1.0)
    inputs = [p for t, p in player.publishers.items() if t != "/tf_static"]
    assert h.spin_until(lambda: all(p.get_subscription_count() for p in inputs))
    player.start()
    last = max(v.stamp for v in vs)
    done = h.spin_until(
        lambda: any(stamp_to_ns(c.header.stamp) == last for c in got["cloud"]), 15.0
    )
    assert done, f"no cloud for the last window; node error: {node.last_error!r}"
    h.spin_until(lambda: False, 0.3)  # let TF, poses and diagnostics arrive
    yield SimpleNamespace(h=h, node=node, got=got, views=vs, tmp=tmp, source=request.param)
    player.destroy()
    h.close()


def test_cloud_is_on_the_true_surface_with_the_window_stamp(run):
    got = run.got
    stamps = {v.stamp for v in run.views}
    assert all(stamp_to_ns(c.header.stamp) in stamps for c in got["cloud"])
    cloud = got["cloud"][-1]
    assert cloud.header.frame_id == "map"
    assert stamp_to_ns(cloud.header.stamp) == max(stamps)
    arrays = pointcloud2_to_arrays(cloud)
    assert {f.name for f in cloud.fields} == {"x", "y", "z", "rgb", "observed", "confidence"}
    assert len(arrays["points"]) > 2000
    assert np.percentile(surface_distance(arrays["points"]), 99) < 0.01
    assert np.all(arrays["observed"] == 1.0) and np.all(arrays["confidence"] == 1.0)


def test_estimated_camera_frames_on_tf(run):
    got = run.got
    latest = {}
    for msg in got["tf"]:
        for t in msg.transforms:
            latest[t.child_frame_id] = t
    poses = got["poses"][-1]
    views = 4 if run.source == "tf_world" else 2  # K x N fused; or the newest keyframe only
    assert poses.header.frame_id == "map" and len(poses.poses) == views
    if run.source == "tf_world":  # TF knew the cameras in map: nothing is re-published
        assert latest == {}
        return
    for cam in ("cam0", "cam1"):
        t = latest[f"nova3r/{cam}_optical_frame"]
        assert t.header.frame_id == "map"
        np.testing.assert_allclose(transform_to_matrix(t.transform), RIG[cam], atol=1e-6)
    assert "cam0_optical_frame" not in latest  # the robot's own frames are never re-published


def test_latched_occupancy_reaches_a_late_subscriber(run):
    h = run.h
    grids = []
    h.node("late_subscriber").create_subscription(
        OccupancyGrid, f"{NAME}/occupancy", grids.append, LATCHED
    )
    assert h.spin_until(lambda: grids, 5.0), "late subscriber got no grid"
    g = grids[0]
    assert g.header.frame_id == "map" and g.info.resolution == pytest.approx(0.05)
    data = occupancy_grid_to_array(g)
    ox, oy = g.info.origin.position.x, g.info.origin.position.y
    assert data[int((0.0 - oy) // 0.05), int((0.0 - ox) // 0.05)] == 100  # the box
    assert data[int((0.0 - oy) // 0.05), int((0.8 - ox) // 0.05)] == 0  # seen free
    assert np.count_nonzero(data == -1) > 0


def test_save_writes_ply_pgm_and_yaml(run):
    h, node, tmp = run.h, run.node, run.tmp
    client = h.node("saver").create_client(Trigger, f"{NAME}/save")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(Trigger.Request())
    assert h.spin_until(future.done, 10.0)
    assert future.result().success, future.result().message
    folder = tmp / "saved"
    ply = read_ply(folder / "cloud.ply")
    assert len(ply["points"]) == node.latest.points.shape[0]
    assert set(ply) >= {"points", "colors", "observed", "confidence"}
    pgm = (folder / "map.pgm").read_bytes()
    assert pgm.startswith(b"P5\n")
    w, hgt = map(int, pgm.split(b"\n")[1].split())
    assert len(pgm) == len(b"P5\n%d %d\n255\n" % (w, hgt)) + w * hgt
    text = (folder / "map.yaml").read_text()
    for key in ("image: map.pgm", "mode: trinary", "resolution: 0.05", "origin: [", "negate: 0"):
        assert key in text


def test_diagnostics_say_how_the_world_was_fixed(run):
    got = run.got
    values = {kv.key: kv.value for kv in got["diag"][-1].status[0].values}
    assert values["pose_source"] == run.source and values["scale_mode"] == "metric"
    if run.source == "tf_rig":
        # The first window's rig frame became the world; the depth backend then sees only
        # the newest keyframe, so later windows are chained by camera (a static rig).
        # The placement is then checked against the map of the views so far (chaining).
        expected = "chained by camera name (2 cameras assumed static), rigid; "
        assert values["anchoring"].startswith(expected + "refined on the map"), values
        assert int(values["chain/windows_map_tracked"]) >= 1
        assert int(values["chain/windows_not_placed"]) == 0
    else:
        assert values["anchoring"] == "poses from TF in map"
        assert int(values["chain/windows_map_tracked"]) == 0  # TF's poses: never chained
    assert int(values["windows_processed"]) >= 1
    status = got["diag"][-1].status[0]
    assert status.level == DiagnosticStatus.OK, status.message


def test_window_ages_are_timed_in_order(run):
    """Group formed (last message in) <= worker start <= cloud handed to the middleware."""
    last = run.node.worker.times.last
    assert last["grouped_age"] <= last["input_age"] <= last["published_age"]
    values = {kv.key: kv.value for kv in run.got["diag"][-1].status[0].values}
    for stage in ("grouped_age", "input_age", "published_age", "publish_cloud"):
        assert float(values[f"mean_latency_ms/{stage}"]) >= 0.0


def test_reset_clears_the_map_and_the_world(run):
    h, node = run.h, run.node
    client = h.node("resetter").create_client(Trigger, f"{NAME}/reset")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(Trigger.Request())
    assert h.spin_until(future.done, 10.0) and future.result().success
    assert node.latest is None and len(node.processor.map.occupied()) == 0
    assert not node.processor.anchor.anchored
    grids = []
    h.node("after_reset").create_subscription(
        OccupancyGrid, f"{NAME}/occupancy", grids.append, LATCHED
    )
    assert h.spin_until(lambda: grids, 5.0)
    assert (grids[-1].info.width, grids[-1].info.height) == (0, 0)  # the latched grid is empty

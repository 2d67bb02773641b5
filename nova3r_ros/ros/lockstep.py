"""Run the reconstruction node on a bag in process, in lock-step, and collect its outputs.

Lock-step: the bag's messages are grouped into time steps (one stamp of every camera,
with the ``/tf`` messages up to that stamp); the next step is published only after
the node has published the cloud of the current one (or counted its window as
failed), so no window is dropped or replaced and the results do not depend on the
machine's speed. Everything goes through real rclpy publishers and subscriptions over
loopback, in a private context: the node (:class:`~nova3r_ros.ros.node.ReconstructionNode`)
sees exactly what ``nova3r replay`` would give it.

The node is configured from the bag's sidecar: its cameras and their topics (the
driver names the bag was written with), ``world_frame`` = the sidecar's frame,
``rig_frame`` for rig bags, every step a keyframe, reliable inputs; ``params``
override any of it (backend, device, n_points, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.bags.reader import header_stamp, open_bag
from nova3r_ros.bags.sidecar import Sidecar

NODE_NAME = "nova3r_reconstruction"
TF_WAIT_S = 1.0  # at most this long for the node's TF buffer to hold a step's /tf


@dataclass
class NodeWindow:
    """What the node published for one window (world frame = the cloud's frame_id).

    ``points`` (N, 3) float32, ``colors`` (N, 3) uint8, ``observed`` (N,) bool,
    ``confidence`` (N,) float32; ``T_world_cams`` the published camera-to-world poses;
    ``tf`` the camera poses the node put on ``/tf`` at this stamp (child frame -> 4x4
    camera-to-world): only estimated poses that passed their checks.
    """

    stamp: int
    frame_id: str
    points: np.ndarray
    colors: np.ndarray
    observed: np.ndarray
    confidence: np.ndarray
    T_world_cams: list = field(default_factory=list)
    seconds: float = 0.0
    tf: dict = field(default_factory=dict)  # child frame -> 4x4 world pose on /tf (estimated)


@dataclass
class LockstepRun:
    """Everything collected: windows by stamp, failures, the last occupancy grid."""

    windows: dict[int, NodeWindow]
    failed: dict[int, str]
    steps: list[int]
    backend: str
    grid: np.ndarray | None = None
    grid_info: dict | None = None
    chain: dict = field(default_factory=dict)  # the node's chain/* diagnostics at the end


def pose_to_matrix(pose) -> np.ndarray:
    """geometry_msgs/Pose -> 4x4 float64 (the pose's frame <- the body's)."""
    from nova3r_ros.core.transforms import quat_to_matrix

    T = np.eye(4)
    q = pose.orientation
    T[:3, :3] = quat_to_matrix(np.array([q.x, q.y, q.z, q.w]))
    T[:3, 3] = (pose.position.x, pose.position.y, pose.position.z)
    return T


def node_parameters(side: Sidecar, bag_topics: set[str], window_size: int) -> dict:
    """Node parameters that make it read this bag (module docstring)."""
    cams = side.camera_names
    p: dict[str, object] = {
        "cameras": cams, "world_frame": side.frame, "rig_frame": side.rig_frame,
        "use_tf_poses": side.tf != "none", "window_size": window_size,
        "keyframe.min_interval": 0.0, "keyframe.min_image_change": 0.0,
        "qos.reliability": "reliable", "qos.depth": 10, "queue_length": 16,
        "sync.camera_timeout": 0.0, "sync.max_future": 0.0, "sync.period": 0.01,
    }  # fmt: skip
    for c in cams:
        t = side.camera(c)
        compressed = t.image + "/compressed" in bag_topics
        depth = (t.depth + "/compressedDepth" if compressed else t.depth) in bag_topics
        p.update({f"camera.{c}.image_topic": t.image, f"camera.{c}.info_topic": t.info,
                  f"camera.{c}.depth_topic": t.depth, f"camera.{c}.use_depth": depth,
                  f"camera.{c}.transport": "compressed" if compressed else "raw"})  # fmt: skip
    return p


def _steps(bag, side: Sidecar, n_steps: int | None):
    """[(stamp, [(topic, raw), ...])] of the first ``n_steps`` sidecar stamps + latched."""
    stamps = side.stamps[:n_steps]
    data_topics = set()
    for c in side.cameras or [side.camera(n) for n in side.camera_names]:
        data_topics |= {c.image, c.image + "/compressed", c.info, c.depth,
                        c.depth + "/compressedDepth"}  # fmt: skip
    latched, per_step = [], {s: [] for s in stamps}
    latched_topics = {c.topic for c in bag.connections if c.latched}
    for topic, _, t_ns, raw in bag.messages():
        if topic in latched_topics:
            latched.append((topic, raw))
        elif topic in data_topics:
            s = header_stamp(raw)
            if s in per_step:
                per_step[s].append((topic, raw))
        else:  # /tf and anything else: the first step at or after its receive time
            later = [s for s in stamps if s >= t_ns]
            if later:
                per_step[later[0]].append((topic, raw))
    return latched, [(s, per_step[s]) for s in stamps]


def run_lockstep(
    bag_path: str,
    side: Sidecar,
    window_size: int = 2,
    params: Mapping[str, object] | None = None,
    n_steps: int | None = None,
    window_timeout: float = 600.0,
    log: Callable[[str], None] = print,
) -> LockstepRun:
    """Feed the bag to an in-process node step by step; return what it published."""
    import rclpy
    from geometry_msgs.msg import PoseArray
    from nav_msgs.msg import OccupancyGrid
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2
    from tf2_msgs.msg import TFMessage

    from nova3r_ros.ros.conversions import (
        occupancy_grid_to_array,
        pointcloud2_to_arrays,
        stamp_to_ns,
        transform_to_matrix,
    )
    from nova3r_ros.ros.node import SUCCESS, ReconstructionNode
    from nova3r_ros.ros.replay import BagPlayer

    bag = open_bag(bag_path)
    latched, steps = _steps(bag, side, n_steps)
    values = {**node_parameters(side, {c.topic for c in bag.connections}, window_size),
              **(params or {})}  # fmt: skip
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=["nova3r_eval_bag", "--ros-args", "--disable-external-lib-logs"])
    ex = SingleThreadedExecutor(context=ctx)
    nodes = []
    try:
        node = ReconstructionNode(NODE_NAME, context=ctx, parameter_overrides=[
            Parameter(k, value=v) for k, v in values.items()])  # fmt: skip
        nodes.append(node)
        ex.add_node(node)
        if node.trigger_configure() != SUCCESS or node.trigger_activate() != SUCCESS:
            raise ValueError(f"the node did not start: {node.last_error}")
        backend = node.backend.label
        probe = rclpy.create_node("nova3r_eval_probe", context=ctx)
        nodes.append(probe)
        ex.add_node(probe)
        got = {"cloud": [], "poses": {}, "grid": [], "tf": {}}
        rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latch = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
        probe.create_subscription(PointCloud2, f"/{NODE_NAME}/cloud", got["cloud"].append, rel)
        probe.create_subscription(
            PoseArray, f"/{NODE_NAME}/camera_poses",
            lambda m: got["poses"].__setitem__(stamp_to_ns(m.header.stamp), m), rel)  # fmt: skip
        probe.create_subscription(OccupancyGrid, f"/{NODE_NAME}/occupancy", got["grid"].append,
                                  latch)  # fmt: skip
        prefix = str(values.get("frame_prefix", "nova3r/"))

        def on_tf(msg) -> None:  # the node's estimates only (the bag's own TF is replayed)
            for t in msg.transforms:
                if t.child_frame_id.startswith(prefix):
                    at = got["tf"].setdefault(stamp_to_ns(t.header.stamp), {})
                    at[t.child_frame_id] = transform_to_matrix(t.transform)

        probe.create_subscription(TFMessage, "/tf", on_tf, QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE))  # fmt: skip
        pnode = rclpy.create_node("nova3r_eval_player", context=ctx)
        nodes.append(pnode)
        ex.add_node(pnode)
        player = BagPlayer(pnode, bag_path)
        pubs = player.publishers

        def tf_ready(stamp: int) -> bool:
            tf = node.tf
            return tf is None or all(tf.ready(side.frame, c.frame_id, stamp) for c in cams)

        def spin_until(pred, timeout: float) -> bool:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if pred():
                    return True
                ex.spin_once(timeout_sec=0.01)
            return pred()

        if not spin_until(lambda: not player.missing_subscribers(), 30.0):
            raise ValueError(
                "the node never subscribed to: " + ", ".join(player.missing_subscribers())
            )
        for topic, raw in latched:
            pubs[topic].publish(raw)
        spin_until(lambda: False, 0.2)
        cams = side.cameras or [side.camera(n) for n in side.camera_names]
        windows, failed = {}, {}
        for i, (stamp, msgs) in enumerate(steps):
            t0, n_failed = time.monotonic(), node.worker.failed if node.worker else 0
            order = {"/tf": 0, **{c.info: 1 for c in cams}, **{c.image: 3 for c in cams}}
            waiting = False  # a /tf was published: let the node's buffer take it first
            for topic, raw in sorted(msgs, key=lambda m: order.get(m[0], 2)):
                if waiting and topic != "/tf":
                    spin_until(lambda s=stamp: tf_ready(s), TF_WAIT_S)
                    waiting = False
                pubs[topic].publish(raw)
                waiting = waiting or topic == "/tf"

            def done(stamp: int = stamp, n_failed: int = n_failed) -> bool:
                ok = any(stamp_to_ns(c.header.stamp) == stamp for c in got["cloud"])
                return ok or (node.worker is not None and node.worker.failed > n_failed)

            if not spin_until(done, window_timeout):
                failed[stamp] = f"no output within {window_timeout:g} s"
            elif not any(stamp_to_ns(c.header.stamp) == stamp for c in got["cloud"]):
                failed[stamp] = node.last_error or "window failed"
            else:
                spin_until(lambda s=stamp: s in got["poses"], 2.0)
                if side.tf == "none":  # the node's estimates (none: failed their checks)
                    spin_until(lambda s=stamp: s in got["tf"], 0.5)
                msg = [c for c in got["cloud"] if stamp_to_ns(c.header.stamp) == stamp][-1]
                a = pointcloud2_to_arrays(msg)
                poses = got["poses"].get(stamp)
                windows[stamp] = NodeWindow(
                    stamp, msg.header.frame_id, np.asarray(a["points"], np.float32),
                    np.asarray(a.get("colors", np.zeros((len(a["points"]), 3))), np.uint8),
                    np.asarray(a.get("observed", np.ones(len(a["points"]))) > 0.5),
                    np.asarray(a.get("confidence", np.ones(len(a["points"]))), np.float32),
                    [pose_to_matrix(p) for p in poses.poses] if poses else [],
                    time.monotonic() - t0, got["tf"].get(stamp, {}),
                )  # fmt: skip
                got["cloud"].clear()
            note = failed.get(stamp, f"{len(windows[stamp].points)} points" if stamp in windows
                              else "")  # fmt: skip
            log(f"[eval-bag] window {i + 1}/{len(steps)}: {time.monotonic() - t0:.1f} s, {note}")
        run = LockstepRun(windows, failed, [s for s, _ in steps], backend)
        run.chain = node.processor.chainer.values() if node.processor else {}
        last = steps[-1][0] if steps else None
        if spin_until(lambda: any(stamp_to_ns(g.header.stamp) == last for g in got["grid"]), 10.0):
            g = [g for g in got["grid"] if stamp_to_ns(g.header.stamp) == last][-1]
            run.grid = occupancy_grid_to_array(g)
            o = g.info.origin.position
            run.grid_info = {"resolution": g.info.resolution, "origin": (o.x, o.y),
                             "frame": g.header.frame_id}  # fmt: skip
        player.destroy()
        return run
    finally:
        for n in reversed(nodes):
            ex.remove_node(n)
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)

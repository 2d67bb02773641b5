"""Shared helpers of the node tests: an analytic scene, a ROS harness (no tests here).

Scene (world frame, z up, metres): a textured floor z = 0 over [-1.5, 1.5]^2 and a
box [-0.2, 0.2] x [-0.15, 0.15] x [0, 0.3]. Cameras look at it from about 1.4 m.
Rendering is exact ray casting with numpy (OpenCV optical frames).
"""

import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from nova3r_ros.core.types import View
from nova3r_ros.ros.conversions import header, numpy_to_image, stamp_to_ns

FLOOR = 1.5
BOX_LO = np.array([-0.2, -0.15, 0.0])
BOX_HI = np.array([0.2, 0.15, 0.3])
W, H = 96, 72
K = np.array([[80.0, 0, (W - 1) / 2], [0, 80.0, (H - 1) / 2], [0, 0, 1]])
NS = 1_000_000_000
STAMP0 = 1_700_000_000 * NS


EAGER = {  # a node that makes a window of every frame, fast: the bad-input and timeout rigs
    "backend": "depth",  # the default is the model; these rigs test plumbing
    "window_size": 1,
    "keyframe.min_interval": 0.0,
    "keyframe.min_image_change": 0.0,
    "qos.reliability": "reliable",
    "sync.period": 0.005,
    "diagnostics_period": 0.2,
    "depth_stride": 3,
    "tf.startup_wait": 0.0,  # most rigs publish no TF: estimate at once
}


TINY_MODEL = {  # the model backend at CPU-test size (CI has no GPU, 2 cores)
    "backend": "model",
    "device": "cpu",
    "n_points": 256,
    "ode_steps": 2,
}


def eager_params(**overrides) -> list[Parameter]:
    """``EAGER`` as node parameter overrides; ``overrides`` use ``__`` for dots."""
    values = {**EAGER, **{k.replace("__", "."): v for k, v in overrides.items()}}
    return [Parameter(name, value=value) for name, value in values.items()]


def look_at(eye, target=(0.0, 0.0, 0.1)) -> np.ndarray:
    """Return T_world_cam (OpenCV optical frame) of a camera at ``eye`` looking at ``target``."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    f = (target - eye) / np.linalg.norm(target - eye)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    T = np.eye(4)
    T[:3, :3] = np.stack([r, np.cross(f, r), f], axis=1)
    T[:3, 3] = eye
    return T


RIG = {"cam0": look_at([1.2, 0.0, 0.8]), "cam1": look_at([0.2, 1.2, 0.7])}


def render(T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (rgb uint8 HxWx3, z-depth float32 HxW metres, 0 = miss) of the scene."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones((H, W))], -1)
    d = rays.reshape(-1, 3) @ T_world_cam[:3, :3].T  # world directions, z_cam = 1 per unit t
    o = T_world_cam[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[:, 2] < 0, -o[2] / d[:, 2], np.inf)
        t1, t2 = (BOX_LO - o) / d, (BOX_HI - o) / d
        t_near = np.nanmax(np.minimum(t1, t2), axis=1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    hit_box = (t_near <= t_far) & (t_near > 0)
    t_box = np.where(hit_box, t_near, np.inf)
    p_floor = o + d * np.where(np.isfinite(t_floor), t_floor, 0)[:, None]
    t_floor[np.any(np.abs(p_floor[:, :2]) > FLOOR, axis=1)] = np.inf
    t = np.minimum(t_floor, t_box)
    p = o + d * np.where(np.isfinite(t), t, 0)[:, None]
    checker = (np.floor(p[:, 0] / 0.1) + np.floor(p[:, 1] / 0.1) + np.floor(p[:, 2] / 0.1)) % 2
    rgb = np.where(t_box < t_floor, 1, 0)[:, None] * np.array([150, 40, 40]) + (
        np.array([60, 60, 60]) + checker[:, None] * 140
    )
    rgb[~np.isfinite(t)] = 0
    depth = np.where(np.isfinite(t), t, 0).astype(np.float32)
    return rgb.reshape(H, W, 3).clip(0, 255).astype(np.uint8), depth.reshape(H, W)


def surface_distance(points: np.ndarray) -> np.ndarray:
    """Return each world point's distance (m) to the scene's surface (floor or box)."""
    p = np.asarray(points, float)
    floor = np.abs(p[:, 2])
    q = np.maximum(BOX_LO - p, 0) + np.maximum(p - BOX_HI, 0)  # outside distance
    inside = np.min(np.minimum(p - BOX_LO, BOX_HI - p), axis=1)
    box = np.where(np.all(q == 0, axis=1), inside, np.linalg.norm(q, axis=1))
    return np.minimum(floor, np.abs(box))


def views(steps: int, cameras=("cam0", "cam1"), period_s: float = 0.1) -> list[View]:
    """Return rendered, stamped views of a static rig: ``steps`` time steps x ``cameras``."""
    out = []
    for s in range(steps):
        for c in cameras:
            rgb, depth = render(RIG[c])
            stamp = STAMP0 + int(s * period_s * NS)
            out.append(View(rgb, depth, K, RIG[c], stamp, f"{c}_optical_frame", c))
    return out


class Harness:
    """A private rclpy context, a single-threaded executor and the nodes in it."""

    def __init__(self, args=None):
        """Initialise rclpy in a new context with ``args`` (e.g. --ros-args)."""
        self.context = rclpy.Context()
        rclpy.init(args=args, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes = []

    def add(self, node):
        self.executor.add_node(node)
        self.nodes.append(node)
        return node

    def node(self, name):
        return self.add(rclpy.create_node(name, context=self.context))

    def spin_until(self, predicate, timeout=10.0, publish=None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if publish is not None:
                publish()
            self.executor.spin_once(timeout_sec=0.02)
            if predicate():
                return True
        return False

    def close(self):
        for node in self.nodes:
            node.destroy_node()
        self.executor.shutdown()
        rclpy.shutdown(context=self.context)


class OneCamera:
    """A fake RGB-D camera ``cam0`` (static, RIG pose, no TF) and probes of the node's outputs.

    Publishes reliable image, depth and CameraInfo; records ``~/cloud`` and
    ``/diagnostics`` of the node named ``nova3r_reconstruction``.
    """

    def __init__(self, h: Harness, name: str = "cam0_driver"):
        """Create the publishers and subscriptions in a node ``name`` of ``h``."""
        self.h = h
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        probe = h.node(name)
        self.pubs = [probe.create_publisher(CameraInfo, "/cam0/camera_info", qos),
                     probe.create_publisher(Image, "/cam0/depth/image_raw", qos),
                     probe.create_publisher(Image, "/cam0/image_raw", qos)]  # fmt: skip
        self.clouds, self.diags = [], []
        probe.create_subscription(PointCloud2, "/nova3r_reconstruction/cloud",
                                  self.clouds.append, qos)  # fmt: skip
        probe.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, qos)
        self.rgb, self.depth = render(RIG["cam0"])
        self.step = 0

    def connected(self, timeout: float = 10.0) -> bool:
        """Wait until the node subscribes to every input."""
        return self.h.spin_until(lambda: all(p.get_subscription_count() for p in self.pubs),
                                 timeout)  # fmt: skip

    def send(self) -> int:
        """Publish one frame (a new stamp, 0.1 s after the previous one); return its stamp."""
        self.step += 1
        stamp = STAMP0 + self.step * NS // 10
        hdr = header("cam0_optical_frame", stamp)
        info = CameraInfo(header=hdr, width=W, height=H, distortion_model="plumb_bob")
        info.k = K.reshape(9).tolist()
        self.pubs[0].publish(info)
        self.pubs[1].publish(numpy_to_image(self.depth, "32FC1", hdr))
        self.pubs[2].publish(numpy_to_image(self.rgb, "rgb8", hdr))
        return stamp

    def cloud(self, stamp: int, timeout: float = 20.0):
        """Return the node's cloud of the window stamped ``stamp`` (None if none came)."""

        def got():
            return next((c for c in self.clouds if stamp_to_ns(c.header.stamp) == stamp), None)

        self.h.spin_until(lambda: got() is not None, timeout)
        return got()

    def diagnostics(self, predicate, timeout: float = 5.0):
        """Return the first new /diagnostics status whose values satisfy ``predicate``."""
        self.diags.clear()

        def match():
            for d in self.diags:
                values = {kv.key: kv.value for kv in d.status[0].values}
                if predicate(values):
                    return d.status[0], values
            return None

        self.h.spin_until(lambda: match() is not None, timeout)
        return match() or (None, {})

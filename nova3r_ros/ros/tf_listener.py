"""A minimal TF buffer fed by /tf and /tf_static, for installs without tf2_ros.

:class:`TfBuffer` keeps the latest transform of every child frame (static ones
forever) and looks up chains through the tree at the latest time: enough for
camera extrinsics and slowly changing robot poses, not a replacement for
tf2's interpolation. :func:`make_tf_lookup` returns tf2_ros's Buffer and
TransformListener behind the same ``lookup`` call when tf2_ros is importable
(a real ROS install), else this buffer with :class:`TfSubscriber`.

Transforms are 4x4 float64 ``T_target_source``: they map points in ``source``
into ``target`` (REP 105 naming: parent = target of the child's pose).
"""

from __future__ import annotations

import threading

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.transforms import se3_inverse
from nova3r_ros.ros.conversions import stamp_to_ns, transform_to_matrix

MAX_DEPTH = 64  # longest chain followed (guards against loops in bad TF data)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(
    depth=100,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class TfBuffer:
    """The latest ``T_parent_child`` of every child frame, looked up along the tree.

    Args:
        ignore_prefix: child frames starting with this prefix are not stored (the
            node's own estimated frames must never come back as known inputs).

    """

    def __init__(self, ignore_prefix: str = "") -> None:
        self.ignore_prefix = ignore_prefix
        self._lock = threading.Lock()
        self._edges: dict[str, tuple[str, np.ndarray, int, bool]] = {}
        self.received = 0
        self.rejected = 0

    def set_transform(
        self, parent: str, child: str, T_parent_child: np.ndarray, stamp_ns: int, static: bool
    ) -> bool:
        """Store ``T_parent_child`` (4x4) as the child's latest pose; return False if ignored."""
        self.received += 1
        if (
            not parent
            or not child
            or parent == child
            or (self.ignore_prefix and child.startswith(self.ignore_prefix))
            or not np.all(np.isfinite(T_parent_child))
        ):
            self.rejected += 1
            return False
        with self._lock:
            old = self._edges.get(child)
            if old is not None and not static and not old[3] and stamp_ns < old[2]:
                return True  # older than what we have
            self._edges[child] = (parent, np.asarray(T_parent_child, np.float64), stamp_ns, static)
        return True

    def add_message(self, msg: TFMessage, static: bool) -> None:
        """Store every transform of a tf2_msgs/TFMessage."""
        for t in msg.transforms:
            try:
                T = transform_to_matrix(t.transform)
            except ValueError:
                self.rejected += 1
                continue
            self.set_transform(
                t.header.frame_id, t.child_frame_id, T, stamp_to_ns(t.header.stamp), static
            )

    def clear(self) -> None:
        """Forget every transform."""
        with self._lock:
            self._edges.clear()

    def _chain(self, frame: str) -> list[tuple[str, np.ndarray]]:
        """Return [(ancestor, T_ancestor_frame)] from ``frame`` itself up to its root."""
        out = [(frame, np.eye(4))]
        T = np.eye(4)
        seen = {frame}
        while len(out) <= MAX_DEPTH and frame in self._edges:
            parent, T_pc, _, _ = self._edges[frame]
            if parent in seen:
                break
            T = T_pc @ T
            out.append((parent, T))
            seen.add(parent)
            frame = parent
        return out

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """Return ``T_target_source`` (4x4) at the latest time, or None if not connected."""
        if target == source:
            return np.eye(4)
        with self._lock:
            up_source = dict(self._chain(source))  # ancestor -> T_ancestor_source
            for ancestor, T_ancestor_target in self._chain(target):
                if ancestor in up_source:
                    if ancestor == target:  # target is an ancestor of source: no inverse
                        return up_source[ancestor].copy()
                    return se3_inverse(T_ancestor_target) @ up_source[ancestor]
        return None

    def can_transform(self, target: str, source: str) -> bool:
        """Return True when ``lookup(target, source)`` would succeed."""
        return self.lookup(target, source) is not None


class TfSubscriber:
    """Feeds a :class:`TfBuffer` from /tf and /tf_static subscriptions of ``node``."""

    def __init__(self, node, buffer: TfBuffer) -> None:
        self.node = node
        self.buffer = buffer
        self._subs = [
            node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS),
            node.create_subscription(TFMessage, "/tf_static", self._on_static, TF_STATIC_QOS),
        ]

    def _on_tf(self, msg: TFMessage) -> None:
        self.buffer.add_message(msg, static=False)

    def _on_static(self, msg: TFMessage) -> None:
        self.buffer.add_message(msg, static=True)

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """Return ``T_target_source`` at the latest time, or None."""
        return self.buffer.lookup(target, source)

    def destroy(self) -> None:
        """Destroy the subscriptions."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []


class Tf2Lookup:
    """tf2_ros.Buffer + TransformListener behind the :class:`TfSubscriber` interface."""

    def __init__(self, node, tf2_ros) -> None:
        from rclpy.time import Time

        self._time = Time
        self._tf2 = tf2_ros
        self.node = node
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, node, spin_thread=False)

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """Return ``T_target_source`` at the latest time, or None."""
        try:
            t = self.buffer.lookup_transform(target, source, self._time())
        except self._tf2.TransformException:
            return None
        return transform_to_matrix(t.transform)

    def destroy(self) -> None:
        """Unregister the listener's subscriptions."""
        self.listener.unregister()


def make_tf_lookup(node, ignore_prefix: str, prefer_tf2: bool = True):
    """Return a TF lookup for ``node``: tf2_ros's when importable, else our own buffer.

    With tf2_ros the node's own frames cannot be filtered out; they never collide
    with camera frames because they carry ``ignore_prefix``.
    """
    if prefer_tf2:
        try:
            import tf2_ros
        except ImportError:
            tf2_ros = None
        if tf2_ros is not None:
            return Tf2Lookup(node, tf2_ros)
    return TfSubscriber(node, TfBuffer(ignore_prefix))

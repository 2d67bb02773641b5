"""TF lookups at an image's stamp: tf2_ros where installed, else a small buffer of our own.

:class:`TfBuffer` keeps, per child frame, the transforms of the last
``cache_time`` seconds (static ones forever) and looks up chains through the
tree at a given stamp, interpolating each edge between its two neighbouring
transforms (linear translation, quaternion slerp) as tf2 does. A stamp outside
an edge's history is an extrapolation: the lookup fails and is counted
(``tf_extrapolation``); a stamp of 0 means the latest transforms.
:func:`make_tf_lookup` returns tf2_ros's Buffer and TransformListener behind the
same ``lookup(target, source, stamp_ns, timeout)`` when tf2_ros is importable (a
real ROS install), else this buffer with :class:`TfSubscriber`. Both wait up to
``timeout`` seconds (called from the
grouping thread, never from a callback) for a transform that is connected but not
yet at the stamp, and count lookups in ``counters`` (``tf_lookups_ok``,
``tf_extrapolation``, ``tf_unconnected``).

Transforms are 4x4 float64 ``T_target_source``: they map points in ``source``
into ``target`` (REP 105 naming: parent = target of the child's pose).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter

import numpy as np
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.transforms import matrix_to_quat, quat_to_matrix, se3_inverse
from nova3r_ros.ros.conversions import stamp_to_ns, transform_to_matrix

MAX_DEPTH = 64  # longest chain followed (guards against loops in bad TF data)
CACHE_NS = 10 * 1_000_000_000  # history kept per dynamic edge (tf2's default)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(
    depth=100,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class Extrapolation(LookupError):
    """A stamp outside an edge's history (before its oldest or after its newest transform)."""


def interpolate(T0: np.ndarray, T1: np.ndarray, w: float) -> np.ndarray:
    """Return the pose ``w`` of the way from ``T0`` to ``T1`` (lerp + quaternion slerp)."""
    q0, q1 = matrix_to_quat(T0[:3, :3]), matrix_to_quat(T1[:3, :3])
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + w * (q1 - q0)
    else:
        theta = np.arccos(min(dot, 1.0))
        q = (np.sin((1 - w) * theta) * q0 + np.sin(w * theta) * q1) / np.sin(theta)
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(q / np.linalg.norm(q))
    T[:3, 3] = (1 - w) * T0[:3, 3] + w * T1[:3, 3]
    return T


class _Edge:
    """One child's parent and its ``T_parent_child`` history (sorted by stamp)."""

    def __init__(self, parent: str, static: bool) -> None:
        self.parent, self.static = parent, static
        self.stamps: list[int] = []
        self.poses: list[np.ndarray] = []

    def add(self, T: np.ndarray, stamp: int, cache_ns: int) -> None:
        if self.static:
            self.stamps, self.poses = [stamp], [T]
            return
        i = bisect.bisect_left(self.stamps, stamp)
        if i < len(self.stamps) and self.stamps[i] == stamp:
            self.poses[i] = T
        else:
            self.stamps.insert(i, stamp)
            self.poses.insert(i, T)
        cut = bisect.bisect_left(self.stamps, self.stamps[-1] - cache_ns)
        del self.stamps[:cut], self.poses[:cut]

    def at(self, stamp: int) -> np.ndarray:
        """Return ``T_parent_child`` at ``stamp`` (0 = latest); Extrapolation outside."""
        if self.static or stamp == 0:
            return self.poses[-1]
        if stamp < self.stamps[0] or stamp > self.stamps[-1]:
            raise Extrapolation(
                f"{stamp / 1e9:.3f} s is outside [{self.stamps[0] / 1e9:.3f}, "
                f"{self.stamps[-1] / 1e9:.3f}] s"
            )
        i = bisect.bisect_left(self.stamps, stamp)
        if self.stamps[i] == stamp:
            return self.poses[i]
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        return interpolate(self.poses[i - 1], self.poses[i], (stamp - t0) / (t1 - t0))


class TfBuffer:
    """``T_parent_child`` histories of every child frame, looked up along the tree at a stamp.

    Args:
        ignore_prefix: child frames starting with this prefix are not stored (the
            node's own estimated frames must never come back as known inputs).
        cache_ns: history kept per dynamic edge (ns).

    """

    def __init__(self, ignore_prefix: str = "", cache_ns: int = CACHE_NS) -> None:
        self.ignore_prefix = ignore_prefix
        self.cache_ns = int(cache_ns)
        self._lock = threading.Lock()
        self._edges: dict[str, _Edge] = {}
        self.received = 0
        self.rejected = 0

    def set_transform(
        self, parent: str, child: str, T_parent_child: np.ndarray, stamp_ns: int, static: bool
    ) -> bool:
        """Store ``T_parent_child`` (4x4) at ``stamp_ns``; return False if ignored."""
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
            edge = self._edges.get(child)
            if edge is None or edge.parent != parent or edge.static != static:
                edge = self._edges[child] = _Edge(parent, static)
            edge.add(np.asarray(T_parent_child, np.float64), int(stamp_ns), self.cache_ns)
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

    def _chain(self, frame: str, stamp: int) -> list[tuple[str, np.ndarray]]:
        """Return [(ancestor, T_ancestor_frame)] from ``frame`` up to its root, at ``stamp``."""
        out = [(frame, np.eye(4))]
        T = np.eye(4)
        seen = {frame}
        while len(out) <= MAX_DEPTH and frame in self._edges:
            edge = self._edges[frame]
            if edge.parent in seen:
                break
            T = edge.at(stamp) @ T
            out.append((edge.parent, T))
            seen.add(edge.parent)
            frame = edge.parent
        return out

    def lookup_at(self, target: str, source: str, stamp_ns: int = 0) -> np.ndarray | None:
        """Return ``T_target_source`` at ``stamp_ns`` (0 = latest), None if not connected.

        Raises:
            Extrapolation: a dynamic edge on the path has no history around the stamp.

        """
        if target == source:
            return np.eye(4)
        with self._lock:
            up_source = dict(self._chain(source, stamp_ns))  # ancestor -> T_ancestor_source
            for ancestor, T_ancestor_target in self._chain(target, stamp_ns):
                if ancestor in up_source:
                    if ancestor == target:  # target is an ancestor of source: no inverse
                        return up_source[ancestor].copy()
                    return se3_inverse(T_ancestor_target) @ up_source[ancestor]
        return None

    def lookup(self, target: str, source: str, stamp_ns: int = 0) -> np.ndarray | None:
        """Return ``T_target_source`` at ``stamp_ns`` (0 = latest), or None (never raises)."""
        try:
            return self.lookup_at(target, source, stamp_ns)
        except Extrapolation:
            return None

    def can_transform(self, target: str, source: str) -> bool:
        """Return True when ``target`` and ``source`` are connected (at the latest time)."""
        return self.lookup(target, source) is not None


class TfSubscriber:
    """Feeds a :class:`TfBuffer` from /tf and /tf_static subscriptions of ``node``."""

    def __init__(self, node, buffer: TfBuffer) -> None:
        self.node = node
        self.buffer = buffer
        self.counters: Counter = Counter()
        self._subs = [
            node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS),
            node.create_subscription(TFMessage, "/tf_static", self._on_static, TF_STATIC_QOS),
        ]

    def _on_tf(self, msg: TFMessage) -> None:
        self.buffer.add_message(msg, static=False)

    def _on_static(self, msg: TFMessage) -> None:
        self.buffer.add_message(msg, static=True)

    def lookup(
        self, target: str, source: str, stamp_ns: int = 0, timeout: float = 0.0
    ) -> np.ndarray | None:
        """Return ``T_target_source`` at ``stamp_ns``, waiting up to ``timeout`` s; or None."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                T = self.buffer.lookup_at(target, source, stamp_ns)
                failure = "tf_unconnected"
            except Extrapolation:
                T, failure = None, "tf_extrapolation"
            if T is not None:
                self.counters["tf_lookups_ok"] += 1
                return T
            if failure == "tf_unconnected" or time.monotonic() >= deadline:
                self.counters[failure] += 1
                return None
            time.sleep(0.005)

    def ready(self, target: str, source: str, stamp_ns: int) -> bool:
        """Return True when ``lookup`` would succeed now (no waiting, nothing counted)."""
        return self.buffer.lookup(target, source, stamp_ns) is not None

    def destroy(self) -> None:
        """Destroy the subscriptions."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []


class Tf2Lookup:
    """tf2_ros.Buffer + TransformListener behind the :class:`TfSubscriber` interface."""

    def __init__(self, node, tf2_ros) -> None:
        from rclpy.duration import Duration
        from rclpy.time import Time

        self._time, self._duration = Time, Duration
        self._tf2 = tf2_ros
        self.node = node
        self.counters: Counter = Counter()
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, node, spin_thread=False)

    def lookup(
        self, target: str, source: str, stamp_ns: int = 0, timeout: float = 0.0
    ) -> np.ndarray | None:
        """Return ``T_target_source`` at ``stamp_ns`` (0 = latest), waiting up to ``timeout``."""
        if not self.buffer.can_transform(target, source, self._time()):
            self.counters["tf_unconnected"] += 1  # no path at all: waiting would not help
            return None
        try:
            t = self.buffer.lookup_transform(
                target, source, self._time(nanoseconds=stamp_ns),
                timeout=self._duration(nanoseconds=int(timeout * 1e9)),
            )  # fmt: skip
        except self._tf2.ExtrapolationException:
            self.counters["tf_extrapolation"] += 1
            return None
        except self._tf2.TransformException:
            self.counters["tf_unconnected"] += 1
            return None
        self.counters["tf_lookups_ok"] += 1
        return transform_to_matrix(t.transform)

    def ready(self, target: str, source: str, stamp_ns: int) -> bool:
        """Return True when ``lookup`` would succeed now (no waiting, nothing counted)."""
        return self.buffer.can_transform(target, source, self._time(nanoseconds=stamp_ns))

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

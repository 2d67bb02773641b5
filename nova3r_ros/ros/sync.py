"""Approximate-time grouping of camera frames across cameras (message_filters-free).

Callbacks push converted images and depth maps into bounded per-topic buffers
(:meth:`FrameSync.push_image`, :meth:`FrameSync.push_depth`): O(1), and when a
buffer is full its oldest entry is dropped and counted; each push wakes a thread
blocked in :meth:`FrameSync.wait_for_push`. The grouping step
(:meth:`FrameSync.pop_newest_group`, run by that thread, never from a callback)
pairs each image with the depth map nearest in time (within ``slop``) and looks
for the newest set of one frame per camera whose stamps span at most ``slop``.
Frames older than a returned group are discarded (counted as ``superseded``):
the worker always wants the newest data.

A camera that has sent no image for ``timeout_ns`` (arrival time, monotonic
clock; counted from construction for a camera never heard from) is left out:
groups are made from the other cameras until it publishes again
(:meth:`FrameSync.missing`, counter ``<cam>/timeouts``). ``timeout_ns`` 0 waits
for every camera forever.

Nothing here imports rclpy; stamps are integer nanoseconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nova3r_ros.core.camera import PinholeCamera


@dataclass
class CameraFrame:
    """One camera's image (and depth) at one time.

    Attributes:
        camera: the camera's name.
        stamp: the image's header stamp (ns).
        frame_id: the image's optical frame (OpenCV: x right, y down, z forward).
        image: uint8 HxWx3 RGB (may be a read-only view of the message).
        depth: HxW depth registered to ``image`` (0 = invalid): float32 metres, or
            uint16 millimetres as a 16-bit driver sent it (``image_msgs.depth_metres``
            converts; the node does so for keyframes); or None.
        intrinsics: the camera's model from the latest CameraInfo; None if none came yet.

    """

    camera: str
    stamp: int
    frame_id: str
    image: np.ndarray
    depth: np.ndarray | None = None
    intrinsics: PinholeCamera | None = None


@dataclass
class FrameGroup:
    """One frame per camera, in the configured camera order; ``stamp`` is the newest.

    Cameras left out after a timeout (see :class:`FrameSync`) have no frame.
    """

    frames: list[CameraFrame]

    @property
    def stamp(self) -> int:
        """Return the newest frame's stamp in nanoseconds."""
        return max(f.stamp for f in self.frames)


@dataclass
class _Buffer:
    """A bounded drop-oldest buffer with its counters."""

    maxlen: int
    items: deque = field(default_factory=deque)
    received: int = 0
    dropped: int = 0

    def push(self, item) -> None:
        self.received += 1
        if len(self.items) >= self.maxlen:
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)


class FrameSync:
    """Groups frames of N cameras whose stamps lie within ``slop`` of each other.

    Args:
        cameras: camera names, in the order groups list them.
        use_depth: per camera, whether a frame needs a depth map.
        slop_ns: tolerance (ns) within a group and between an image and its depth.
        queue_length: capacity of each per-topic buffer.
        timeout_ns: leave out a camera silent for this long (ns); 0 = never.
        clock: arrival clock in ns (monotonic by default; tests pass their own).

    """

    def __init__(
        self,
        cameras: Sequence[str],
        use_depth: Sequence[bool],
        slop_ns: int,
        queue_length: int,
        timeout_ns: int = 0,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if len(cameras) == 0 or len(cameras) != len(use_depth):
            raise ValueError("need >= 1 camera and one use_depth flag per camera")
        if slop_ns < 0 or queue_length < 1:
            raise ValueError(f"need slop >= 0 and queue_length >= 1: {slop_ns}, {queue_length}")
        self.cameras = list(cameras)
        self.use_depth = dict(zip(self.cameras, use_depth, strict=True))
        self.slop_ns = int(slop_ns)
        self._lock = threading.Lock()
        self._images = {c: _Buffer(queue_length) for c in self.cameras}
        self._depths = {c: _Buffer(queue_length) for c in self.cameras}
        self.groups = 0
        self.superseded = 0
        self.timeout_ns = int(timeout_ns)
        self._clock = clock
        now = clock()
        self._last_seen = dict.fromkeys(self.cameras, now)
        self._missing: set[str] = set()
        self._timeouts = dict.fromkeys(self.cameras, 0)
        self._pushed = threading.Event()

    def push_image(self, frame: CameraFrame) -> None:
        """Add a camera frame (image, intrinsics, no depth yet); O(1)."""
        with self._lock:
            self._images[frame.camera].push(frame)
            self._last_seen[frame.camera] = self._clock()
        self._pushed.set()

    def push_depth(self, camera: str, stamp: int, depth: np.ndarray) -> None:
        """Add a depth map (HxW, as in :class:`CameraFrame`) of ``camera`` at ``stamp``; O(1)."""
        with self._lock:
            self._depths[camera].push((int(stamp), depth))
        self._pushed.set()

    def wait_for_push(self, timeout: float | None = None) -> bool:
        """Block until a push since the previous call (or :meth:`wake`); False on timeout (s)."""
        pushed = self._pushed.wait(timeout)
        self._pushed.clear()
        return pushed

    def wake(self) -> None:
        """Release a thread blocked in :meth:`wait_for_push` (e.g. to stop it)."""
        self._pushed.set()

    def counters(self) -> dict[str, int]:
        """Return received and dropped counts per buffer, groups made and frames superseded."""
        with self._lock:
            out = {"groups": self.groups, "superseded": self.superseded}
            for c in self.cameras:
                out[f"{c}/image_received"] = self._images[c].received
                out[f"{c}/image_dropped"] = self._images[c].dropped
                out[f"{c}/timeouts"] = self._timeouts[c]
                if self.use_depth[c]:
                    out[f"{c}/depth_received"] = self._depths[c].received
                    out[f"{c}/depth_dropped"] = self._depths[c].dropped
        return out

    def heard(self) -> list[str]:
        """Return the cameras that have pushed at least one image since construction."""
        with self._lock:
            return [c for c in self.cameras if self._images[c].received > 0]

    def clear(self) -> None:
        """Forget all buffered frames (counters are kept)."""
        with self._lock:
            for b in (*self._images.values(), *self._depths.values()):
                b.items.clear()

    def missing(self) -> list[str]:
        """Return the cameras left out of groups now (silent longer than the timeout)."""
        with self._lock:
            self._update_missing()
            return [c for c in self.cameras if c in self._missing]

    def _update_missing(self) -> None:
        if self.timeout_ns <= 0:
            return
        now = self._clock()
        for c in self.cameras:
            silent = now - self._last_seen[c] > self.timeout_ns
            if silent and c not in self._missing:
                self._missing.add(c)
                self._timeouts[c] += 1
            elif not silent:
                self._missing.discard(c)

    def _candidates(self, camera: str) -> list[tuple[int, CameraFrame, tuple | None]]:
        """Return (stamp, frame, depth entry or None) for frames usable now, oldest first."""
        frames = list(self._images[camera].items)
        if not self.use_depth[camera]:
            return [(f.stamp, f, None) for f in frames]
        depths = list(self._depths[camera].items)
        out = []
        for f in frames:
            best = min(depths, key=lambda d: abs(d[0] - f.stamp), default=None)
            if best is not None and abs(best[0] - f.stamp) <= self.slop_ns:
                out.append((f.stamp, f, best))
        return out

    def pop_newest_group(self) -> FrameGroup | None:
        """Return the newest complete group, removing it and everything older; or None.

        Cost O(N q^2) for N cameras and q-long buffers; call it from a thread or timer.
        """
        with self._lock:
            self._update_missing()
            cameras = [c for c in self.cameras if c not in self._missing]
            cands = [self._candidates(c) for c in cameras]
            if not cands or any(not c for c in cands):
                return None
            chosen = None
            for pivot in sorted((s for s, _, _ in cands[0]), reverse=True):
                pick = [min(c, key=lambda e: abs(e[0] - pivot)) for c in cands]
                stamps = [e[0] for e in pick]
                if max(stamps) - min(stamps) <= self.slop_ns:
                    chosen = pick
                    break
            if chosen is None:
                return None
            frames = []
            for cam, (stamp, frame, depth) in zip(cameras, chosen, strict=True):
                if depth is not None:
                    frame.depth = depth[1]
                    self._drop_until(self._depths[cam], depth[0])
                self.superseded += self._drop_until(self._images[cam], stamp) - 1
                frames.append(frame)
            self.groups += 1
            return FrameGroup(frames)

    @staticmethod
    def _drop_until(buffer: _Buffer, stamp: int) -> int:
        """Remove entries stamped <= ``stamp`` from ``buffer``; return how many."""
        kept = deque(e for e in buffer.items if _stamp(e) > stamp)
        removed = len(buffer.items) - len(kept)
        buffer.items = kept
        return removed


def _stamp(entry) -> int:
    return entry.stamp if isinstance(entry, CameraFrame) else entry[0]

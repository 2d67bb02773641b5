"""Keyframe policy and the sliding window of the K newest keyframes (ROS-free).

A group of camera frames becomes a keyframe when at least ``min_interval`` has
passed since the last keyframe and either some camera moved (TF poses in the
world frame: ``min_translation`` metres or ``min_rotation`` degrees) or some
camera's image changed (mean absolute difference of a 32x24 grey thumbnail,
0..1, at least ``min_image_change``). Zero thresholds accept every group that
respects the interval. The window keeps the K newest keyframes, oldest first;
the worker flattens them as K frames x N cameras, so view 0 (the reference
view) is the oldest keyframe's first camera.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from nova3r_ros.core.transforms import rotation_angle_deg
from nova3r_ros.ros.sync import FrameGroup

THUMB_W, THUMB_H = 32, 24


@functools.lru_cache(maxsize=16)
def _thumb_index(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (24, 1) row and (1, 32) column indices sampled from an HxW image."""
    rows = np.linspace(0, h - 1, THUMB_H).astype(np.int64)[:, None]
    cols = np.linspace(0, w - 1, THUMB_W).astype(np.int64)[None, :]
    return rows, cols


def thumbnail(image: np.ndarray) -> np.ndarray:
    """Return a float32 (24, 32) grey thumbnail in [0, 1] of an HxWx3 uint8 image (strided)."""
    rows, cols = _thumb_index(*image.shape[:2])
    return image[rows, cols].mean(axis=2, dtype=np.float32) / np.float32(255.0)


@dataclass
class Keyframe:
    """A group of frames plus what TF knew about its cameras.

    Attributes:
        group: one frame per camera.
        T_world_cams: per camera 4x4 camera-to-world from TF, or None where unknown.
        T_rig_cams: per camera 4x4 camera-to-rig (rig_frame) from TF, or None.
        thumbs: per camera (24, 32) float32 grey thumbnail.
        grouped_ns: the node's clock when the group was formed (ns; 0 = not recorded).

    """

    group: FrameGroup
    T_world_cams: list[np.ndarray | None]
    T_rig_cams: list[np.ndarray | None]
    thumbs: list[np.ndarray]
    grouped_ns: int = 0

    @property
    def stamp(self) -> int:
        """Return the group's stamp in nanoseconds."""
        return self.group.stamp


@dataclass(frozen=True)
class KeyframePolicy:
    """Thresholds (seconds, metres, degrees, 0..1 image change); see the module docstring."""

    min_interval: float = 0.5
    min_translation: float = 0.05
    min_rotation: float = 5.0
    min_image_change: float = 0.02


def _motion(a: Keyframe, b: Keyframe) -> tuple[float, float] | None:
    """Return the largest (translation m, rotation deg) of any camera from a to b, or None."""
    pairs = list(_common(a.T_world_cams, a, b.T_world_cams, b))
    if not pairs or any(Ta is None or Tb is None for Ta, Tb in pairs):
        return None
    dt = max(float(np.linalg.norm(Tb[:3, 3] - Ta[:3, 3])) for Ta, Tb in pairs)
    dr = max(float(rotation_angle_deg(Ta[:3, :3].T @ Tb[:3, :3])) for Ta, Tb in pairs)
    return dt, dr


def _common(xa: list, a: Keyframe, xb: list, b: Keyframe):
    """Yield (xa[i], xb[j]) for each camera in both keyframes (a camera may have timed out)."""
    index = {f.camera: j for j, f in enumerate(b.group.frames)}
    for i, f in enumerate(a.group.frames):
        if f.camera in index:
            yield xa[i], xb[index[f.camera]]


def _image_change(a: Keyframe, b: Keyframe) -> float:
    """Return the largest thumbnail change of a camera in both; 1.0 if none is in both."""
    changes = [float(np.abs(ta - tb).mean()) for ta, tb in _common(a.thumbs, a, b.thumbs, b)]
    return max(changes, default=1.0)


class KeyframeWindow:
    """The K newest keyframes and the counters of the policy's decisions (thread-safe).

    Args:
        size: K, the number of keyframes kept.
        policy: thresholds for accepting a new keyframe.

    """

    def __init__(self, size: int, policy: KeyframePolicy) -> None:
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self.size = int(size)
        self.policy = policy
        self.keyframes: deque[Keyframe] = deque(maxlen=self.size)
        self.accepted = 0
        self.rejected_interval = 0
        self.rejected_static = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every keyframe (counters are kept)."""
        with self._lock:
            self.keyframes.clear()

    def admits(self, stamp: int) -> bool:
        """Return False (counted in ``rejected_interval``) for a group too soon after the last.

        Cheap: call it before building a :class:`Keyframe` (TF lookups, thumbnails), which
        the interval rejects for most groups at camera rates.
        """
        with self._lock:
            if self.keyframes and not self._interval_ok(stamp):
                self.rejected_interval += 1
                return False
            return True

    def _interval_ok(self, stamp: int) -> bool:
        last = self.keyframes[-1].stamp
        return stamp - last >= self.policy.min_interval * 1e9 and stamp > last

    def offer(self, kf: Keyframe) -> bool:
        """Add ``kf`` if the policy accepts it (the oldest may leave); return True if added."""
        with self._lock:
            return self._offer(kf)

    def _offer(self, kf: Keyframe) -> bool:
        if self.keyframes:
            last = self.keyframes[-1]
            p = self.policy
            if not self._interval_ok(kf.stamp):
                self.rejected_interval += 1
                return False
            motion = _motion(last, kf)
            moved = motion is not None and (
                motion[0] >= p.min_translation or motion[1] >= p.min_rotation
            )
            if not moved and _image_change(last, kf) < p.min_image_change:
                self.rejected_static += 1
                return False
        self.keyframes.append(kf)
        self.accepted += 1
        return True

    def snapshot(self) -> list[Keyframe]:
        """Return the keyframes, oldest first (a new list; the keyframes are shared)."""
        with self._lock:
            return list(self.keyframes)

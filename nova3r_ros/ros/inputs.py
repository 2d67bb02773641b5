"""Per-camera subscriptions: convert, check, stamp and push (O(1) work per message).

Bad input never stops the node: a message that cannot be converted (unknown
encoding, inconsistent size or step, image size not matching CameraInfo,
unusable CameraInfo, depth with no valid pixel) is counted, a throttled warning
says what was wrong, and the message is ignored; everything already buffered
(and the last good CameraInfo) is kept. Depth pixels that are NaN, inf or
negative are masked to 0 (invalid) and counted; the frame is kept.

Stamps: an image or depth map stamped at or before the previous one of its topic
(``stamp_out_of_order``) or more than ``max_future`` seconds ahead of the node's
clock (``stamp_future``; skipped while the clock reads 0, e.g. sim time before
/clock) is counted and ignored. :meth:`CameraInputs.reset_stamps` (``~/reset``)
accepts older stamps again, e.g. after a bag loops.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from nova3r_ros.ros.conversions import (
    ConversionError,
    camera_info_to_camera,
    compressed_to_depth,
    compressed_to_rgb,
    image_to_depth,
    image_to_rgb,
    stamp_to_ns,
)
from nova3r_ros.ros.params import CameraConfig
from nova3r_ros.ros.sync import CameraFrame, FrameSync

WARN_PERIOD = 5.0  # seconds between repeated warnings of one kind


def input_qos(reliability: str, depth: int) -> QoSProfile:
    """Return the input QoS: ``reliability`` "best_effort" (sensor data) or "reliable"."""
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else (
        ReliabilityPolicy.BEST_EFFORT)  # fmt: skip
    return QoSProfile(depth=int(depth), reliability=policy)


class CameraInputs:
    """Subscriptions of one camera feeding a :class:`FrameSync`.

    Args:
        node: the rclpy node that owns the subscriptions.
        camera: topics and options of the camera.
        sync: where frames and depth maps go.
        qos: QoS of the three subscriptions.
        counters: shared counter of bad input, keyed ``<camera>/<kind>``.
        max_future: reject stamps this far (s) ahead of the node clock; 0 = no check.

    """

    def __init__(
        self,
        node,
        camera: CameraConfig,
        sync: FrameSync,
        qos,
        counters: Counter,
        max_future: float = 0.0,
    ):
        self.node = node
        self.camera = camera
        self.sync = sync
        self.counters = counters
        self.intrinsics = None
        self._log = node.get_logger()
        self._warned: dict[str, float] = {}
        self.max_future_ns = int(max_future * 1e9)
        self._last_stamp = {"image": -1, "depth": -1}
        image_type = CompressedImage if camera.compressed else Image
        self._subs = [
            node.create_subscription(CameraInfo, camera.info_topic, self._on_info, qos),
            node.create_subscription(image_type, camera.image_topic, self._on_image, qos),
        ]
        if camera.use_depth:
            self._subs.append(
                node.create_subscription(image_type, camera.depth_topic, self._on_depth, qos)
            )

    def destroy(self) -> None:
        """Destroy the subscriptions."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []

    def _bad(self, kind: str, text: str, action: str = "ignored") -> None:
        key = f"{self.camera.name}/{kind}"
        self.counters[key] += 1
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_PERIOD) >= WARN_PERIOD:  # throttled per kind
            self._warned[kind] = now
            name, count = self.camera.name, self.counters[key]
            self._log.warning(f"camera {name}: {text} ({action}; {kind} so far: {count})")

    def reset_stamps(self) -> None:
        """Forget the last stamps: the next message of each topic is in order."""
        self._last_stamp = {"image": -1, "depth": -1}

    def _stamp_ok(self, what: str, stamp: int) -> bool:
        """Check ``stamp`` (ns) of an ``what`` ("image" / "depth") message; count if bad."""
        last = self._last_stamp[what]
        if stamp <= last:
            self._bad(
                "stamp_out_of_order",
                f"{what} stamp {stamp / 1e9:.3f} s is not after the previous "
                f"{last / 1e9:.3f} s (~/reset accepts older stamps again)",
            )
            return False
        now = self.node.get_clock().now().nanoseconds
        if self.max_future_ns > 0 and now > 0 and stamp - now > self.max_future_ns:
            self._bad(
                "stamp_future",
                f"{what} stamp is {(stamp - now) / 1e9:.1f} s ahead of the node clock "
                f"(limit sync.max_future = {self.max_future_ns / 1e9:g} s)",
            )
            return False
        self._last_stamp[what] = stamp
        return True

    def _size_ok(self, shape, what: str) -> bool:
        info = self.intrinsics
        if info is None or (shape[1], shape[0]) == (info.width, info.height):
            return True
        self._bad(
            "size_mismatch",
            f"{what} is {shape[1]}x{shape[0]} but CameraInfo says {info.width}x{info.height}",
        )
        return False

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self.intrinsics = camera_info_to_camera(msg)
        except ConversionError as exc:
            self._bad("bad_camera_info", f"{exc}; keeping the last good CameraInfo")
        except Exception as exc:  # never let one message stop the executor
            self._bad("callback_error", f"CameraInfo callback failed: {exc!r}")

    def _decode(self, convert, msg, kind: str, what: str):
        """Return ``convert(msg)``, or None after counting why it failed (never raises)."""
        try:
            return convert(msg)
        except ConversionError as exc:
            self._bad(kind, str(exc))
        except Exception as exc:  # never let one message stop the executor
            self._bad("callback_error", f"{what} callback failed: {exc!r}")
        return None

    def _on_image(self, msg) -> None:
        convert = compressed_to_rgb if self.camera.compressed else image_to_rgb
        rgb = self._decode(convert, msg, "bad_image", "image")
        if rgb is None:
            return
        stamp = stamp_to_ns(msg.header.stamp)
        if not self._size_ok(rgb.shape, "image") or not self._stamp_ok("image", stamp):
            return
        frame_id = msg.header.frame_id or f"{self.camera.name}_optical_frame"
        self.sync.push_image(
            CameraFrame(self.camera.name, stamp, frame_id, rgb, None, self.intrinsics)
        )

    def _on_depth(self, msg) -> None:
        convert = compressed_to_depth if self.camera.compressed else image_to_depth
        d = self._decode(convert, msg, "bad_depth", "depth")
        if d is None:
            return
        if d.invalid_count:
            self._bad(
                "depth_nonfinite",
                f"{d.invalid_count} NaN/inf/negative depth pixels",
                "masked as invalid, frame kept",
            )
        if not np.any(d.depth > 0):
            self._bad("bad_depth", "depth image has no valid pixel")
            return
        stamp = stamp_to_ns(msg.header.stamp)
        if self._size_ok(d.depth.shape, "depth") and self._stamp_ok("depth", stamp):
            self.sync.push_depth(self.camera.name, stamp, d.depth)

"""Per-camera subscriptions: convert, check, stamp and push (O(1) work per message).

Raw images and depth maps are taken as serialized bytes and read in place
(:mod:`image_cdr`: no deserialization copies, a zero-copy view of the pixels), which
keeps the executor ahead of 4 cameras at 30 Hz on a small CPU.

Bad input never stops the node: a message that cannot be converted (unknown
encoding, inconsistent size or step, image size not matching CameraInfo,
unusable CameraInfo, depth with no valid pixel) is counted, a throttled warning
says what was wrong, and the message is ignored; everything already buffered
(and the last good CameraInfo) is kept. Depth pixels that are NaN, inf or
negative are masked to 0 (invalid) and counted; the frame is kept.

CameraInfo first: an image or depth map that arrives before the camera's first usable
CameraInfo is dropped and counted (``no_camera_info``), never put in a window without
K. A CameraInfo whose K is all zeros (usb_cam and v4l2_camera without a calibration
file) is an ``uncalibrated`` camera: one clear warning, frames dropped until a
calibrated CameraInfo comes.

Accounting: every message a subscription takes is pushed (``<cam>/image_received``
in :class:`FrameSync`) or counted as bad input; a gap in the publisher's sequence
numbers (messages DDS overwrote in the reader's history or lost in transport before
the executor took them) is counted as ``<cam>/image_lost`` / ``<cam>/depth_lost``
(one publisher per topic, as a camera driver has). So sent = received + bad + lost.

Streams: :meth:`CameraInputs.missing_streams` names a stream of a camera (depth,
CameraInfo, image) that stays silent while another stream of the same camera arrives,
e.g. colour without depth from a RealSense launched without ``align_depth.enable``;
"arrives" means for longer than the timeout without a pause longer than the timeout,
and past the silent stream's last message by more than the timeout
(:func:`silent_streams`): a stream that resumes after a pause (a bag player waiting
for the node, a driver restarting) or ends (the end of a bag) does not make its sibling
streams, a few milliseconds apart, look missing.

Stamps: an image or depth map stamped at or before the previous one of its topic
(``stamp_out_of_order``) or more than ``max_future`` seconds ahead of the node's
clock (``stamp_future``; skipped while the clock reads 0, e.g. sim time before
/clock) is counted and ignored. :meth:`CameraInputs.reset_stamps` (``~/reset``)
accepts older stamps again, e.g. after a bag loops.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from nova3r_ros.ros.conversions import (
    ConversionError,
    DepthImage,
    camera_info_to_camera,
    compressed_to_depth,
    compressed_to_rgb,
    image_to_depth,
    image_to_numpy,
    image_to_rgb,
    stamp_to_ns,
)
from nova3r_ros.ros.image_cdr import image_from_cdr
from nova3r_ros.ros.params import CameraConfig
from nova3r_ros.ros.sync import CameraFrame, FrameSync


def stream_timeout(camera_timeout: float) -> float:
    """Return the silence (s) after which a stream is missing.

    ``sync.camera_timeout``, or 1 s where that is 0 (cameras are never left out).
    """
    return camera_timeout if camera_timeout > 0 else 1.0


def silent_streams(
    last: Mapping[str, float], run_start: Mapping[str, float], timeout: float, now: float
) -> list[str]:
    """Return the missing streams among ``last``'s keys (stream -> last arrival, -inf never).

    Missing: silent for ``timeout`` s while another stream has been arriving for longer
    than ``timeout`` without a pause longer than ``timeout`` (``run_start``: when each
    stream's current run of messages began; monotonic seconds) and kept arriving for
    more than ``timeout`` after the silent one's last message. So neither a resumed input
    (the first stream back a few ms before the others) nor an ended one (the last
    frame's streams a few ms apart) names a stream; [] when no stream arrives at all
    (that is a missing camera).
    """
    live = [n for n, t in last.items() if now - t <= timeout]
    steady = [m for m in live if now - run_start[m] > timeout]
    return [n for n in last if n not in live
            and any(last[m] - last[n] > timeout for m in steady)]  # fmt: skip


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
        stream_timeout: a stream silent this long (s) is missing (:func:`silent_streams`);
            a message after a longer pause starts a new run.

    """

    def __init__(
        self,
        node,
        camera: CameraConfig,
        sync: FrameSync,
        qos,
        counters: Counter,
        max_future: float = 0.0,
        stream_timeout: float = 1.0,
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
        self._seq = {"image": -1, "depth": -1}  # last publication sequence number
        self.lost = {"image": 0, "depth": 0}
        self.max_delay = 0.0  # s, see take_delay()
        self.arrived: dict[str, float] = {}  # stream -> monotonic time of its last message
        self.stream_timeout = stream_timeout
        self._run_start: dict[str, float] = {}  # stream -> when its current run began
        self._told_uncalibrated = False
        self._info_key: tuple | None = None  # the last converted CameraInfo's contents
        # Raw images come as serialized bytes, read by image_from_cdr (no deserialization).
        image_type, raw = (CompressedImage, False) if camera.compressed else (Image, True)
        sub = node.create_subscription
        self._subs = [
            sub(CameraInfo, camera.info_topic, self._on_info, qos),
            sub(image_type, camera.image_topic, self._on_image, qos, raw=raw),
        ]
        if camera.use_depth:
            self._subs.append(sub(image_type, camera.depth_topic, self._on_depth, qos, raw=raw))

    @property
    def topics(self) -> dict[str, str]:
        """Return stream -> fully resolved topic name ("image", "camera_info", "depth")."""
        names = ("camera_info", "image", "depth")
        return {n: sub.topic_name for n, sub in zip(names, self._subs, strict=False)}

    def loss_counters(self) -> dict[str, int]:
        """Return ``<cam>/<stream>_lost``: messages missing from the publisher's sequence."""
        cam = self.camera.name
        out = {f"{cam}/image_lost": self.lost["image"]}
        if self.camera.use_depth:
            out[f"{cam}/depth_lost"] = self.lost["depth"]
        return out

    def missing_streams(self, timeout: float, now: float | None = None) -> list[str]:
        """Return the streams silent for ``timeout`` s while another stream of this camera arrives.

        Each entry is ``<stream> (<topic>)``; a camera with no stream arriving is not
        listed here (that is a missing camera, :meth:`FrameSync.missing`).
        """
        now = time.monotonic() if now is None else now
        topics = self.topics
        last = {n: self.arrived.get(n, -math.inf) for n in topics}
        runs = {n: self._run_start.get(n, math.inf) for n in topics}
        return [f"{n} ({topics[n]})" for n in silent_streams(last, runs, timeout, now)]

    def _arrive(self, stream: str) -> None:
        """Note a message of ``stream``: its arrival, and a new run after a pause."""
        now = time.monotonic()
        if now - self.arrived.get(stream, -math.inf) > self.stream_timeout:
            self._run_start[stream] = now
        self.arrived[stream] = now

    def take_delay(self) -> float:
        """Return the longest wait (s) of a message in DDS before its callback, then reset.

        A wait longer than ``qos.depth`` message periods means the reader's history
        overwrote messages (counted as lost): the executor was starved.
        """
        out, self.max_delay = self.max_delay, 0.0
        return out

    def _count_sequence(self, what: str, info) -> None:
        """Count messages skipped in the publisher's sequence numbers before this one."""
        if not isinstance(info, dict):
            return
        received = info.get("received_timestamp") or 0
        if received > 0:
            self.max_delay = max(self.max_delay, (time.time_ns() - received) / 1e9)
        seq = info.get("publication_sequence_number")
        if not seq:
            return
        last, self._seq[what] = self._seq[what], seq
        if 0 < last < seq - 1:
            self.lost[what] += seq - last - 1

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
        self._arrive("camera_info")
        key = (msg.width, msg.height, msg.distortion_model, tuple(msg.k), tuple(msg.d))
        if key == self._info_key and self.intrinsics is not None:
            return  # the same calibration as before (drivers repeat it every frame)
        try:
            if not any(msg.k):
                self._uncalibrated()
                return
            self.intrinsics = camera_info_to_camera(msg)
            self._info_key = key
        except ConversionError as exc:
            self._bad("bad_camera_info", f"{exc}; keeping the last good CameraInfo")
        except Exception as exc:  # never let one message stop the executor
            self._bad("callback_error", f"CameraInfo callback failed: {exc!r}")

    def _uncalibrated(self) -> None:
        if not self._told_uncalibrated:
            self._told_uncalibrated = True
            self._log.warning(
                f"camera {self.camera.name} is uncalibrated: its CameraInfo "
                f"({self.camera.info_topic}) has K all zeros, as usb_cam and v4l2_camera "
                "publish without a calibration file. Calibrate it (camera_calibration) and "
                "give the driver camera_info_url; its frames are dropped until then"
            )
        self._bad("uncalibrated", "CameraInfo K is all zeros", "frames dropped until calibrated")

    def _has_info(self, what: str) -> bool:
        if self.intrinsics is not None:
            return True
        self._bad(
            "no_camera_info",
            f"{what} before any usable CameraInfo on {self.camera.info_topic}",
            "dropped until one arrives",
        )
        return False

    def _decode(self, convert, msg, kind: str, what: str):
        """Return ``convert(msg)``, or None after counting why it failed (never raises)."""
        try:
            return convert(msg)
        except ConversionError as exc:
            self._bad(kind, str(exc))
        except Exception as exc:  # never let one message stop the executor
            self._bad("callback_error", f"{what} callback failed: {exc!r}")
        return None

    def _on_image(self, msg, info) -> None:
        self._arrive("image")
        self._count_sequence("image", info)
        if not self._has_info("image"):
            return
        if isinstance(msg, bytes):  # a raw subscription: read the serialized Image
            msg = self._decode(image_from_cdr, msg, "bad_image", "image")
            if msg is None:
                return
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

    def _on_depth(self, msg, info) -> None:
        self._arrive("depth")
        self._count_sequence("depth", info)
        if not self._has_info("depth"):
            return
        if isinstance(msg, bytes):
            msg = self._decode(image_from_cdr, msg, "bad_depth", "depth")
            if msg is None:
                return
        convert = compressed_to_depth if self.camera.compressed else image_to_depth
        if not self.camera.compressed and msg.encoding in ("16UC1", "mono16"):
            convert = _millimetres  # kept as received; metres only for keyframes
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


def _millimetres(msg) -> DepthImage:
    """Return a 16-bit depth image's pixels as they are (uint16 mm, zero-copy when unpadded).

    16-bit depth has no NaN; 0 is invalid already. The conversion to float32 metres
    (``depth_metres``) is left to the frames that become keyframes, a few per second,
    not 30 per second and camera on the executor.
    """
    return DepthImage(image_to_numpy(msg), 0)

"""Decode a bag's camera messages into Views (ROS-free, ``rosbags`` type store).

Colour: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` Images or jpeg/png
CompressedImage -> (H, W, 3) uint8 RGB. Depth: ``16UC1``/``mono16`` (millimetres),
``32FC1`` (metres) Images or ``compressedDepth`` png -> (H, W) float32 metres, 0 where
invalid. A camera's topics come from the sidecar (:class:`.topics.CameraTopics`);
``<image>/compressed`` and ``<depth>/compressedDepth`` are found as well.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nova3r_ros.bags.messages import MessageBuilder
from nova3r_ros.bags.reader import Bag
from nova3r_ros.bags.topics import CameraTopics

NS = 1_000_000_000
_COLOR = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True),
          "mono8": (1, False)}  # fmt: skip


class DecodeError(ValueError):
    """A camera message cannot be turned into pixels (one-line message)."""


def _stamp(msg) -> int:
    return int(msg.header.stamp.sec) * NS + int(msg.header.stamp.nanosec)


def _pixels(msg, dtype, channels: int = 1) -> np.ndarray:
    data = np.asarray(msg.data, np.uint8)
    row = msg.width * channels * np.dtype(dtype).itemsize
    if msg.step < row or data.size < msg.step * msg.height:
        raise DecodeError(f"image {msg.width}x{msg.height} {msg.encoding}: step/data too short")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row]
    out = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(
        ">" if msg.is_bigendian else "<"))  # fmt: skip
    return out.astype(dtype)


def decode_color(msg) -> np.ndarray:
    """Image or CompressedImage -> (H, W, 3) uint8 RGB."""
    if msg.__msgtype__.endswith("CompressedImage"):
        import cv2

        img = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise DecodeError(f"cannot decode a {msg.format!r} CompressedImage")
        return np.ascontiguousarray(img[..., ::-1])
    if msg.encoding not in _COLOR:
        raise DecodeError(f"colour encoding {msg.encoding!r}; expected one of {sorted(_COLOR)}")
    channels, bgr = _COLOR[msg.encoding]
    px = _pixels(msg, np.uint8, channels).reshape(msg.height, msg.width, channels)
    if channels == 1:
        return np.repeat(px, 3, axis=2)
    px = px[..., :3]
    return np.ascontiguousarray(px[..., ::-1] if bgr else px)


def decode_depth(msg) -> np.ndarray:
    """Depth Image (16UC1/mono16 mm, 32FC1 m) or compressedDepth png -> (H, W) float32 m."""
    if msg.__msgtype__.endswith("CompressedImage"):
        import cv2

        raw = bytes(np.asarray(msg.data, np.uint8))
        png = raw[12:] if raw[:8] != b"\x89PNG\r\n\x1a\n" else raw
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype != np.uint16 or img.ndim != 2:
            raise DecodeError(f"cannot decode a 16-bit png from {msg.format!r}")
        return img.astype(np.float32) / np.float32(1000.0)
    if msg.encoding in ("16UC1", "mono16"):
        return _pixels(msg, np.uint16).astype(np.float32) / np.float32(1000.0)
    if msg.encoding == "32FC1":
        d = _pixels(msg, np.float32)
        return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)
    raise DecodeError(f"depth encoding {msg.encoding!r}; expected 16UC1, mono16 or 32FC1")


def read_frames(bag: Bag, cameras: Sequence[CameraTopics]) -> dict[tuple[str, int], dict]:
    """Return ``(camera, header stamp ns) -> {"image": RGB, "depth": metres, "K": 3x3}``.

    Raises:
        DecodeError: a message of a camera topic cannot be decoded.
        BagCorrupt: the bag is damaged (frames before the damage are lost too: score
            only complete bags).

    """
    role = {}
    for c in cameras:
        for topic, what in ((c.image, "image"), (c.image + "/compressed", "image"),
                            (c.depth, "depth"), (c.depth + "/compressedDepth", "depth"),
                            (c.info, "K")):  # fmt: skip
            role[topic] = (c.camera, what)
    msgs = MessageBuilder()
    frames: dict[tuple[str, int], dict] = {}
    for topic, msgtype, _, raw in bag.messages(topics=list(role)):
        cam, what = role[topic]
        msg = msgs.deserialize(raw, msgtype)
        try:
            if what == "image":
                value = decode_color(msg)
            elif what == "depth":
                value = decode_depth(msg)
            else:
                value = np.asarray(msg.k, np.float64).reshape(3, 3)
        except DecodeError as exc:
            raise DecodeError(f"{topic}: {exc}") from None
        frames.setdefault((cam, _stamp(msg)), {})[what] = value
    return frames

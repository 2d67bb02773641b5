"""sensor_msgs Image / CompressedImage / CameraInfo <-> numpy, no per-pixel Python.

Images are treated as untrusted input: every size, step and encoding is checked
and a :class:`ConversionError` subclass says what was wrong and what was
expected. Depth comes out as float32 metres with 0 where invalid; non-finite
or negative depth values are masked to 0 and counted, never fatal.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from nova3r_ros.core.camera import CameraModelError, PinholeCamera

# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ConversionError(ValueError):
    """Base class: a ROS message could not be converted."""


class UnsupportedEncodingError(ConversionError):
    """The image encoding (or compressed format) is not one we decode."""


class ImageSizeError(ConversionError):
    """Width, height, step and data length do not agree, or the image is empty."""


class CameraInfoError(ConversionError):
    """CameraInfo intrinsics are non-finite, non-positive or otherwise unusable."""


@dataclass
class DepthImage:
    """A decoded depth map.

    Attributes:
        depth: float32 HxW in metres, 0 where invalid.
        invalid_count: how many pixels were NaN, inf or negative and were masked to 0.

    """

    depth: np.ndarray
    invalid_count: int = 0


def image_to_numpy(msg) -> np.ndarray:
    """Return the pixels of a sensor_msgs/Image as HxW or HxWxC in the message's encoding.

    Honours ``step`` row padding and ``is_bigendian``; returns a read-only
    zero-copy view of ``msg.data`` when rows are unpadded and native-endian.
    """
    if msg.encoding not in IMAGE_ENCODINGS:
        raise UnsupportedEncodingError(
            f"unsupported image encoding {msg.encoding!r}; expected one of "
            f"{sorted(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageSizeError(f"image is empty ({width}x{height}); expected a non-zero size")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageSizeError(
            f"step {step} is smaller than width*channels*bytes = {row_bytes} "
            f"for {width}x{height} {msg.encoding}"
        )
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size != height * step:
        raise ImageSizeError(
            f"data has {buf.size} bytes, expected height*step = {height}*{step} = "
            f"{height * step} for {width}x{height} {msg.encoding}"
        )
    if msg.is_bigendian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    rows = buf.reshape(height, step)[:, :row_bytes]
    pixels = rows.view(dtype) if step == row_bytes else np.ascontiguousarray(rows).view(dtype)
    if not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))
    shape = (height, width) if channels == 1 else (height, width, channels)
    return pixels.reshape(shape)


def image_to_rgb(msg) -> np.ndarray:
    """Decode a colour or mono sensor_msgs/Image to HxWx3 uint8 RGB."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise UnsupportedEncodingError(
            f"image encoding {msg.encoding!r} is not a colour encoding; expected one of "
            f"{list(COLOR_ENCODINGS)}"
        )
    return _to_rgb(image_to_numpy(msg), msg.encoding)


def _to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "rgb8":
        return pixels
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[..., :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(pixels[..., 2::-1])
    if encoding == "mono16":
        pixels = (pixels >> 8).astype(np.uint8)
    return np.repeat(pixels[..., None], 3, axis=2)


def image_to_depth(msg) -> DepthImage:
    """Decode a depth sensor_msgs/Image (16UC1/mono16 millimetres or 32FC1 metres)."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise UnsupportedEncodingError(
            f"image encoding {msg.encoding!r} is not a depth encoding; expected one of "
            f"{list(DEPTH_ENCODINGS)} (16-bit in millimetres, 32FC1 in metres)"
        )
    return _depth_from_pixels(image_to_numpy(msg))


def depth_metres(depth: np.ndarray) -> np.ndarray:
    """Return float32 metres from uint16 millimetres (a raw 16UC1 view); float32 unchanged."""
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * np.float32(0.001)
    return depth


def _depth_from_pixels(pixels: np.ndarray) -> DepthImage:
    if pixels.dtype == np.uint16:
        return DepthImage(pixels.astype(np.float32) * np.float32(0.001), 0)
    depth = np.array(pixels, dtype=np.float32)
    if depth.size and depth.min() >= 0 and depth.max() < np.inf:  # NaN fails both: slow path
        return DepthImage(depth, 0)
    bad = ~np.isfinite(depth) | (depth < 0)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        depth[bad] = 0.0
    return DepthImage(depth, n_bad)


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """Build a sensor_msgs/Image from an HxW[xC] array (rows unpadded, native endian)."""
    if encoding not in IMAGE_ENCODINGS:
        raise UnsupportedEncodingError(
            f"unsupported image encoding {encoding!r}; expected one of {sorted(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[encoding]
    pixels = np.asarray(pixels)
    expected = 2 if channels == 1 else 3
    if pixels.ndim != expected or (channels > 1 and pixels.shape[2] != channels):
        raise ImageSizeError(
            f"{encoding} needs an array of shape HxW{'' if channels == 1 else f'x{channels}'}, "
            f"got {pixels.shape}"
        )
    if pixels.dtype != dtype:
        raise ConversionError(f"{encoding} needs dtype {dtype}, got {pixels.dtype}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageSizeError(f"image is empty, shape {pixels.shape}")
    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(not np.little_endian)
    msg.step = int(pixels.shape[1] * channels * dtype.itemsize)
    msg.data = bytes_to_uint8_array(pixels)
    return msg


def bytes_to_uint8_array(arr: np.ndarray) -> array.array:
    """Copy a C-contiguous array's bytes into an ``array('B')`` (one memcpy).

    rclpy's generated setters accept ``array('B')`` for ``uint8[]`` without
    checking elements one by one.
    """
    out = array.array("B")
    out.frombytes(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))
    return out


def compressed_to_rgb(msg) -> np.ndarray:
    """Decode a jpeg/png sensor_msgs/CompressedImage to HxWx3 uint8 RGB."""
    cv2 = _cv2()
    fmt = msg.format.lower()
    if "compresseddepth" in fmt:
        raise UnsupportedEncodingError(
            f"format {msg.format!r} is a depth image; subscribe it as depth, not colour"
        )
    if fmt and "jpeg" not in fmt and "jpg" not in fmt and "png" not in fmt:
        raise UnsupportedEncodingError(
            f"unsupported compressed format {msg.format!r}; expected jpeg or png"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageSizeError("compressed image has no data")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ConversionError(f"could not decode {data.size} bytes as {msg.format or 'image'}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[..., :3]
    # OpenCV decodes to BGR; the format string only says how it was encoded.
    return np.ascontiguousarray(img[..., ::-1])


def compressed_to_depth(msg) -> DepthImage:
    """Decode a compressedDepth (png) or plain 16-bit png CompressedImage to metres.

    compressedDepth messages carry a 12-byte header (format int32, two float32
    quantisation parameters) before the PNG; 16UC1 payloads are millimetres,
    32FC1 payloads are inverse-depth quantised: ``d = a / (q - b)``.
    """
    cv2 = _cv2()
    raw = bytes(msg.data)
    if len(raw) == 0:
        raise ImageSizeError("compressed depth image has no data")
    header = None
    if raw[:8] != _PNG_MAGIC and raw[12:20] == _PNG_MAGIC:
        header, raw = raw[:12], raw[12:]
    elif raw[:8] != _PNG_MAGIC:
        raise UnsupportedEncodingError(
            f"compressed depth format {msg.format!r} is not PNG; expected compressedDepth png"
        )
    img = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 2:
        raise ConversionError(f"could not decode a single-channel PNG from {msg.format!r}")
    fmt = msg.format.replace(" ", "").lower()
    if fmt.startswith("32fc1"):
        if header is None:
            raise ConversionError("32FC1 compressedDepth needs the 12-byte quantisation header")
        quant_a, quant_b = np.frombuffer(header[4:12], dtype="<f4")
        q = img.astype(np.float32)
        with np.errstate(divide="ignore"):
            depth = np.where(q > 0, quant_a / (q - quant_b), 0.0).astype(np.float32)
        return _depth_from_pixels(depth)
    if img.dtype != np.uint16:
        raise UnsupportedEncodingError(f"depth PNG must be 16-bit, got {img.dtype}")
    return _depth_from_pixels(img)


def camera_info_to_camera(msg) -> PinholeCamera:
    """Convert sensor_msgs/CameraInfo to a :class:`PinholeCamera` (with distortion)."""
    k = np.asarray(msg.k, dtype=np.float64)
    if not np.all(np.isfinite(k)):
        raise CameraInfoError(f"CameraInfo.k has non-finite values: {k.tolist()}")
    if k[0] <= 0 or k[4] <= 0:
        raise CameraInfoError(
            f"CameraInfo.k focal lengths must be positive, got fx={k[0]}, fy={k[4]} "
            "(an uncalibrated camera publishes zeros)"
        )
    try:
        return PinholeCamera.from_camera_info(
            k, int(msg.width), int(msg.height), msg.distortion_model, np.asarray(msg.d)
        )
    except CameraModelError as exc:
        raise CameraInfoError(f"CameraInfo rejected: {exc}") from exc


def _cv2():
    import cv2

    return cv2

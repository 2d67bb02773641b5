"""sensor_msgs/PointCloud2 written straight into its serialized CDR bytes (raw publishing).

Why: publishing a :class:`~sensor_msgs.msg.PointCloud2` from Python copies its points
four times (numpy columns, an ``array('B')``, rclpy's C struct, the serialized
message) and builds Python objects; for the node's clouds (70-80 thousand points,
1.8 MB at 24 bytes a point) that was ~5 ms of every window's latency on the H200
machine. :func:`pointcloud2_cdr` writes the header fields and the points' columns
into one buffer laid out as the serialized message, returned as ``bytes`` (one more
copy), which rclpy's ``Publisher.publish`` hands to the middleware as it is
(``publish_raw``). Same fields and layout as
:func:`~nova3r_ros.ros.cloud_msgs.points_to_pointcloud2`: ``x y z`` float32, ``rgb``
(float32 bits of 0x00RRGGBB) when colours are given, then the extra float32 fields.

Layout (XCDR1 little endian, as rmw_fastrtps writes ROS 2 messages; see
:mod:`~nova3r_ros.ros.image_cdr`): encapsulation ``00 01 00 00``; ``stamp.sec`` int32,
``stamp.nanosec`` uint32, ``frame_id`` string (uint32 length with the NUL, bytes);
``height``, ``width`` uint32; ``fields`` sequence (uint32 count; per field ``name``
string, ``offset`` uint32, ``datatype`` uint8, ``count`` uint32); ``is_bigendian``
uint8; ``point_step``, ``row_step`` uint32; ``data`` sequence<uint8>; ``is_dense``
uint8. Primitives are aligned to their size, counted from the end of the
encapsulation header. Little-endian hosts only (every ROS 2 tier-1 platform).
"""

from __future__ import annotations

import struct
import sys

import numpy as np

from nova3r_ros.ros.cloud_msgs import FLOAT32, PointCloudError, cloud_fields, fill_columns

_ORIGIN = 4  # alignment counts from the end of the encapsulation header
_ENCAPSULATION = b"\x00\x01\x00\x00"  # CDR, little endian


class _Writer:
    """Appends aligned CDR primitives to a list of byte strings."""

    def __init__(self) -> None:
        self.parts: list[bytes] = [_ENCAPSULATION]
        self.size = len(_ENCAPSULATION)

    def _put(self, data: bytes, align: int) -> None:
        pad = -(self.size - _ORIGIN) % align
        if pad:
            self.parts.append(b"\x00" * pad)
        self.parts.append(data)
        self.size += pad + len(data)

    def u32(self, value: int) -> None:
        self._put(struct.pack("<I", value), 4)

    def i32(self, value: int) -> None:
        self._put(struct.pack("<i", value), 4)

    def u8(self, value: int) -> None:
        self._put(struct.pack("<B", value), 1)

    def string(self, text: str) -> None:
        data = text.encode() + b"\x00"
        self.u32(len(data))
        self._put(data, 1)


def pointcloud2_cdr(
    points: np.ndarray,
    colors: np.ndarray | None,
    extra_fields: dict[str, np.ndarray] | None,
    frame_id: str,
    stamp_ns: int,
) -> bytes:
    """Return the serialized sensor_msgs/PointCloud2 of ``points`` (dense, height 1).

    Args:
        points: (N, 3) float, in ``frame_id`` (written as float32).
        colors: (N, 3) uint8 RGB, or None for no ``rgb`` field.
        extra_fields: name -> (N,) array written as float32 (``observed``, ...).
        frame_id: the header's frame.
        stamp_ns: the header's stamp (ns since the epoch of the clock, >= 0).

    Raises:
        PointCloudError: shapes or dtypes that do not fit, a field given twice, or a
            big-endian host.

    """
    if sys.byteorder != "little":
        raise PointCloudError("raw PointCloud2 writing needs a little-endian host")
    pts, colors, extra, names = cloud_fields(points, colors, extra_fields)
    n, columns = pts.shape[0], len(names)
    if stamp_ns < 0:
        raise PointCloudError(f"negative stamp {stamp_ns}")

    w = _Writer()
    w.i32(stamp_ns // 1_000_000_000)
    w.u32(stamp_ns % 1_000_000_000)
    w.string(frame_id)
    w.u32(1)  # height
    w.u32(n)  # width
    w.u32(columns)
    for i, name in enumerate(names):
        w.string(name)
        w.u32(4 * i)  # offset
        w.u8(FLOAT32)  # datatype
        w.u32(1)  # count
    w.u8(0)  # is_bigendian
    w.u32(4 * columns)  # point_step
    w.u32(4 * columns * n)  # row_step
    w.u32(4 * columns * n)  # data length
    head = b"".join(w.parts)

    out = np.empty(len(head) + 4 * columns * n + 1, np.uint8)
    out[: len(head)] = np.frombuffer(head, np.uint8)
    body = out[len(head) : len(head) + 4 * columns * n]
    buf = body.view(np.float32).reshape(n, columns) if n else np.empty((0, columns), np.float32)
    fill_columns(buf, pts, colors, extra)
    out[-1] = bool(np.all(np.isfinite(pts))) if n else True  # is_dense
    return out.tobytes()

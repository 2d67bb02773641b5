"""sensor_msgs/Image read straight from its serialized CDR bytes (raw subscriptions).

Why: rclpy's deserialization of an Image copies the pixels twice (into the C struct,
then into a Python ``array``) and builds Python objects; at 4 cameras x 30 Hz of
640x480 RGB-D that is a large share of the executor's time, and an executor that
falls behind loses messages in the DDS reader history. A raw subscription takes
the serialized bytes (one copy) and :func:`image_from_cdr` reads the header fields
with ``struct`` and gives the pixels as a zero-copy ``memoryview``, so
``image_to_rgb`` / ``image_to_depth`` work on it as on a deserialized message.

Layout (XCDR1, as rmw_fastrtps writes ROS 2 messages): a 4-byte encapsulation
header (``00 01`` little endian, ``00 00`` big endian), then ``stamp.sec`` int32,
``stamp.nanosec`` uint32, ``frame_id`` string (uint32 length including the NUL,
bytes), ``height``, ``width`` uint32, ``encoding`` string, ``is_bigendian`` uint8,
``step`` uint32, ``data`` sequence<uint8> (uint32 length, bytes); each primitive is
aligned to its size, counted from the end of the encapsulation header. Anything else
(another encapsulation) falls back to rclpy's deserialization; truncated or
inconsistent bytes raise :class:`ImageSizeError` (counted as bad input).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image

from nova3r_ros.ros.image_msgs import ImageSizeError

_ORIGIN = 4  # alignment is counted from the end of the encapsulation header


@dataclass
class Stamp:
    """builtin_interfaces/Time fields."""

    sec: int
    nanosec: int


@dataclass
class RawHeader:
    """std_msgs/Header fields."""

    stamp: Stamp
    frame_id: str


@dataclass
class RawImage:
    """The fields of a sensor_msgs/Image; ``data`` is a view of the serialized bytes."""

    header: RawHeader
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: memoryview


def _align(pos: int, size: int) -> int:
    return _ORIGIN + (pos - _ORIGIN + size - 1) // size * size


def image_from_cdr(raw: bytes):
    """Return the Image in ``raw`` (serialized CDR) as a :class:`RawImage` (or an Image).

    Raises:
        ImageSizeError: the bytes end before a field or a length says they should.

    """
    buf = memoryview(raw)
    if len(buf) < 4:
        raise ImageSizeError(f"serialized image of {len(buf)} bytes has no CDR header")
    if buf[0] != 0 or buf[1] not in (0, 1):  # another encapsulation: rclpy reads it
        try:
            return deserialize_message(raw, Image)
        except Exception as exc:
            raise ImageSizeError(f"serialized image cannot be read ({exc})") from None
    order = "<" if buf[1] == 1 else ">"
    u32, i32 = struct.Struct(order + "I"), struct.Struct(order + "i")
    try:
        sec, nanosec = i32.unpack_from(buf, 4)[0], u32.unpack_from(buf, 8)[0]
        pos, strings = 12, []
        for _ in range(2):  # frame_id, then (after height and width) encoding
            n = u32.unpack_from(buf, pos)[0]
            if pos + 4 + n > len(buf):
                raise ImageSizeError(f"serialized image ends inside a string of {n} bytes")
            strings.append(bytes(buf[pos + 4 : pos + 4 + n]).rstrip(b"\0").decode())
            pos += 4 + n
            if len(strings) == 1:
                pos = _align(pos, 4)
                height, width = u32.unpack_from(buf, pos)[0], u32.unpack_from(buf, pos + 4)[0]
                pos += 8
        is_bigendian = buf[pos]
        pos = _align(pos + 1, 4)
        step, n = u32.unpack_from(buf, pos)[0], u32.unpack_from(buf, pos + 4)[0]
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ImageSizeError(f"serialized image is truncated or malformed ({exc})") from None
    start = pos + 8
    if start + n > len(buf):
        raise ImageSizeError(f"serialized image holds {len(buf) - start} data bytes, says {n}")
    return RawImage(
        RawHeader(Stamp(sec, nanosec), strings[0]), height, width, strings[1], is_bigendian,
        step, buf[start : start + n],
    )  # fmt: skip

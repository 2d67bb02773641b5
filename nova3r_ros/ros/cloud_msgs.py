"""sensor_msgs/PointCloud2 <-> numpy through one buffer, no per-point Python.

Layout we publish (little-endian, dense, height 1): ``x, y, z`` float32, then
``rgb`` (float32 field holding 0x00RRGGBB bits, the PCL/RViz convention) when
colours are given, then any extra float32 fields (``observed``,
``confidence``, ...) in the order given. Parsing accepts any layout a
publisher may send: field offsets, padding, ``point_step``, ``row_step``,
``height > 1`` and big-endian data.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from nova3r_ros.ros.image_msgs import ConversionError, bytes_to_uint8_array

# sensor_msgs/PointField datatype constants -> numpy dtype
POINTFIELD_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.int8),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int16),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int32),
    6: np.dtype(np.uint32),
    7: np.dtype(np.float32),
    8: np.dtype(np.float64),
}
FLOAT32 = 7


class PointCloudError(ConversionError):
    """A PointCloud2 message (or the arrays for one) is malformed."""


def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """Pack Nx3 uint8 RGB into N uint32 ``0x00RRGGBB``."""
    c = np.asarray(colors, dtype=np.uint32)
    return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Unpack N uint32 (or float32 bit patterns) ``0x00RRGGBB`` into Nx3 uint8 RGB."""
    p = np.ascontiguousarray(packed)
    if p.dtype != np.uint32:
        p = p.view(np.uint32)
    out = np.empty((p.shape[0], 3), dtype=np.uint8)
    out[:, 0] = (p >> 16) & 0xFF
    out[:, 1] = (p >> 8) & 0xFF
    out[:, 2] = p & 0xFF
    return out


def cloud_fields(
    points: np.ndarray, colors: np.ndarray | None, extra_fields: dict[str, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray], list[str]]:
    """Check the arrays of a cloud; return (points, colors, extra fields, field names).

    Raises:
        PointCloudError: points not (N, 3), colours not (N, 3) uint8, an extra field
            not (N,) or given twice.

    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise PointCloudError(f"points must be Nx3, got shape {pts.shape}")
    n = pts.shape[0]
    names = ["x", "y", "z"]
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != (n, 3) or colors.dtype != np.uint8:
            raise PointCloudError(
                f"colors must be uint8 of shape ({n}, 3), got {colors.dtype} {colors.shape}"
            )
        names.append("rgb")
    extra = dict(extra_fields or {})
    for name, values in extra.items():
        if name in names:
            raise PointCloudError(f"field {name!r} given twice")
        if np.shape(values) != (n,):
            raise PointCloudError(f"field {name!r} must have shape ({n},), got {np.shape(values)}")
        names.append(name)
    return pts, colors, extra, names


def fill_columns(
    buf: np.ndarray, pts: np.ndarray, colors: np.ndarray | None, extra: dict[str, np.ndarray]
) -> None:
    """Write the float32 columns (x y z, rgb bits, extra fields) into ``buf`` (N, C)."""
    n, columns = buf.shape
    buf[:, :3] = pts
    col = 3
    if colors is not None:
        if np.little_endian:  # bytes B, G, R, 0 = uint32 0x00RRGGBB, written in place
            rgb = buf.view(np.uint8).reshape(n, 4 * columns)[:, 12:16]
            rgb[:, :3] = colors[:, ::-1]
            rgb[:, 3] = 0
        else:
            buf.view(np.uint32)[:, col] = pack_rgb(colors)
        col += 1
    for values in extra.values():
        buf[:, col] = values  # cast to float32 on assignment (bool, int, float64 ...)
        col += 1


def points_to_pointcloud2(
    points: np.ndarray,
    colors: np.ndarray | None = None,
    extra_fields: dict[str, np.ndarray] | None = None,
    header: Header | None = None,
) -> PointCloud2:
    """Build a sensor_msgs/PointCloud2 from arrays.

    Args:
        points: Nx3 float (any float dtype; written as float32), in the frame of
            ``header.frame_id``.
        colors: Nx3 uint8 RGB, or None for no ``rgb`` field.
        extra_fields: name -> N array written as float32 (e.g. ``observed``,
            ``confidence``).
        header: std_msgs/Header copied into the message.

    """
    pts, colors, extra_fields, names = cloud_fields(points, colors, extra_fields)
    n, columns = pts.shape[0], len(names)
    buf = np.empty((n, columns), dtype=np.float32)
    fill_columns(buf, pts, colors, extra_fields)

    msg = PointCloud2()
    if header is not None:
        msg.header = header
    msg.height = 1
    msg.width = n
    msg.fields = [
        PointField(name=name, offset=4 * i, datatype=FLOAT32, count=1)
        for i, name in enumerate(names)
    ]
    msg.is_bigendian = False
    msg.point_step = 4 * columns
    msg.row_step = msg.point_step * n
    msg.is_dense = bool(np.all(np.isfinite(pts))) if n else True
    msg.data = bytes_to_uint8_array(buf)
    return msg


def _structured_dtype(msg) -> np.dtype:
    names, formats, offsets = [], [], []
    endian = ">" if msg.is_bigendian else "<"
    for f in msg.fields:
        if f.datatype not in POINTFIELD_DTYPES:
            raise PointCloudError(f"field {f.name!r} has unknown datatype {f.datatype}")
        if f.count != 1:
            raise PointCloudError(f"field {f.name!r} has count {f.count}; only 1 is supported")
        dt = POINTFIELD_DTYPES[f.datatype].newbyteorder(endian)
        if f.offset + dt.itemsize > msg.point_step:
            raise PointCloudError(
                f"field {f.name!r} at offset {f.offset} overruns point_step {msg.point_step}"
            )
        names.append(f.name)
        formats.append(dt)
        offsets.append(f.offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": msg.point_step}
    )


def pointcloud2_to_arrays(msg, skip_nans: bool = False) -> dict[str, np.ndarray]:
    """Parse a PointCloud2 into arrays.

    Returns:
        dict with ``points`` Nx3 float32 (from x, y, z), ``colors`` Nx3 uint8
        when an ``rgb``/``rgba`` field exists, and every other field by name as
        an N array of its own dtype (native endian). N = width * height.

    """
    if msg.point_step == 0:
        raise PointCloudError("point_step is 0")
    n = int(msg.width) * int(msg.height)
    if msg.row_step < msg.width * msg.point_step:
        raise PointCloudError(
            f"row_step {msg.row_step} < width*point_step = {msg.width * msg.point_step}"
        )
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if raw.size != msg.row_step * msg.height:
        raise PointCloudError(
            f"data has {raw.size} bytes, expected row_step*height = {msg.row_step * msg.height}"
        )
    names = {f.name for f in msg.fields}
    if not {"x", "y", "z"} <= names:
        raise PointCloudError(f"cloud needs x, y, z fields, has {sorted(names)}")
    dtype = _structured_dtype(msg)
    rows = raw.reshape(int(msg.height), int(msg.row_step))[:, : msg.width * msg.point_step]
    records = np.ascontiguousarray(rows).reshape(-1).view(dtype)
    out: dict[str, np.ndarray] = {}
    points = np.empty((n, 3), dtype=np.float32)
    for i, axis in enumerate("xyz"):
        points[:, i] = records[axis]
    keep = np.all(np.isfinite(points), axis=1) if skip_nans else None
    out["points"] = points if keep is None else points[keep]
    for f in msg.fields:
        if f.name in ("x", "y", "z"):
            continue
        values = records[f.name].astype(records.dtype[f.name].newbyteorder("="))
        if keep is not None:
            values = values[keep]
        if f.name in ("rgb", "rgba"):
            out["colors"] = unpack_rgb(values)
        else:
            out[f.name] = values
    return out

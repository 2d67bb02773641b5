"""Benchmark: PointCloud2 and Image conversions against per-element baselines.

Builds and parses a 1,000,000-point PointCloud2 (x, y, z, rgb, observed,
confidence) and a 1280x720 rgb8 Image with nova3r_ros's numpy buffer path,
and the same with the per-point ``struct.pack_into`` loop that old
``sensor_msgs_py.point_cloud2.create_cloud``/``read_points`` used and the
per-element ``list`` assignment that common_interfaces#177 measured, run in
the same process. Ends with ``name=value`` lines.

Usage: python bench/conversions.py [--points 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import array
import ctypes
import struct

import numpy as np
from _timing import median_ms
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header

from nova3r_ros.ros.cloud_msgs import pointcloud2_to_arrays, points_to_pointcloud2
from nova3r_ros.ros.image_msgs import image_to_rgb, numpy_to_image


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` runs (after one warm-up)."""
    return median_ms(fn, 1, repeats)


def baseline_create_cloud(points, colors, observed, confidence) -> PointCloud2:
    """Per-point packing, as sensor_msgs_py's create_cloud did before numpy."""
    fmt = struct.Struct("<fffIff")
    n = points.shape[0]
    buff = ctypes.create_string_buffer(fmt.size * n)
    rgb = (colors[:, 0].astype(np.uint32) << 16) | (colors[:, 1].astype(np.uint32) << 8)
    rgb |= colors[:, 2]
    rows = zip(points.tolist(), rgb.tolist(), observed.tolist(), confidence.tolist(), strict=True)
    offset = 0
    for (x, y, z), c, o, f in rows:
        fmt.pack_into(buff, offset, x, y, z, c, o, f)
        offset += fmt.size
    names = ["x", "y", "z", "rgb", "observed", "confidence"]
    msg = PointCloud2(
        header=Header(frame_id="map"),
        height=1,
        width=n,
        is_dense=True,
        is_bigendian=False,
        point_step=fmt.size,
        row_step=fmt.size * n,
        fields=[
            PointField(name=k, offset=4 * i, datatype=7, count=1) for i, k in enumerate(names)
        ],
    )
    msg.data = array.array("B", buff.raw)
    return msg


def baseline_read_cloud(msg: PointCloud2) -> list:
    """Per-point unpacking, as sensor_msgs_py's read_points did before numpy."""
    fmt = struct.Struct("<fffIff")
    data = bytes(msg.data)
    return [fmt.unpack_from(data, i * fmt.size) for i in range(msg.width)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.points
    points = rng.normal(size=(n, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    observed = (rng.random(n) > 0.5).astype(np.float32)
    confidence = rng.random(n).astype(np.float32)
    extra = {"observed": observed, "confidence": confidence}
    hdr = Header(frame_id="map")

    def build():
        return points_to_pointcloud2(points, colors, extra, hdr)

    cloud = build()
    build_ms = timed(build, args.repeats)
    parse_ms = timed(lambda: pointcloud2_to_arrays(cloud), args.repeats)
    base_build_ms = timed(lambda: baseline_create_cloud(points, colors, observed, confidence), 1)
    base_parse_ms = timed(lambda: baseline_read_cloud(cloud), 1)
    assert bytes(
        baseline_create_cloud(
            points[:1000], colors[:1000], observed[:1000], confidence[:1000]
        ).data
    ) == bytes(
        points_to_pointcloud2(
            points[:1000], colors[:1000], {k: v[:1000] for k, v in extra.items()}
        ).data
    ), "baseline and fast path must produce identical bytes"

    rgb = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    image = numpy_to_image(rgb, "rgb8")
    img_build_ms = timed(lambda: numpy_to_image(rgb, "rgb8"), args.repeats)
    img_parse_ms = timed(lambda: image_to_rgb(image), args.repeats)

    def baseline_image():
        msg = Image(height=720, width=1280, encoding="rgb8", step=1280 * 3)
        msg.data = rgb.reshape(-1).tolist()
        return msg

    img_base_ms = timed(baseline_image, 1)

    print(f"# {n} points, x y z rgb observed confidence ({cloud.point_step} B/point)")
    figures = {
        "cloud_build_1m_ms": build_ms,
        "cloud_build_baseline_ms": base_build_ms,
        "cloud_build_speedup": base_build_ms / build_ms,
        "cloud_parse_1m_ms": parse_ms,
        "cloud_parse_baseline_ms": base_parse_ms,
        "cloud_parse_speedup": base_parse_ms / parse_ms,
        "image_build_720p_ms": img_build_ms,
        "image_build_baseline_ms": img_base_ms,
        "image_build_speedup": img_base_ms / img_build_ms,
        "image_parse_720p_ms": img_parse_ms,
    }
    for name, value in figures.items():
        print(f"{name}={value:.3f}" if value < 100 else f"{name}={value:.1f}")


if __name__ == "__main__":
    main()

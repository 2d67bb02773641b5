"""ROS message <-> numpy conversions used by the node (the one import point).

Images, compressed images and CameraInfo live in :mod:`image_msgs`, point
clouds in :mod:`cloud_msgs`; this module adds stamps, TF, poses and the
occupancy grid, and re-exports the rest. Poses are 4x4 float64 ``T_parent_child``
(maps child-frame points into the parent frame), quaternions in ROS order
(x, y, z, w).
"""

from __future__ import annotations

import array
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, PoseArray, Quaternion, Transform, TransformStamped
from nav_msgs.msg import OccupancyGrid
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.occupancy import OccupancyGrid2D
from nova3r_ros.core.transforms import matrix_to_quat, quat_to_matrix
from nova3r_ros.ros.cloud_msgs import (
    PointCloudError,
    pack_rgb,
    pointcloud2_to_arrays,
    points_to_pointcloud2,
    unpack_rgb,
)
from nova3r_ros.ros.image_msgs import (
    DEPTH_ENCODINGS,
    IMAGE_ENCODINGS,
    CameraInfoError,
    ConversionError,
    DepthImage,
    ImageSizeError,
    UnsupportedEncodingError,
    camera_info_to_camera,
    compressed_to_depth,
    compressed_to_rgb,
    image_to_depth,
    image_to_numpy,
    image_to_rgb,
    numpy_to_image,
)

__all__ = [
    "DEPTH_ENCODINGS",
    "IMAGE_ENCODINGS",
    "CameraInfoError",
    "ConversionError",
    "DepthImage",
    "ImageSizeError",
    "PointCloudError",
    "UnsupportedEncodingError",
    "camera_info_to_camera",
    "compressed_to_depth",
    "compressed_to_rgb",
    "grid_to_occupancy_grid",
    "header",
    "image_to_depth",
    "image_to_numpy",
    "image_to_rgb",
    "matrix_to_pose",
    "matrix_to_transform_stamped",
    "ns_to_stamp",
    "numpy_to_image",
    "occupancy_grid_to_array",
    "pack_rgb",
    "pointcloud2_to_arrays",
    "points_to_pointcloud2",
    "poses_to_pose_array",
    "poses_to_tf_message",
    "stamp_to_ns",
    "transform_to_matrix",
    "unpack_rgb",
]


def stamp_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds (>= 0) -> builtin_interfaces/Time."""
    ns = int(ns)
    if ns < 0:
        raise ConversionError(f"stamp must be non-negative nanoseconds, got {ns}")
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def header(frame_id: str, stamp_ns: int) -> Header:
    """Return a std_msgs/Header for ``frame_id`` at ``stamp_ns``."""
    return Header(frame_id=frame_id, stamp=ns_to_stamp(stamp_ns))


def _check_pose(T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ConversionError(f"pose must be a finite 4x4 matrix, got shape {T.shape}")
    return T


def matrix_to_pose(T: np.ndarray) -> Pose:
    """4x4 rigid transform -> geometry_msgs/Pose (position + x, y, z, w quaternion)."""
    T = _check_pose(T)
    q = matrix_to_quat(T[:3, :3])
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in T[:3, 3])
    pose.orientation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
    return pose


def matrix_to_transform_stamped(
    T_parent_child: np.ndarray, parent: str, child: str, stamp_ns: int
) -> TransformStamped:
    """4x4 ``T_parent_child`` -> geometry_msgs/TransformStamped (parent -> child)."""
    if not parent or not child:
        raise ConversionError(f"TF frames must be non-empty, got {parent!r} -> {child!r}")
    if parent == child:
        raise ConversionError(f"TF parent and child are the same frame {parent!r}")
    T = _check_pose(T_parent_child)
    q = matrix_to_quat(T[:3, :3])
    tf = TransformStamped()
    tf.header = header(parent, stamp_ns)
    tf.child_frame_id = child
    tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = (
        float(v) for v in T[:3, 3]
    )
    tf.transform.rotation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
    return tf


def transform_to_matrix(transform: Transform) -> np.ndarray:
    """geometry_msgs/Transform -> 4x4 float64 ``T_parent_child``."""
    t, r = transform.translation, transform.rotation
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(np.array([r.x, r.y, r.z, r.w]))
    T[:3, 3] = (t.x, t.y, t.z)
    return T


def poses_to_tf_message(
    T_parent_children: Sequence[np.ndarray],
    parent: str,
    children: Sequence[str],
    stamp_ns: int,
) -> TFMessage:
    """One TFMessage holding ``parent -> children[i]`` for every pose."""
    if len(T_parent_children) != len(children):
        raise ConversionError(
            f"need one child frame per pose, got {len(T_parent_children)} poses and "
            f"{len(children)} frames"
        )
    return TFMessage(
        transforms=[
            matrix_to_transform_stamped(T, parent, child, stamp_ns)
            for T, child in zip(T_parent_children, children, strict=True)
        ]
    )


def poses_to_pose_array(T_frame_cams: Sequence[np.ndarray], frame_id: str, stamp_ns: int):
    """geometry_msgs/PoseArray of camera poses expressed in ``frame_id``."""
    return PoseArray(
        header=header(frame_id, stamp_ns), poses=[matrix_to_pose(T) for T in T_frame_cams]
    )


def grid_to_occupancy_grid(grid: OccupancyGrid2D, frame_id: str, stamp_ns: int) -> OccupancyGrid:
    """OccupancyGrid2D (int8 HxW, row 0 at the origin, -1/0/100) -> nav_msgs/OccupancyGrid."""
    data = np.ascontiguousarray(grid.data, dtype=np.int8)
    if data.ndim != 2:
        raise ConversionError(f"grid data must be HxW, got shape {data.shape}")
    bad = (data != -1) & ((data < 0) | (data > 100))
    if np.any(bad):
        raise ConversionError(
            f"grid holds {int(bad.sum())} values outside -1 and 0..100 (ROS semantics)"
        )
    msg = OccupancyGrid()
    msg.header = header(frame_id, stamp_ns)
    msg.info.map_load_time = msg.header.stamp
    msg.info.resolution = float(grid.resolution)
    msg.info.height, msg.info.width = (int(v) for v in data.shape)
    msg.info.origin.position.x = float(grid.origin_xy[0])
    msg.info.origin.position.y = float(grid.origin_xy[1])
    msg.info.origin.position.z = float(grid.origin_z)
    msg.info.origin.orientation.w = 1.0
    cells = array.array("b")
    cells.frombytes(data.reshape(-1).view(np.uint8))
    msg.data = cells
    return msg


def occupancy_grid_to_array(msg: OccupancyGrid) -> np.ndarray:
    """nav_msgs/OccupancyGrid -> int8 HxW (row 0 at the origin), zero-copy view."""
    data = np.frombuffer(msg.data, dtype=np.int8)
    h, w = int(msg.info.height), int(msg.info.width)
    if data.size != h * w:
        raise ConversionError(f"grid has {data.size} cells, expected {h}x{w} = {h * w}")
    return data.reshape(h, w)

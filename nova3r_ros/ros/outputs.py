"""The node's publishers and the messages built from one window's :class:`Result`.

Topics (``~`` = the node's name):
    ``~/cloud``         sensor_msgs/PointCloud2, x y z rgb observed confidence, world frame,
                        RELIABLE; published first, as serialized bytes
    ``/tf``             world -> ``<prefix><camera optical frame>`` for estimated poses only
    ``~/camera_poses``  geometry_msgs/PoseArray, every view's camera-to-world pose
    ``~/occupancy``     nav_msgs/OccupancyGrid, RELIABLE + TRANSIENT_LOCAL, depth 1
    ``~/voxels``        sensor_msgs/PointCloud2 of occupied voxel centres, latched like the grid
Every message carries the window's stamp and the world frame.
"""

from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import PoseArray
from nav_msgs.msg import OccupancyGrid
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from tf2_msgs.msg import TFMessage

from nova3r_ros.core.occupancy import OccupancyGrid2D
from nova3r_ros.ros.cloud_cdr import pointcloud2_cdr
from nova3r_ros.ros.conversions import (
    grid_to_occupancy_grid,
    header,
    points_to_pointcloud2,
    poses_to_pose_array,
    poses_to_tf_message,
)
from nova3r_ros.ros.processing import Result

RELIABLE = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def cloud_message(result: Result) -> PointCloud2:
    """Return the window's cloud (x y z rgb observed confidence) in the world frame."""
    extra = {"observed": result.observed, "confidence": result.confidence}  # float32 in the msg
    return points_to_pointcloud2(
        result.points, result.colors, extra, header(result.frame, result.stamp)
    )


def cloud_cdr(result: Result) -> bytes:
    """Return :func:`cloud_message` serialized (CDR), written without a message object."""
    extra = {"observed": result.observed, "confidence": result.confidence}
    return pointcloud2_cdr(result.points, result.colors, extra, result.frame, result.stamp)


class Outputs:
    """Lifecycle publishers of the node (active only while the node is active)."""

    def __init__(self, node) -> None:
        self.node = node
        make = node.create_lifecycle_publisher
        self.cloud = make(PointCloud2, "~/cloud", RELIABLE)
        self.poses = make(PoseArray, "~/camera_poses", RELIABLE)
        self.grid = make(OccupancyGrid, "~/occupancy", LATCHED)
        self.voxels = make(PointCloud2, "~/voxels", LATCHED)
        self.tf = make(TFMessage, "/tf", TF_QOS)
        self._all = [self.cloud, self.poses, self.grid, self.voxels, self.tf]
        self.published = 0
        self.build_time = 0.0

    def publish(self, result: Result) -> None:
        """Publish every output of ``result`` (grid and voxels only when it has them)."""
        self.publish_cloud(result)
        self.publish_map(result)

    def publish_cloud(self, result: Result) -> float:
        """Publish ``~/cloud``, then TF and ``~/camera_poses``; return the seconds it took.

        The cloud goes out first (its consumers wait for it; it is in the world frame,
        so it needs no camera TF), as serialized bytes (:func:`cloud_cdr`).
        """
        t0 = time.perf_counter()
        self.cloud.publish(cloud_cdr(result))
        if result.tf:
            poses, children = zip(*result.tf, strict=True)
            self.tf.publish(poses_to_tf_message(poses, result.frame, children, result.stamp))
        self.poses.publish(poses_to_pose_array(result.T_world_cams, result.frame, result.stamp))
        self.build_time = time.perf_counter() - t0
        self.published += 1
        return self.build_time

    def publish_map(self, result: Result) -> float:
        """Publish ``~/occupancy`` and ``~/voxels`` when ``result`` has them; return seconds."""
        t0 = time.perf_counter()
        if result.grid is not None:
            self.grid.publish(grid_to_occupancy_grid(result.grid, result.frame, result.stamp))
        if result.voxels is not None:
            self.voxels.publish(
                points_to_pointcloud2(result.voxels, header=header(result.frame, result.stamp))
            )
        return time.perf_counter() - t0

    def clear_map(self, frame: str, stamp_ns: int, resolution: float) -> None:
        """Publish an empty grid and voxel cloud (after ~/reset) so latched copies are cleared."""
        empty = OccupancyGrid2D(np.zeros((0, 0), np.int8), resolution, (0.0, 0.0))
        self.grid.publish(grid_to_occupancy_grid(empty, frame, stamp_ns))
        self.voxels.publish(
            points_to_pointcloud2(np.zeros((0, 3), np.float32), header=header(frame, stamp_ns))
        )

    def destroy(self) -> None:
        """Destroy the publishers."""
        for pub in self._all:
            self.node.destroy_lifecycle_publisher(pub)
        self._all = []

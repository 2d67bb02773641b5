"""Write a sequence of Views as a rosbag2 (MCAP or sqlite3) the node can replay.

Topics per camera ``c`` (the node's defaults):
    ``/<c>/image_raw``          sensor_msgs/Image rgb8
    ``/<c>/camera_info``        sensor_msgs/CameraInfo (plumb_bob, zero distortion)
    ``/<c>/depth/image_raw``    sensor_msgs/Image 32FC1 metres (when the view has depth)
and, for rigs with known extrinsics, ``/tf_static`` (transient local) with
``<base_frame> -> <c>_optical_frame``. A ground-truth sidecar is written into
the bag folder (rosbag2 ignores files its metadata does not list):
``ground_truth.ply`` (complete cloud, ``visible`` property) and
``ground_truth.json`` (per view: camera, stamp, T_world_cam, K).

Uses the pure-Python ``rosbags`` package (no rosbag2_py); message types come from
its ROS 2 Jazzy type store, so the bag's type hashes are Jazzy's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nova3r_ros.core.ply import write_ply
from nova3r_ros.core.types import GroundTruth, View

NS = 1_000_000_000


def _qos(transient_local: bool):
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    durability = QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE
    never = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
    return Qos(
        QosHistory.KEEP_LAST, 1 if transient_local else 10, QosReliability.RELIABLE, durability,
        never, never, QosLiveliness.AUTOMATIC, never, False,
    )  # fmt: skip


class _Msgs:
    """Builders for the Jazzy message types of the ``rosbags`` type store."""

    def __init__(self):
        from rosbags.typesys import Stores, get_typestore

        self.store = get_typestore(Stores.ROS2_JAZZY)
        self.t = self.store.types

    def header(self, stamp_ns: int, frame_id: str):
        Time = self.t["builtin_interfaces/msg/Time"]
        stamp = Time(sec=int(stamp_ns // NS), nanosec=int(stamp_ns % NS))
        return self.t["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def image(self, pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
        pixels = np.ascontiguousarray(pixels)
        h, w = pixels.shape[:2]
        return self.t["sensor_msgs/msg/Image"](
            header=self.header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
            is_bigendian=0, step=pixels.nbytes // h, data=pixels.reshape(-1).view(np.uint8),
        )  # fmt: skip

    def camera_info(self, K: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str):
        P = np.zeros((3, 4))
        P[:, :3] = K
        roi = self.t["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        )
        return self.t["sensor_msgs/msg/CameraInfo"](
            header=self.header(stamp_ns, frame_id), height=height, width=width,
            distortion_model="plumb_bob", d=np.zeros(5), k=np.asarray(K, np.float64).reshape(9),
            r=np.eye(3).reshape(9), p=P.reshape(12), binning_x=0, binning_y=0, roi=roi,
        )  # fmt: skip

    def tf_message(self, transforms: list[tuple[np.ndarray, str, str]], stamp_ns: int):
        from nova3r_ros.core.transforms import matrix_to_quat

        out = []
        for T, parent, child in transforms:
            q = matrix_to_quat(T[:3, :3])
            tf = self.t["geometry_msgs/msg/Transform"](
                translation=self.t["geometry_msgs/msg/Vector3"](
                    x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])
                ),
                rotation=self.t["geometry_msgs/msg/Quaternion"](
                    x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])
                ),
            )
            out.append(
                self.t["geometry_msgs/msg/TransformStamped"](
                    header=self.header(stamp_ns, parent), child_frame_id=child, transform=tf
                )
            )
        return self.t["tf2_msgs/msg/TFMessage"](transforms=out)

    def serialize(self, msg) -> bytes:
        return self.store.serialize_cdr(msg, msg.__msgtype__)


def write_bag(
    path: str | Path,
    views: Sequence[View],
    ground_truth: GroundTruth | None = None,
    static_extrinsics: dict[str, np.ndarray] | None = None,
    base_frame: str = "world",
    storage: str = "mcap",
) -> Path:
    """Write ``views`` (any cameras, any order; sorted by stamp) as a rosbag2.

    Args:
        path: the bag folder to create (must not exist).
        views: each with ``camera``, ``frame_id`` (``<camera>_optical_frame`` if empty),
            ``stamp`` (ns), ``image``, optional ``depth`` and ``K`` (required here).
        ground_truth: written as the sidecar when given (poses in view order).
        static_extrinsics: camera name -> 4x4 ``T_base_cam`` (camera-to-``base_frame``)
            for a rig with known extrinsics; published once on ``/tf_static``.
        base_frame: parent frame of the static extrinsics.
        storage: "mcap" or "sqlite3".

    Returns:
        The bag folder.

    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    path = Path(path)
    if storage not in ("mcap", "sqlite3"):
        raise ValueError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
    if not views:
        raise ValueError("no views to write")
    if any(v.K is None for v in views):
        raise ValueError("every view needs K to publish camera_info")
    msgs = _Msgs()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    ordered = sorted(views, key=lambda v: v.stamp)
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns: dict[str, object] = {}

        def conn(topic: str, msgtype: str, latched: bool = False):
            if topic not in conns:
                conns[topic] = writer.add_connection(
                    topic, msgtype, typestore=msgs.store, offered_qos_profiles=[_qos(latched)]
                )
            return conns[topic]

        if static_extrinsics:
            tfs = [(np.asarray(T, np.float64), base_frame, f"{cam}_optical_frame")
                   for cam, T in sorted(static_extrinsics.items())]  # fmt: skip
            stamp = ordered[0].stamp
            c = conn("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
            writer.write(c, stamp, msgs.serialize(msgs.tf_message(tfs, stamp)))
        for v in ordered:
            cam = v.camera or "camera"
            frame = v.frame_id or f"{cam}_optical_frame"
            img = msgs.image(v.image, "rgb8", v.stamp, frame)
            writer.write(conn(f"/{cam}/image_raw", img.__msgtype__), v.stamp, msgs.serialize(img))
            info = msgs.camera_info(v.K, v.width, v.height, v.stamp, frame)
            writer.write(
                conn(f"/{cam}/camera_info", info.__msgtype__), v.stamp, msgs.serialize(info)
            )
            if v.depth is not None:
                dep = msgs.image(v.depth.astype(np.float32), "32FC1", v.stamp, frame)
                writer.write(
                    conn(f"/{cam}/depth/image_raw", dep.__msgtype__), v.stamp, msgs.serialize(dep)
                )
    if ground_truth is not None:
        write_ground_truth_sidecar(path, views, ground_truth)
    return path


def write_ground_truth_sidecar(folder: Path, views: Sequence[View], gt: GroundTruth) -> None:
    """Write ``ground_truth.ply`` and ``ground_truth.json`` into ``folder``."""
    if len(gt.T_world_cam) != len(views):
        raise ValueError(f"ground truth has {len(gt.T_world_cam)} poses for {len(views)} views")
    write_ply(folder / "ground_truth.ply", gt.points, extra={"visible": gt.visible})
    doc = {
        "frame": "world",
        "convention": "T_world_cam maps optical-frame (OpenCV) points into the world, metres",
        "views": [
            {"camera": v.camera, "stamp_ns": int(v.stamp), "T_world_cam": T.tolist(),
             "K": K.tolist()}
            for v, T, K in zip(views, gt.T_world_cam, gt.K, strict=True)
        ],
    }  # fmt: skip
    (folder / "ground_truth.json").write_text(json.dumps(doc, indent=1))

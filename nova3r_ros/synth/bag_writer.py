"""Write a sequence of Views as a rosbag2 (MCAP or sqlite3) the node can replay.

Topics per camera come from a driver preset (:mod:`nova3r_ros.bags.topics`): the
project's own names (``/<c>/image_raw``, ``/<c>/camera_info``, ``/<c>/depth/image_raw``,
frame ``<c>_optical_frame``) or realsense2_camera's (``/camera/camera/color/image_raw``,
``.../color/camera_info``, ``.../aligned_depth_to_color/image_raw``, frame
``camera_color_optical_frame``). Colour is ``rgb8`` or ``bgr8``; depth ``16UC1``
(millimetres) or ``32FC1`` (metres); ``compressed`` writes jpeg colour on
``<image>/compressed`` and compressedDepth png on ``<depth>/compressedDepth`` instead.
For rigs with known extrinsics ``/tf_static`` (transient local) carries
``<base_frame> -> <camera frame>``; ``tf_poses`` adds ``/tf`` messages (e.g.
``map -> base_link`` per time step), written before that step's images. A bag
message's receive time is its header stamp.

The ground-truth sidecar (:mod:`nova3r_ros.bags.sidecar`) is written into the bag folder
when ``ground_truth`` is given. Uses the pure-Python ``rosbags`` package; the message
types come from its ROS 2 Jazzy type store, so the bag's type hashes are Jazzy's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nova3r_ros.bags.messages import COLOR_ENCODINGS, DEPTH_ENCODINGS, MessageBuilder
from nova3r_ros.bags.sidecar import Sidecar, SidecarView, write_sidecar
from nova3r_ros.bags.topics import PRESETS, camera_topics
from nova3r_ros.core.types import GroundTruth, View

NS = 1_000_000_000
STORAGES = ("mcap", "sqlite3")
Transform = tuple[np.ndarray, str, str]  # (T_parent_child 4x4, parent, child)


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


def _check(storage, topics, color_encoding, depth_encoding, views) -> None:
    if storage not in STORAGES:
        raise ValueError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
    if topics not in PRESETS:
        raise ValueError(f"topics must be one of {PRESETS}, got {topics!r}")
    if color_encoding not in COLOR_ENCODINGS:
        raise ValueError(
            f"colour encoding must be one of {COLOR_ENCODINGS}, got {color_encoding!r}"
        )
    if depth_encoding not in DEPTH_ENCODINGS:
        raise ValueError(
            f"depth encoding must be one of {DEPTH_ENCODINGS}, got {depth_encoding!r}"
        )
    if not views:
        raise ValueError("no views to write")
    if any(v.K is None for v in views):
        raise ValueError("every view needs K to publish camera_info")


def write_bag(
    path: str | Path,
    views: Sequence[View],
    ground_truth: GroundTruth | None = None,
    static_extrinsics: Mapping[str, np.ndarray] | None = None,
    base_frame: str = "world",
    storage: str = "mcap",
    *,
    topics: str = "project",
    color_encoding: str = "rgb8",
    depth_encoding: str = "32FC1",
    compressed: bool = False,
    tf_poses: Mapping[int, Sequence[Transform]] | None = None,
    truth: Mapping[str, object] | None = None,
) -> Path:
    """Write ``views`` (any cameras, any order; sorted by stamp) as a rosbag2.

    Args:
        path: the bag folder to create (must not exist).
        views: each with ``camera``, ``stamp`` (ns), ``image`` (H, W, 3) uint8 RGB,
            optional ``depth`` (H, W) float32 metres and ``K`` (required here).
            ``frame_id`` is used with the project preset (else the preset's frame).
        ground_truth: written as the sidecar when given (poses in view order).
        static_extrinsics: camera name -> 4x4 ``T_base_cam`` (camera optical frame to
            ``base_frame``) for a rig with known extrinsics; published once on ``/tf_static``.
        base_frame: parent frame of the static extrinsics.
        storage: "mcap" or "sqlite3".
        topics: topic-name preset, "project" or "realsense".
        color_encoding: "rgb8" or "bgr8"; depth_encoding: "16UC1" (mm) or "32FC1" (m).
        compressed: write CompressedImage (jpeg colour, compressedDepth png) instead.
        tf_poses: stamp (ns) -> transforms published on ``/tf`` at that stamp.
        truth: extra sidecar fields (``frame``, ``tf``, ``rig_frame``, ``complete``,
            ``source``).

    Returns:
        The bag folder.

    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    path = Path(path)
    _check(storage, topics, color_encoding, depth_encoding, views)
    msgs = MessageBuilder()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    ordered = sorted(views, key=lambda v: v.stamp)
    cams = {v.camera or "camera": None for v in ordered}
    preset = {c: camera_topics(topics, c) for c in cams}
    tf_steps = sorted((tf_poses or {}).items())
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns: dict[str, object] = {}

        def put(topic: str, msg, stamp: int, latched: bool = False) -> None:
            if topic not in conns:
                conns[topic] = writer.add_connection(
                    topic, msg.__msgtype__, typestore=msgs.store,
                    offered_qos_profiles=[_qos(latched)],
                )  # fmt: skip
            writer.write(conns[topic], stamp, msgs.serialize(msg))

        if static_extrinsics:
            stamp = ordered[0].stamp
            tfs = [(np.asarray(T, np.float64), base_frame, preset[c].frame_id
                    if c in preset else f"{c}_optical_frame")
                   for c, T in sorted(static_extrinsics.items())]  # fmt: skip
            put("/tf_static", msgs.tf_message(tfs, stamp), stamp, latched=True)
        for v in ordered:
            while tf_steps and tf_steps[0][0] <= v.stamp:
                stamp, tfs = tf_steps.pop(0)
                put("/tf", msgs.tf_message(list(tfs), stamp), stamp)
            topic = preset[v.camera or "camera"]
            frame = v.frame_id if (topics == "project" and v.frame_id) else topic.frame_id
            if compressed:
                put(topic.image + "/compressed", msgs.compressed_color(v.image, v.stamp, frame),
                    v.stamp)  # fmt: skip
            else:
                put(topic.image, msgs.color(v.image, color_encoding, v.stamp, frame), v.stamp)
            put(topic.info, msgs.camera_info(v.K, v.width, v.height, v.stamp, frame), v.stamp)
            if v.depth is not None:
                if compressed:
                    msg = msgs.compressed_depth(v.depth, v.stamp, frame)
                    put(topic.depth + "/compressedDepth", msg, v.stamp)
                else:
                    put(topic.depth, msgs.depth(v.depth, depth_encoding, v.stamp, frame), v.stamp)
        for stamp, tfs in tf_steps:
            put("/tf", msgs.tf_message(list(tfs), stamp), stamp)
    if ground_truth is not None:
        write_ground_truth_sidecar(path, views, ground_truth, list(preset.values()), truth)
    return path


def write_ground_truth_sidecar(
    folder: Path,
    views: Sequence[View],
    gt: GroundTruth,
    cameras: Sequence = (),
    truth: Mapping[str, object] | None = None,
) -> None:
    """Write ``ground_truth.ply`` and ``ground_truth.json`` into ``folder``."""
    if len(gt.T_world_cam) != len(views):
        raise ValueError(f"ground truth has {len(gt.T_world_cam)} poses for {len(views)} views")
    side = Sidecar(
        points=gt.points, visible=gt.visible, cameras=list(cameras),
        views=[SidecarView(v.camera or "camera", int(v.stamp), np.asarray(T), np.asarray(K))
               for v, T, K in zip(views, gt.T_world_cam, gt.K, strict=True)],
    )  # fmt: skip
    for key, value in (truth or {}).items():
        if not hasattr(side, key):
            raise ValueError(f"unknown sidecar field {key!r}")
        setattr(side, key, value)
    write_sidecar(folder, side)

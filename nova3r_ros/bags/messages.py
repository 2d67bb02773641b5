"""Builders of ROS 2 Jazzy messages with the ``rosbags`` type store (no rclpy).

Images: ``rgb8``/``bgr8`` colour, ``16UC1`` (millimetres, 0 = invalid) or ``32FC1``
(metres) depth; compressed colour is jpeg in sensor_msgs/CompressedImage, compressed
depth is image_transport's ``compressedDepth`` (a 12-byte header, then a 16-bit PNG of
millimetres). CameraInfo is plumb_bob with zero distortion and ``P = [K | 0]``.
"""

from __future__ import annotations

import struct

import numpy as np

NS = 1_000_000_000
COLOR_ENCODINGS = ("rgb8", "bgr8")
DEPTH_ENCODINGS = ("16UC1", "32FC1")


def depth_to_millimetres(depth: np.ndarray) -> np.ndarray:
    """Float metres (H, W), 0/NaN = invalid -> uint16 millimetres (0 = invalid, clipped)."""
    d = np.nan_to_num(np.asarray(depth, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.rint(d * 1000.0), 0, 65535).astype(np.uint16)


class MessageBuilder:
    """Message constructors and CDR serialisation for one type store (ROS 2 Jazzy)."""

    def __init__(self):
        from rosbags.typesys import Stores, get_typestore

        self.store = get_typestore(Stores.ROS2_JAZZY)
        self.t = self.store.types

    def header(self, stamp_ns: int, frame_id: str):
        """Return a std_msgs/Header."""
        stamp = self.t["builtin_interfaces/msg/Time"](sec=int(stamp_ns // NS),
                                                      nanosec=int(stamp_ns % NS))  # fmt: skip
        return self.t["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def image(self, pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
        """Return a sensor_msgs/Image of an (H, W[, C]) array (rows unpadded, little endian)."""
        pixels = np.ascontiguousarray(pixels)
        h, w = pixels.shape[:2]
        return self.t["sensor_msgs/msg/Image"](
            header=self.header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
            is_bigendian=0, step=pixels.nbytes // h, data=pixels.reshape(-1).view(np.uint8),
        )  # fmt: skip

    def color(self, rgb: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
        """Return an Image of (H, W, 3) uint8 RGB in ``encoding`` (rgb8 or bgr8)."""
        if encoding not in COLOR_ENCODINGS:
            raise ValueError(f"colour encoding must be one of {COLOR_ENCODINGS}, got {encoding!r}")
        pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
        return self.image(pixels, encoding, stamp_ns, frame_id)

    def depth(self, depth_m: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
        """Return an Image of (H, W) metres as 16UC1 millimetres or 32FC1 metres."""
        if encoding == "16UC1":
            return self.image(depth_to_millimetres(depth_m), "16UC1", stamp_ns, frame_id)
        if encoding == "32FC1":
            return self.image(np.asarray(depth_m, np.float32), "32FC1", stamp_ns, frame_id)
        raise ValueError(f"depth encoding must be one of {DEPTH_ENCODINGS}, got {encoding!r}")

    def compressed_color(self, rgb: np.ndarray, stamp_ns: int, frame_id: str, quality=95):
        """Return a jpeg sensor_msgs/CompressedImage of (H, W, 3) uint8 RGB."""
        import cv2

        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])  # fmt: skip
        if not ok:
            raise ValueError("jpeg encoding failed")
        return self.t["sensor_msgs/msg/CompressedImage"](
            header=self.header(stamp_ns, frame_id), format="rgb8; jpeg compressed bgr8",
            data=buf.reshape(-1),
        )  # fmt: skip

    def compressed_depth(self, depth_m: np.ndarray, stamp_ns: int, frame_id: str):
        """Return a ``16UC1; compressedDepth png`` CompressedImage of (H, W) metres."""
        import cv2

        ok, buf = cv2.imencode(".png", depth_to_millimetres(depth_m))
        if not ok:
            raise ValueError("png encoding failed")
        head = struct.pack("<iff", 0, 0.0, 0.0)  # format (png), no inverse-depth quantisation
        data = np.frombuffer(head + buf.tobytes(), np.uint8)
        return self.t["sensor_msgs/msg/CompressedImage"](
            header=self.header(stamp_ns, frame_id), format="16UC1; compressedDepth png", data=data
        )

    def camera_info(self, K: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str):
        """Return a sensor_msgs/CameraInfo (plumb_bob, no distortion)."""
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
        """Return a tf2_msgs/TFMessage of ``(T_parent_child 4x4, parent, child)`` triples."""
        from nova3r_ros.core.transforms import matrix_to_quat

        t, out = self.t, []
        for T, parent, child in transforms:
            q = matrix_to_quat(np.asarray(T)[:3, :3])
            tf = t["geometry_msgs/msg/Transform"](
                translation=t["geometry_msgs/msg/Vector3"](
                    x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                rotation=t["geometry_msgs/msg/Quaternion"](
                    x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
            )  # fmt: skip
            out.append(
                t["geometry_msgs/msg/TransformStamped"](
                    header=self.header(stamp_ns, parent), child_frame_id=child, transform=tf
                )
            )
        return t["tf2_msgs/msg/TFMessage"](transforms=out)

    def serialize(self, msg) -> bytes:
        """Return the CDR bytes of ``msg``."""
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def deserialize(self, raw: bytes, msgtype: str):
        """Return the message of CDR bytes ``raw`` of type ``msgtype``."""
        return self.store.deserialize_cdr(raw, msgtype)

"""Compressed transport: PNG colour on <image>/compressed, compressedDepth on <depth>/...."""

import cv2
import numpy as np
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, PointCloud2
from test_node_support import RIG, STAMP0, Harness, K, render

from nova3r_ros.ros.conversions import header, pointcloud2_to_arrays, stamp_to_ns
from nova3r_ros.ros.node import SUCCESS, ReconstructionNode

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def test_compressed_colour_and_depth_are_reconstructed():
    h = Harness()
    try:
        node = h.add(ReconstructionNode(context=h.context, parameter_overrides=[
            Parameter("backend", value="depth"),
            Parameter("transport", value="compressed"),
            Parameter("window_size", value=1),
            Parameter("qos.reliability", value="reliable"),
            Parameter("tf.startup_wait", value=0.0),
        ]))  # fmt: skip
        assert node.get_parameter("camera.cam0.transport").value == "compressed"
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        cam = h.node("compressed_camera")
        info = cam.create_publisher(CameraInfo, "/cam0/camera_info", QOS)
        image = cam.create_publisher(CompressedImage, "/cam0/image_raw/compressed", QOS)
        depth = cam.create_publisher(CompressedImage, "/cam0/depth/image_raw/compressedDepth", QOS)
        clouds = []
        cam.create_subscription(PointCloud2, "/nova3r_reconstruction/cloud", clouds.append, QOS)
        pubs = (info, image, depth)
        assert h.spin_until(lambda: all(p.get_subscription_count() for p in pubs))

        rgb, z = render(RIG["cam0"])
        hdr = header("cam0_optical_frame", STAMP0)
        ok, png = cv2.imencode(".png", rgb[..., ::-1])  # OpenCV writes BGR
        assert ok
        ok, depth_png = cv2.imencode(".png", np.round(z * 1000).astype(np.uint16))
        assert ok
        quant = np.array([0], "<i4").tobytes() + np.zeros(2, "<f4").tobytes()
        msg_info = CameraInfo(header=hdr, width=rgb.shape[1], height=rgb.shape[0])
        msg_info.k = K.reshape(9).tolist()
        info.publish(msg_info)
        depth.publish(CompressedImage(header=hdr, format="16UC1; compressedDepth png",
                                      data=quant + depth_png.tobytes()))  # fmt: skip
        image.publish(CompressedImage(header=hdr, format="png", data=png.tobytes()))
        assert h.spin_until(lambda: clouds, 10.0), f"no cloud; bad input: {node.bad_input}"
        assert stamp_to_ns(clouds[0].header.stamp) == STAMP0
        points = pointcloud2_to_arrays(clouds[0])["points"]
        # One unposed camera: the world is the floor's frame; heights must match the scene.
        assert np.percentile(np.abs(points[:, 2]), 50) < 0.01  # most points are floor
        assert abs(float(points[:, 2].max()) - 0.3) < 0.02  # the box top
    finally:
        h.close()

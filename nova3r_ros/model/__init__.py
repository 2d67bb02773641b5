"""The NOVA3R network: scene-token encoder, flow-matching point decoder, camera head.

Torch only (it runs on a GPU machine with no ROS, OpenCV or Open3D).
"""

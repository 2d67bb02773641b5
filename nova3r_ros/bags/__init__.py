"""rosbag2 tools without ROS: topic presets, the sidecar, a tolerant reader, sequences.

Nothing here imports rclpy: bags are read and written with the pure-Python ``rosbags``
package, so the evaluation and the bag writer run on machines without ROS.
"""

"""Thin ROS 2 layer: message conversions, the node, sync and replay."""

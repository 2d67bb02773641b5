"""ROS-free geometry core: cameras, transforms, point clouds, occupancy, shared types.

Nothing in this package imports rclpy.
"""

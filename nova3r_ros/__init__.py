"""nova3r_ros: amodal multi-camera 3D reconstruction for ROS 2."""

__version__ = "0.1.0"

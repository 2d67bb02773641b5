"""Evaluation: metrics, baselines and the evaluation command (ROS-free)."""

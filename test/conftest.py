"""Test session set-up: ROS traffic stays on loopback in a random domain."""

import gc
import os
import random
import sys

import pytest

# ament_index_python finds the wheels' share/ through AMENT_PREFIX_PATH (the venv).
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
# Every test run gets its own DDS domain and never leaves this machine.
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_STATIC_PEERS", None)


@pytest.fixture(autouse=True)
def _finalize_ros_objects_after_each_test():
    """Collect garbage at the end of every test, before the next one starts.

    rclpy frees a destroyed node's rcl handle (and, with the last node of a context, its
    Fast DDS participant) when the Python objects holding it are garbage collected. Left
    to the collector's timing, that happened once inside a later test
    (``test_node_params.py::test_yaml_files_load``, while it created its own participant)
    and the participant's destruction spun without end in Fast DDS
    (``DomainParticipant::set_listener``, which waits for listener callbacks in progress).
    Freeing them here, after their test and before the next test's participants exist,
    keeps that destruction away from the next test's discovery traffic.
    """
    yield
    gc.collect()

"""Test session set-up: ROS traffic stays on loopback in a random domain."""

import os
import random
import sys

# ament_index_python finds the wheels' share/ through AMENT_PREFIX_PATH (the venv).
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
# Every test run gets its own DDS domain and never leaves this machine.
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_STATIC_PEERS", None)

"""The shipped Fast DDS profile for large messages, for every process that sends them.

Fast DDS's default shared-memory segment (about 0.5 MB) is smaller than one 640x480
colour image (0.9 MB): a writer with the default segment sends such samples over UDP
fragments, and on a loaded machine best-effort readers lose some (a bag of 12 RealSense
frames played into a best-effort reader: 8-10 of 12 images arrived, 12 of 12 with the
profile). ``config/fastdds_large_messages.xml`` enlarges the segment to 128 MiB; the
*writer's* segment is what counts, so the node (clouds), the bag player and camera
drivers in other processes all need it. Jazzy's Fast DDS 2.14 reads it from
``FASTRTPS_DEFAULT_PROFILES_FILE`` when a participant is created, i.e. before
``rclpy.init``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_NAME = "fastdds_large_messages.xml"
ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"


def shipped_profile() -> Path | None:
    """Return the shipped profile's path (None if there is none).

    The source tree's ``config/``, else the package's share folder of a colcon install.
    """
    here = Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME
    if here.is_file():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory

        shared = Path(get_package_share_directory("nova3r_ros")) / "config" / PROFILE_NAME
    except (ImportError, LookupError, ValueError, KeyError):
        return None
    return shared if shared.is_file() else None


def use_profile(explicit: str | None = None) -> str | None:
    """Point ``FASTRTPS_DEFAULT_PROFILES_FILE`` at a profile; return the value in effect.

    ``explicit`` (a path) always wins (ValueError if it is not a file); otherwise the
    shipped profile is used unless the variable is already set (the user's choice).
    Call before ``rclpy.init``.
    """
    if explicit:
        if not Path(explicit).is_file():
            raise ValueError(f"Fast DDS profile {explicit!r} is not a file")
        os.environ[ENV] = str(explicit)
    elif not os.environ.get(ENV):
        shipped = shipped_profile()
        if shipped is not None:
            os.environ[ENV] = str(shipped)
    return os.environ.get(ENV)

"""Topic-name presets of camera drivers, for writing bags as real drivers publish them.

``project`` (this package's own names, the node's defaults), per camera ``<c>``:
    ``/<c>/image_raw``, ``/<c>/camera_info``, ``/<c>/depth/image_raw``;
    optical frame ``<c>_optical_frame``.
``realsense`` (realsense2_camera with ``align_depth.enable:=true``; namespace and
camera name both ``<c>``: ``camera`` for one camera as ``rs_launch.py`` names it,
``camera1``, ``camera2``... for several as ``rs_multi_camera_launch.py`` does; the
shipped ``config/realsense*.yaml`` read these names):
    ``/<c>/<c>/color/image_raw``, ``/<c>/<c>/color/camera_info``,
    ``/<c>/<c>/aligned_depth_to_color/image_raw``; optical frame
    ``<c>_color_optical_frame``.
Compressed images go to ``<image topic>/compressed`` (sensor_msgs/CompressedImage,
jpeg) and depth to ``<depth topic>/compressedDepth`` (png), as image_transport does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PRESETS = ("project", "realsense")


@dataclass(frozen=True)
class CameraTopics:
    """Where one camera's messages go (raw topic names; transport suffixes are added)."""

    camera: str
    image: str
    info: str
    depth: str
    frame_id: str

    def as_dict(self) -> dict[str, str]:
        """Return the fields as a plain dict (for the sidecar)."""
        return asdict(self)


def camera_names(preset: str, n: int) -> list[str]:
    """Return the camera names a preset uses for ``n`` cameras."""
    if preset == "realsense":  # rs_launch.py's one camera; rs_multi_camera_launch.py's names
        return ["camera"] if n == 1 else [f"camera{i}" for i in range(1, n + 1)]
    return [f"cam{i}" for i in range(n)]


def camera_topics(preset: str, camera: str) -> CameraTopics:
    """Return the topic names and frame of ``camera`` under ``preset``."""
    if preset == "project":
        return CameraTopics(camera, f"/{camera}/image_raw", f"/{camera}/camera_info",
                            f"/{camera}/depth/image_raw", f"{camera}_optical_frame")  # fmt: skip
    if preset == "realsense":
        base = f"/{camera}/{camera}"
        return CameraTopics(camera, f"{base}/color/image_raw", f"{base}/color/camera_info",
                            f"{base}/aligned_depth_to_color/image_raw",
                            f"{camera}_color_optical_frame")  # fmt: skip
    raise ValueError(f"--topics must be one of {', '.join(PRESETS)}, got {preset!r}")

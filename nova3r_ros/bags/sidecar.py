"""The ground-truth sidecar written into a bag folder (rosbag2 ignores unlisted files).

``ground_truth.ply``: the reference surface, (M, 3) float32 points in the world frame,
with a ``visible`` property (seen by some view; synthetic data only).
``ground_truth.json``:
    ``frame``: the world frame's name (also the TF root of posed bags, e.g. ``map``);
    ``convention``: ``T_world_cam`` maps OpenCV optical-frame points into the world, m;
    ``complete``: True when the surface is the complete surface (synthetic), False when
    it is a fusion of observed surfaces (real sequences: the TSDF reference);
    ``tf``: what the bag's TF holds: ``rig`` (``/tf`` world -> rig, ``/tf_static``
    rig -> cameras), ``poses`` (``/tf`` world -> each camera) or ``none``;
    ``rig_frame``: the rig's frame for ``tf: rig`` ('' otherwise);
    ``cameras``: per camera its topics and optical frame (:class:`.topics.CameraTopics`);
    ``views``: per view ``camera``, ``stamp_ns``, ``T_world_cam`` (4x4), ``K`` (3x3);
    ``source``: how the bag was made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nova3r_ros.bags.topics import CameraTopics, camera_topics
from nova3r_ros.core.ply import read_ply, write_ply

TF_MODES = ("rig", "poses", "none")


class SidecarError(ValueError):
    """The bag folder has no usable ground-truth sidecar."""


@dataclass
class SidecarView:
    """One view's truth: camera name, stamp (ns), T_world_cam (4x4), K (3x3)."""

    camera: str
    stamp_ns: int
    T_world_cam: np.ndarray
    K: np.ndarray


@dataclass
class Sidecar:
    """Everything the sidecar holds (module docstring)."""

    points: np.ndarray
    visible: np.ndarray
    views: list[SidecarView]
    cameras: list[CameraTopics] = field(default_factory=list)
    frame: str = "world"
    tf: str = "none"
    rig_frame: str = ""
    complete: bool = True
    source: str = ""

    def camera(self, name: str) -> CameraTopics:
        """Return the topics of camera ``name`` (project names if the sidecar has none)."""
        for c in self.cameras:
            if c.camera == name:
                return c
        return camera_topics("project", name)

    @property
    def camera_names(self) -> list[str]:
        """Return the camera names in first-appearance order of the views."""
        return list(dict.fromkeys(v.camera for v in self.views))

    @property
    def stamps(self) -> list[int]:
        """Return every distinct view time in ns, increasing."""
        return sorted({v.stamp_ns for v in self.views})


def write_sidecar(folder: str | Path, side: Sidecar) -> None:
    """Write ``ground_truth.ply`` and ``ground_truth.json`` into ``folder``."""
    folder = Path(folder)
    if side.tf not in TF_MODES:
        raise ValueError(f"tf must be one of {TF_MODES}, got {side.tf!r}")
    write_ply(folder / "ground_truth.ply", np.asarray(side.points, np.float32),
              extra={"visible": np.asarray(side.visible, bool)})  # fmt: skip
    doc = {
        "format": 2,
        "frame": side.frame,
        "convention": "T_world_cam maps optical-frame (OpenCV) points into the world, metres",
        "complete": bool(side.complete),
        "tf": side.tf,
        "rig_frame": side.rig_frame,
        "source": side.source,
        "cameras": [c.as_dict() for c in side.cameras],
        "views": [
            {"camera": v.camera, "stamp_ns": int(v.stamp_ns),
             "T_world_cam": np.asarray(v.T_world_cam).tolist(), "K": np.asarray(v.K).tolist()}
            for v in side.views
        ],
    }  # fmt: skip
    (folder / "ground_truth.json").write_text(json.dumps(doc, indent=1))


def read_sidecar(folder: str | Path) -> Sidecar:
    """Read the sidecar of a bag folder (or of the folder holding a bag file).

    Raises:
        SidecarError: no sidecar, or a malformed one (one-line message).

    """
    folder = Path(folder)
    folder = folder if folder.is_dir() else folder.parent
    js, ply = folder / "ground_truth.json", folder / "ground_truth.ply"
    if not js.is_file() or not ply.is_file():
        raise SidecarError(
            f"{folder}: no ground-truth sidecar (ground_truth.json + ground_truth.ply); "
            "bags made by `nova3r make-bag` have one"
        )
    try:
        doc = json.loads(js.read_text())
        cloud = read_ply(ply)
        views = [SidecarView(str(e["camera"]), int(e["stamp_ns"]),
                             np.asarray(e["T_world_cam"], np.float64).reshape(4, 4),
                             np.asarray(e["K"], np.float64).reshape(3, 3))
                 for e in doc["views"]]  # fmt: skip
        cameras = [CameraTopics(**c) for c in doc.get("cameras", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SidecarError(f"{js}: malformed sidecar ({type(exc).__name__}: {exc})") from exc
    if not views:
        raise SidecarError(f"{js}: the sidecar lists no views")
    points = np.asarray(cloud["points"], np.float32)
    visible = np.asarray(cloud.get("visible", np.zeros(len(points))), bool)
    return Sidecar(points, visible, views, cameras, str(doc.get("frame", "world")),
                   str(doc.get("tf", "none")), str(doc.get("rig_frame", "")),
                   bool(doc.get("complete", True)), str(doc.get("source", "")))  # fmt: skip

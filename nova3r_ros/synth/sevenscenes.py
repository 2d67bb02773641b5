"""Reader for RGB-D sequences in the 7-Scenes folder layout, yielding Windows.

Layout of a sequence folder::

    camera-intrinsics.txt      3x3 K (optional; 7-Scenes' 585/320/240 otherwise)
    frame-XXXXXX.color.jpg     RGB image (or .color.png)
    frame-XXXXXX.depth.png     uint16 depth in millimetres (0 or 65535 = invalid)
    frame-XXXXXX.pose.txt      4x4 camera-to-world (OpenCV optical frame), metres

Files are untrusted input: sizes, dtypes and matrices are checked and a
:class:`SequenceError` names the file and what was wrong. Poses always come
back as :class:`GroundTruth`; they are View *inputs* only with ``known_poses``.
A real sequence has no complete surface; the evaluation fuses a reference
surface from all frames (``nova3r_ros.eval.data``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nova3r_ros.core.types import GroundTruth, View, Window

SEVEN_SCENES_K = np.array([[585.0, 0.0, 320.0], [0.0, 585.0, 240.0], [0.0, 0.0, 1.0]])
_FRAME = re.compile(r"^frame-(\d{6})\.pose\.txt$")
INVALID_DEPTH_MM = 65535


class SequenceError(ValueError):
    """A file of a 7-Scenes-style sequence is missing or malformed."""


@dataclass(frozen=True)
class Frame:
    """Paths of one frame of a sequence."""

    index: int
    color: Path
    depth: Path
    pose: Path


def _read_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        m = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise SequenceError(f"{path}: cannot read a {shape[0]}x{shape[1]} matrix ({exc})") from exc
    if m.shape != shape:
        raise SequenceError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise SequenceError(f"{path}: matrix has non-finite entries")
    return m


def read_image(path: Path, flags: int) -> np.ndarray:
    """Decode an image file with OpenCV ``flags``; ``SequenceError`` if missing or undecodable."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    if data is None or data.size == 0:
        raise SequenceError(f"{path}: missing or empty")
    img = cv2.imdecode(data, flags)
    if img is None:
        raise SequenceError(f"{path}: not a decodable image")
    return img


class SevenScenesSequence:
    """One sequence folder; frames sorted by index.

    Args:
        root: the folder holding ``frame-XXXXXX.*`` files.
        camera: the camera name given to the views (frame ids are ``<camera>_optical_frame``).
        depth_scale: metres per depth unit (7-Scenes: 0.001).

    """

    def __init__(self, root: str | Path, camera: str = "cam0", depth_scale: float = 0.001):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SequenceError(f"{self.root}: not a directory")
        self.camera = camera
        self.depth_scale = float(depth_scale)
        self.frames = self._scan()
        if not self.frames:
            raise SequenceError(f"{self.root}: no frame-XXXXXX.pose.txt files")
        k_path = self.root / "camera-intrinsics.txt"
        self.K = _read_matrix(k_path, (3, 3)) if k_path.exists() else SEVEN_SCENES_K.copy()
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise SequenceError(f"{k_path}: focal lengths must be positive")

    def _scan(self) -> list[Frame]:
        frames = []
        for pose in sorted(self.root.glob("frame-*.pose.txt")):
            match = _FRAME.match(pose.name)
            if not match:
                continue
            stem = pose.name[: -len(".pose.txt")]
            color = self.root / f"{stem}.color.jpg"
            if not color.exists():
                color = self.root / f"{stem}.color.png"
            frames.append(Frame(int(match.group(1)), color, self.root / f"{stem}.depth.png", pose))
        return frames

    def __len__(self) -> int:
        return len(self.frames)

    def pose(self, i: int) -> np.ndarray:
        """Return frame ``i``'s 4x4 camera-to-world pose, checked to be rigid.

        Recorded poses are orthonormal to about 1e-4; the rotation is projected onto the
        nearest rotation (SVD) so that downstream strict checks accept it.
        """
        T = _read_matrix(self.frames[i].pose, (4, 4))
        R = T[:3, :3]
        if not np.allclose(T[3], [0, 0, 0, 1]) or not np.allclose(R @ R.T, np.eye(3), atol=1e-3):
            raise SequenceError(f"{self.frames[i].pose}: not a rigid 4x4 transform")
        U, _, Vt = np.linalg.svd(R)
        if np.linalg.det(U @ Vt) < 0:
            raise SequenceError(f"{self.frames[i].pose}: rotation block is a reflection")
        T[:3, :3] = U @ Vt
        return T

    def view(self, i: int, with_depth: bool = True, known_pose: bool = False) -> View:
        """Load frame ``i`` as a View (RGB, depth in metres, K; pose only if ``known_pose``)."""
        import cv2

        frame = self.frames[i]
        bgr = read_image(frame.color, cv2.IMREAD_COLOR)
        depth = None
        if with_depth:
            raw = read_image(frame.depth, cv2.IMREAD_UNCHANGED)
            if raw.dtype != np.uint16 or raw.ndim != 2:
                raise SequenceError(f"{frame.depth}: expected 16-bit single-channel depth")
            if raw.shape != bgr.shape[:2]:
                raise SequenceError(
                    f"{frame.depth}: depth {raw.shape} does not match colour {bgr.shape[:2]}"
                )
            depth = raw.astype(np.float32) * np.float32(self.depth_scale)
            depth[raw == INVALID_DEPTH_MM] = 0.0
        return View(
            image=np.ascontiguousarray(bgr[..., ::-1]),
            depth=depth,
            K=self.K.copy(),
            T_world_cam=self.pose(i) if known_pose else None,
            stamp=frame.index * 33_333_333,  # 30 Hz sequence clock
            frame_id=f"{self.camera}_optical_frame",
            camera=self.camera,
        )

    def window(
        self, indices: list[int], with_depth: bool = True, known_poses: bool = False
    ) -> tuple[Window, GroundTruth]:
        """Build a Window of frames ``indices`` (positions in ``self.frames``) and its poses.

        The GroundTruth's points are left empty: a real sequence has no complete
        surface (``nova3r_ros.eval.data.sevenscenes_windows`` fuses a reference).
        """
        views = [self.view(i, with_depth, known_poses) for i in indices]
        poses = [self.pose(i) for i in indices]
        gt = GroundTruth(np.zeros((0, 3)), np.zeros(0, bool), poses, [self.K.copy()] * len(views))
        return Window(views), gt

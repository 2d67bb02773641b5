"""The shared types every part of nova3r_ros exchanges (DESIGN.md, Contracts).

Frames: camera optical frames are OpenCV (x right, y down, z forward).
``T_a_b`` is a 4x4 float64 matrix mapping points in frame ``b`` into frame ``a``
(``T_world_cam`` is camera-to-world). View 0 of a :class:`Window` is the
reference view; ``T_ref_cam`` is camera-to-reference (view 0's optical frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCALE_MODES = ("metric", "normalized")


def _check_pose(name: str, T: np.ndarray | None) -> np.ndarray | None:
    if T is None:
        return None
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"{name} must be a 4x4 matrix, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError(f"{name} contains non-finite values")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f"{name} last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    return T


def _check_K(name: str, K: np.ndarray | None) -> np.ndarray | None:
    if K is None:
        return None
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"{name} must be a 3x3 matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name} contains non-finite values")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"{name} focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
    return K


@dataclass
class View:
    """One camera image, optionally with registered depth, intrinsics and a known pose.

    Attributes:
        image: uint8 HxWx3 RGB.
        depth: float32 HxW in metres, 0 where invalid, registered to ``image``; or None.
        K: 3x3 float64 pinhole intrinsics of ``image``; None when unknown (estimated).
        T_world_cam: 4x4 float64 camera-to-world (OpenCV optical frame), a known pose
            *input*; None when unknown.
        stamp: acquisition time in nanoseconds.
        frame_id: the optical frame name of the camera (e.g. ``cam0_optical_frame``).
        camera: the camera's name (e.g. ``cam0``).

    """

    image: np.ndarray
    depth: np.ndarray | None = None
    K: np.ndarray | None = None
    T_world_cam: np.ndarray | None = None
    stamp: int = 0
    frame_id: str = ""
    camera: str = ""

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"View.image must be uint8 HxWx3 RGB, got {image.dtype} {image.shape}"
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"View.image must not be empty, got shape {image.shape}")
        self.image = image
        if self.depth is not None:
            depth = np.asarray(self.depth)
            if depth.shape != image.shape[:2]:
                raise ValueError(
                    f"View.depth shape {depth.shape} must match the image's {image.shape[:2]}"
                )
            if depth.dtype != np.float32:
                raise ValueError(f"View.depth must be float32 metres, got {depth.dtype}")
            self.depth = depth
        self.K = _check_K("View.K", self.K)
        self.T_world_cam = _check_pose("View.T_world_cam", self.T_world_cam)
        self.stamp = int(self.stamp)

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])


@dataclass
class Window:
    """An ordered list of views (K frames x N cameras, flattened); view 0 is the reference.

    Attributes:
        views: the views, each knowing its camera and stamp.

    """

    views: list[View]

    def __post_init__(self) -> None:
        if len(self.views) == 0:
            raise ValueError("a Window needs at least one View")
        for i, v in enumerate(self.views):
            if not isinstance(v, View):
                raise TypeError(f"Window.views[{i}] must be a View, got {type(v).__name__}")

    def __len__(self) -> int:
        return len(self.views)

    @property
    def stamp(self) -> int:
        """Return the newest view's time in ns, which the outputs carry."""
        return max(v.stamp for v in self.views)

    @property
    def has_depth(self) -> bool:
        """Return True when every view carries depth."""
        return all(v.depth is not None for v in self.views)

    @property
    def has_poses(self) -> bool:
        """Return True when every view carries a known ``T_world_cam``."""
        return all(v.T_world_cam is not None for v in self.views)

    @property
    def has_intrinsics(self) -> bool:
        """Return True when every view carries ``K``."""
        return all(v.K is not None for v in self.views)


@dataclass
class GroundTruth:
    """Ground truth for a window; never part of the Window itself.

    Attributes:
        points: float32 Mx3 complete surface samples in the world frame.
        visible: bool M, True where the point is ray-visible in at least one input view.
        T_world_cam: list of 4x4 float64 true camera-to-world poses, one per view.
        K: list of 3x3 float64 true intrinsics, one per view.

    """

    points: np.ndarray
    visible: np.ndarray
    T_world_cam: list[np.ndarray]
    K: list[np.ndarray]

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"GroundTruth.points must be Mx3, got {self.points.shape}")
        self.visible = np.asarray(self.visible, dtype=bool)
        if self.visible.shape != (self.points.shape[0],):
            raise ValueError(
                f"GroundTruth.visible must have shape ({self.points.shape[0]},), "
                f"got {self.visible.shape}"
            )
        if len(self.T_world_cam) != len(self.K):
            raise ValueError("GroundTruth needs one T_world_cam and one K per view")
        self.T_world_cam = [_check_pose("GroundTruth.T_world_cam", T) for T in self.T_world_cam]
        self.K = [_check_K("GroundTruth.K", K) for K in self.K]


@dataclass
class Reconstruction:
    """What ``pipeline.py`` returns, whatever the backend.

    Attributes:
        points: float32 Nx3 in the output frame (see ``frame``).
        colors: uint8 Nx3 RGB.
        observed: bool N, True near observed depth (or by the model's own logit).
        confidence: float32 N in [0, 1]; 1.0 where the backend has none.
        T_ref_cam: list of 4x4 float64 camera-to-reference poses, one per view
            (camera-to-world when ``frame`` is the world frame).
        K: list of 3x3 float64 intrinsics, one per view.
        scale_mode: "metric" or "normalized".
        frame: "reference" (view 0's optical frame) or the world frame's name.
        timings: seconds per stage, e.g. {"encode": 0.01, "decode": 0.03}.
        stats: what the backend decided, e.g. the published cloud's ``gated``,
            ``observed_conflict`` and ``completed`` counts (numbers only).

    """

    points: np.ndarray
    colors: np.ndarray
    observed: np.ndarray
    confidence: np.ndarray
    T_ref_cam: list[np.ndarray]
    K: list[np.ndarray]
    scale_mode: str
    frame: str = "reference"
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"Reconstruction.points must be Nx3, got {self.points.shape}")
        n = self.points.shape[0]
        self.colors = np.asarray(self.colors, dtype=np.uint8)
        self.observed = np.asarray(self.observed, dtype=bool)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        for name, arr, shape in (
            ("colors", self.colors, (n, 3)),
            ("observed", self.observed, (n,)),
            ("confidence", self.confidence, (n,)),
        ):
            if arr.shape != shape:
                raise ValueError(f"Reconstruction.{name} must have shape {shape}, got {arr.shape}")
        if self.scale_mode not in SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {SCALE_MODES}, got {self.scale_mode!r}")
        if len(self.T_ref_cam) != len(self.K):
            raise ValueError("Reconstruction needs one T_ref_cam and one K per view")
        self.T_ref_cam = [_check_pose("Reconstruction.T_ref_cam", T) for T in self.T_ref_cam]
        self.K = [_check_K("Reconstruction.K", K) for K in self.K]

    def __len__(self) -> int:
        return int(self.points.shape[0])

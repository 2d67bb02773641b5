"""World anchoring of window outputs: support-plane gravity and chaining over windows.

Frames: a backend returns points and camera poses in an *output frame* (view 0's
optical frame, or a rig frame). The node's world frame is fixed and z-up
(REP 105). The first window defines it, unless TF already gives one: the
dominant support plane (floor or table) found by RANSAC becomes z = 0 with z
pointing to the cameras' side, the origin lies below camera 0's centre and x
follows camera 0's viewing direction. Later windows are chained: the views
they share with earlier windows (same camera, same stamp) fix ``T_world_out``
(Sim(3) for normalised scale, rigid for metric); with no shared view, the
latest world pose of the same camera is used (a static camera assumption).
:attr:`WorldAnchor.basis` says which (``first``, ``chain``, ``camera``) and
:attr:`WorldAnchor.shared` through which views (their indices in the window and their
remembered world poses); with metric depth :mod:`.chaining` then checks and refines the
placement against the map, without depth against the shared views themselves.

ROS-free: numpy only. ``T_a_b`` maps points in frame b into frame a (4x4 float64).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nova3r_ros.core.support_plane import fit_support_plane
from nova3r_ros.core.transforms import project_to_so3, se3_inverse

__all__ = ["WorldAnchor", "align_poses", "fit_support_plane", "gravity_frame"]


def gravity_frame(points: np.ndarray, T_out_cam0: np.ndarray) -> tuple[np.ndarray, str]:
    """Return ``T_world_out`` (4x4 rigid) defining a z-up world from a first window.

    Args:
        points: (N, 3) reconstructed points in the output frame.
        T_out_cam0: camera 0's camera-to-output pose (OpenCV optical frame).

    Returns:
        (T_world_out, a sentence saying how gravity was found). Without a support
        plane the world's z is camera 0's "up" (minus its optical y axis).

    """
    T0 = np.asarray(T_out_cam0, np.float64)
    c0, up_cam = T0[:3, 3], -T0[:3, 1]
    pts = np.asarray(points, np.float64)
    scale = float(np.median(np.linalg.norm(pts - c0, axis=1))) if pts.shape[0] else 1.0
    plane = fit_support_plane(pts, up_cam, max(0.01 * scale, 1e-6))
    if plane is None:
        z, origin = up_cam, c0
        how = "no support plane found: world z = camera 0's up, origin at camera 0"
    else:
        z, d, count = plane
        origin = c0 - (z @ c0 + d) * z
        how = f"support plane from RANSAC ({count} of {pts.shape[0]} points): world z = its normal"
    x = T0[:3, 2] - (T0[:3, 2] @ z) * z  # camera 0 forward, levelled
    if np.linalg.norm(x) < 1e-6:  # looking straight down: use its x axis
        x = T0[:3, 0] - (T0[:3, 0] @ z) * z
    x /= np.linalg.norm(x)
    T_out_world = np.eye(4)
    T_out_world[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    T_out_world[:3, 3] = origin
    return se3_inverse(T_out_world), how


def align_poses(
    T_a_cams: Sequence[np.ndarray], T_b_cams: Sequence[np.ndarray], with_scale: bool
) -> np.ndarray:
    """Return ``T_b_a`` (4x4) mapping frame a onto b from the same cameras' poses in both.

    The rotation is the SO(3) projection of the mean of ``R_b_i R_a_i^T`` (the cameras'
    orientations, which views a few centimetres apart determine far better than their
    centres do); with ``with_scale`` the scale is the ratio of the centres' RMS spreads
    about their means (1 when the centres in a coincide); then
    ``t = mean(c_b) - s R mean(c_a)``. With one camera it is the rigid
    ``T_b_cam @ inv(T_a_cam)``.
    """
    Ta = [np.asarray(T, np.float64) for T in T_a_cams]
    Tb = [np.asarray(T, np.float64) for T in T_b_cams]
    Ra = [project_to_so3(T[:3, :3]) for T in Ta]
    Rb = [project_to_so3(T[:3, :3]) for T in Tb]
    R = project_to_so3(sum(rb @ ra.T for ra, rb in zip(Ra, Rb, strict=True)))
    ca = np.array([T[:3, 3] for T in Ta])
    cb = np.array([T[:3, 3] for T in Tb])
    s = 1.0
    spread_a = float(np.sum((ca - ca.mean(0)) ** 2))
    if with_scale and len(Ta) >= 2 and spread_a > 1e-18:
        s = float(np.sqrt(np.sum((cb - cb.mean(0)) ** 2) / spread_a))
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = s * R, cb.mean(0) - s * R @ ca.mean(0)
    return T


class WorldAnchor:
    """Keeps the world frame over windows: who defined it and the views' world poses."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the world: the next window defines it again."""
        self._by_view: dict[tuple[str, int], np.ndarray] = {}
        self._by_camera: dict[str, np.ndarray] = {}
        self.anchored = False
        self.how = "not anchored yet"
        self.basis = ""  # how the last window was placed: first, chain or camera
        self.shared: tuple[list[int], list[np.ndarray]] = ([], [])  # the last placement's

    def anchor(
        self,
        keys: Sequence[tuple[str, int]],
        T_out_cams: Sequence[np.ndarray],
        points_out: np.ndarray,
        metric: bool,
        gravity_aligned: bool,
    ) -> np.ndarray:
        """Return ``T_world_out`` for a window whose outputs are in its own frame.

        Args:
            keys: (camera, stamp ns) per view.
            T_out_cams: per view 4x4 camera-to-output pose.
            points_out: (N, 3) points in the output frame (for the first window).
            metric: True for metric outputs (rigid chaining), False for normalised (Sim(3)).
            gravity_aligned: the output frame is already z-up (a rig frame): the first
                window then uses it as the world without a plane fit.

        """
        self.basis = "first"
        self.shared = ([], [])
        if not self.anchored:
            if gravity_aligned:
                T, self.how = np.eye(4), "world = the rig frame at the first window"
            else:
                T, self.how = gravity_frame(points_out, T_out_cams[0])
            self.anchored = True
            return T
        shared = [i for i, k in enumerate(keys) if k in self._by_view]
        if shared:
            known = [self._by_view[keys[i]] for i in shared]
            self.basis = "chain"
            self.how = f"chained to the previous window by {len(shared)} shared views"
        else:  # no common keyframe: assume the cameras did not move
            first = {}
            for i, (cam, _) in enumerate(keys):
                if cam in self._by_camera:
                    first.setdefault(cam, i)
            shared = list(first.values())
            known = [self._by_camera[cam] for cam in first]
            self.how = f"chained by camera name ({len(shared)} cameras assumed static)"
            self.basis = "camera"
        if not shared:
            self.basis = "first"
            T, self.how = gravity_frame(points_out, T_out_cams[0])
            return T
        kind = "Sim(3)" if not metric else "rigid"
        self.how += f", {kind}"
        self.shared = (shared, known)
        return align_poses([T_out_cams[i] for i in shared], known, with_scale=not metric)

    def remember(self, keys: Sequence[tuple[str, int]], T_world_cams: Sequence[np.ndarray]):
        """Store the views' world poses (only the latest window's views are kept).

        Give only the views whose poses passed their checks: a later window is chained
        through these, and a camera's latest pose is its newest remembered one.
        """
        self._by_view = {k: np.asarray(T) for k, T in zip(keys, T_world_cams, strict=True)}
        for (cam, _), T in zip(keys, T_world_cams, strict=True):
            self._by_camera[cam] = np.asarray(T)
        self.anchored = True

    def camera_pose(self, camera: str) -> np.ndarray | None:
        """Return ``camera``'s latest remembered camera-to-world pose, or None."""
        return self._by_camera.get(camera)

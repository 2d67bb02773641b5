"""Gravity for the levelled canonical frame: from a known world, else a support plane.

A window's gravity direction ("down") in view 0's optical frame comes, in this order,
from a gravity-aligned world frame the window's poses are given in (the node's
``world_frame`` when TF knows it: z up, REP 105), else from the dominant support plane
in view 0's depth (a floor, table or counter: RANSAC over planes within
:data:`~nova3r_ros.core.support_plane.MAX_PLANE_TILT_DEG` of the camera's "up", the
image's -y), else it is unknown (zeros:
the model keeps view 0's optical frame).
"""

from __future__ import annotations

import numpy as np
import torch

from nova3r_ros.core.support_plane import fit_support_plane

MIN_INLIER_SHARE = 0.1  # of the depth points, for a plane to count


def support_plane_down(depth: torch.Tensor, K: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Return "down" (3,) in the camera's optical frame from its support plane, or zeros.

    Args:
        depth: (H, W) metres (0 / non-finite = no return).
        K: (3, 3) intrinsics at (H, W).
        seed: RANSAC seed (the result is deterministic).

    Returns:
        float32 (3,) on the depth's device: minus the unit normal of the plane
        :func:`nova3r_ros.core.support_plane.fit_support_plane` finds among those facing
        the camera's up (the image's -y) within its tilt limit (inlier distance max(1 cm,
        1 % of the median depth)); zeros when fewer than :data:`MIN_INLIER_SHARE` of the
        points lie on it or there is too little depth.

    """
    dev = depth.device
    d = torch.nan_to_num(depth.float(), nan=0.0, posinf=0.0, neginf=0.0)
    rows, cols = torch.nonzero(d > 0, as_tuple=True)
    zero = torch.zeros(3, device=dev)
    if len(rows) < 50:
        return zero
    z = d[rows, cols]
    Kf = K.float().to(dev)
    pts = torch.stack([(cols - Kf[0, 2]) / Kf[0, 0] * z, (rows - Kf[1, 2]) / Kf[1, 1] * z, z], 1)
    thresh = max(0.01, 0.01 * float(z.median()))
    plane = fit_support_plane(pts.cpu().numpy(), np.array([0.0, -1.0, 0.0]), thresh, seed)
    if plane is None or plane[2] < MIN_INLIER_SHARE * len(pts):
        return zero
    return torch.as_tensor(-plane[0], dtype=torch.float32, device=dev)


def world_down(T_world_cam0: torch.Tensor) -> torch.Tensor:
    """Return "down" (B, 3) in view 0's optical frame for z-up worlds (B, 4, 4) poses."""
    return -T_world_cam0[..., :3, :3].float()[..., 2, :]  # R^T (0, 0, -1)


def window_down(
    depth: torch.Tensor, K: torch.Tensor, T_world_cam: torch.Tensor | None = None
) -> torch.Tensor:
    """Return a window's "down" (3,) in view 0's optical frame, on the depth's device.

    From ``T_world_cam`` (V, 4, 4) when the poses are in a z-up world, else (None) from
    view 0's support plane (``depth`` (V, H, W), ``K`` (V, 3, 3); zeros if none is found).
    """
    if T_world_cam is not None:
        return world_down(T_world_cam[:1])[0].to(depth.device)
    return support_plane_down(depth[0], K[0].to(depth.device))

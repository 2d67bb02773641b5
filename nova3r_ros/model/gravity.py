"""Gravity for the levelled canonical frame: from a known world, else a support plane.

A window's gravity direction ("down") in view 0's optical frame comes, in this order,
from a gravity-aligned world frame the window's poses are given in (the node's
``world_frame`` when TF knows it: z up, REP 105), else from the dominant support plane
in view 0's depth (a floor, table or counter: RANSAC over planes within
:data:`MAX_TILT_DEG` of the camera's "up", the image's -y), else it is unknown (zeros:
the model keeps view 0's optical frame). Torch, on the depth's device.
"""

from __future__ import annotations

import math

import torch

MAX_TILT_DEG = 50.0  # a support plane faces within this of the camera's up (-y)
MIN_INLIER_SHARE = 0.1  # of the sampled depth points, for a plane to count
HYPOTHESES = 256
SAMPLE = 4096


def support_plane_down(depth: torch.Tensor, K: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Return "down" (3,) in the camera's optical frame from its support plane, or zeros.

    Args:
        depth: (H, W) metres (0 / non-finite = no return).
        K: (3, 3) intrinsics at (H, W).
        seed: RANSAC seed (the result is deterministic).

    Returns:
        float32 (3,): minus the unit normal of the plane with most inliers among those
        facing the camera's up within :data:`MAX_TILT_DEG` (inlier distance max(1 cm, 1 %
        of the median depth)), refitted to its inliers; zeros when fewer than
        :data:`MIN_INLIER_SHARE` of the points lie on it or there is too little depth.

    """
    dev = depth.device
    d = torch.nan_to_num(depth.float(), nan=0.0, posinf=0.0, neginf=0.0)
    rows, cols = torch.nonzero(d > 0, as_tuple=True)
    zero = torch.zeros(3, device=dev)
    if len(rows) < 50:
        return zero
    g = torch.Generator(device="cpu").manual_seed(seed)
    pick = torch.randperm(len(rows), generator=g)[:SAMPLE].to(dev)
    rows, cols = rows[pick], cols[pick]
    z = d[rows, cols]
    Kf = K.float().to(dev)
    pts = torch.stack([(cols - Kf[0, 2]) / Kf[0, 0] * z, (rows - Kf[1, 2]) / Kf[1, 1] * z, z], 1)
    thresh = max(0.01, 0.01 * float(z.median()))
    tri = pts[torch.randint(len(pts), (HYPOTHESES, 3), generator=g).to(dev)]
    n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = n.norm(dim=1)
    n = n / norm.clamp_min(1e-12)[:, None]
    up = torch.tensor([0.0, -1.0, 0.0], device=dev)
    n = torch.where((n @ up < 0)[:, None], -n, n)
    ok = (norm > 1e-9) & (n @ up >= math.cos(math.radians(MAX_TILT_DEG)))
    if not bool(ok.any()):
        return zero
    offset = -(n * tri[:, 0]).sum(1)
    counts = ((pts @ n.T + offset).abs() <= thresh).sum(0) * ok
    best = int(counts.argmax())
    inliers = pts[(pts @ n[best] + offset[best]).abs() <= thresh]
    if len(inliers) < max(3, MIN_INLIER_SHARE * len(pts)):
        return zero
    centre = inliers.mean(0)
    normal = torch.linalg.svd(inliers - centre, full_matrices=False).Vh[2]
    if float(normal @ up) < 0:
        normal = -normal
    return -normal


def world_down(T_world_cam0: torch.Tensor) -> torch.Tensor:
    """Return "down" (B, 3) in view 0's optical frame for z-up worlds (B, 4, 4) poses."""
    return -T_world_cam0[..., :3, :3].float()[..., 2, :]  # R^T (0, 0, -1)

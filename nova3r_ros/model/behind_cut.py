"""Completed points inside what the window measured: a band behind its observed surfaces.

A completed point that lies some decimetres behind a surface a view of the window measured
is, most often, inside the thing that surface belongs to: a cabinet below its counter top,
the plinth behind a cabinet's front, a box, a sofa. On the real 7-Scenes dev frames
(validation only; session 44, ``docs/eval/session44/``) the completed points 10-40 cm behind
a measured surface were unjudged (no frame of the whole recording measured the space there)
0.63-0.84 of the time and within 2 cm of the reference 0.08-0.22 of the time, against
0.22-0.31 and 0.31-0.53 for those less than 3 cm behind one. But the same band holds the
floor behind furniture and the back of any object that deep, so the rule is off by default
(:class:`~nova3r_ros.model.publish_config.PublishConfig`). :func:`behind_measured` gives
each point how far behind the window's measured surfaces it lies; :func:`in_band` which
points fall in ``[from_m, to_m)``.

Shapes: ``points`` (N, 3) in the frame of ``T_frame_cam`` (V, 4, 4, camera-to-frame,
OpenCV optical), metres; ``depth`` (V, H, W) metres, 0 = no return; ``K`` (V, 3, 3) at
(H, W). Torch on the points' device.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.measurement import view_pixels


def behind_measured(
    points: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T_frame_cam: torch.Tensor
) -> torch.Tensor:
    """(N,) m: the largest ``z - d`` over the views with valid depth ``d`` at the point's pixel.

    ``z`` is the point's optical depth in that view, the pixel the nearest one
    (:func:`~nova3r_ros.model.measurement.view_pixels`, as :func:`measure` reads it);
    ``-inf`` where no view has valid depth at the point's pixel (outside every image, a
    depth hole, behind every camera).
    """
    n = points.shape[0]
    out = torch.full((n,), -torch.inf, device=points.device)
    if n == 0 or depth.shape[0] == 0:
        return out
    V, H, W = depth.shape
    K = K.float().to(points.device)
    T = T_frame_cam.float().to(points.device)
    z, inside, idx = view_pixels(points.float(), K, T[:, :3, :3], T[:, :3, 3], H, W)
    d = torch.gather(depth.float().to(points.device).reshape(V, -1), 1, idx)
    ok = inside & (d > 0)
    return torch.where(ok, z - d, torch.full_like(z, -torch.inf)).amax(0)


def in_band(
    points: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T_frame_cam: torch.Tensor,
    from_m: float, to_m: float,
) -> torch.Tensor:  # fmt: skip
    """(N,) bool: :func:`behind_measured` lies in ``[from_m, to_m)``; none where to <= from."""
    if not to_m > from_m:
        return torch.zeros(points.shape[0], dtype=torch.bool, device=points.device)
    b = behind_measured(points, depth, K, T_frame_cam)
    return (b >= from_m) & (b < to_m)

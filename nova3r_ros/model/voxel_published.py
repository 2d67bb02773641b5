"""The voxel completion head's part of the published cloud (a gated window only).

:func:`published_voxel_points` takes the head's completed cells
(:func:`~nova3r_ros.model.voxel_completion.window_points`) and keeps, like the plane
points, those in no view's seen free space, on no observed surface and inside some view's
region (:mod:`nova3r_ros.model.measurement`); then only those farther than
``voxel_far_m`` from every point the cloud already holds (observed, planes, the
hidden-surface head, sides), one per cube of ``spacing_m``. Its points are right to
about a cell (10 cm cells: 5 cm), so where another part already covers a surface they
would only add a coarser copy of it.

Frames: every tensor in the reference frame (view 0's optical frame), metres; ``down``
(3,) in view 0's optical frame (zeros: unknown, the grid is then view 0's optical frame).
"""

from __future__ import annotations

import torch

from nova3r_ros.model.depth_consistency import first_per_voxel
from nova3r_ros.model.hidden_published import observed_colours
from nova3r_ros.model.measurement import measure
from nova3r_ros.model.observed_points import nearest
from nova3r_ros.model.voxel_completion import VoxelHead, window_points


def published_voxel_points(
    head: VoxelHead,
    depth: torch.Tensor,
    K: torch.Tensor,
    T: torch.Tensor,
    z_far: torch.Tensor,
    down: torch.Tensor,
    taken: torch.Tensor,
    obs_pts: torch.Tensor,
    obs_rgb: torch.Tensor,
    config,
    planes: list | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the voxel head's published points (N, 3), confidences (N,), colours (N, 3).

    ``depth`` (V, H, W), ``K`` (V, 3, 3), ``T`` (V, 4, 4) camera-to-reference, ``z_far``
    the views' region ends, ``taken`` (M, 3) every point the cloud holds so far,
    ``obs_pts`` / ``obs_rgb`` the observed points and colours, ``config`` a
    :class:`~nova3r_ros.model.publish_config.PublishConfig`, ``planes`` the window's planes
    (unit normal (3,), offset d) with ``n . p + d = 0``, onto which the points within
    ``config.voxel_snap_m`` are moved (:func:`snap_to_planes`). A point's confidence is its
    cell's occupancy probability.
    """
    p = head.min_probability if config.voxel_min_probability is None else (
        config.voxel_min_probability)  # fmt: skip
    pts, prob = window_points(head, depth, K, T, down, p, config.voxel_points_per_cell)
    pts, prob = pts.to(depth.device), prob.to(depth.device)
    if config.voxel_snap_m > 0 and planes and pts.shape[0]:
        pts = snap_to_planes(pts, planes, config.voxel_snap_m)
    if pts.shape[0]:
        m = measure(pts, depth, K, T, depth > 0, z_far)
        keep = ~m.free & ~m.surface & m.region
        pts, prob = pts[keep], prob[keep]
    if pts.shape[0] and config.voxel_far_m > 0 and taken.shape[0]:
        far = nearest(pts, taken.float())[0][:, 0].to(pts.device) > config.voxel_far_m
        pts, prob = pts[far], prob[far]
    first = first_per_voxel(pts, config.spacing_m)
    pts, prob = pts[first], prob[first]
    return pts, prob, observed_colours(pts, obs_pts, obs_rgb)


def snap_to_planes(points: torch.Tensor, planes: list, within_m: float) -> torch.Tensor:
    """Return ``points`` (N, 3), each within ``within_m`` of a plane moved onto the nearest.

    ``planes``: (unit normal (3,), offset d) with ``n . p + d = 0``, in the points' frame.
    """
    normals = torch.stack([n.float().to(points.device) for n, _ in planes])  # (P, 3)
    offsets = torch.tensor([float(d) for _, d in planes], device=points.device)
    signed = points.float() @ normals.T + offsets  # (N, P)
    dist, idx = signed.abs().min(dim=1)
    move = (dist <= within_m)[:, None]
    snapped = points.float() - signed.gather(1, idx[:, None]) * normals[idx]
    return torch.where(move, snapped, points.float()).to(points.dtype)

"""Training targets of the hidden-surface head: the unmeasured surfaces along each cell's rays.

For one view with its (sensor-degraded) input depth and the window's ground-truth
surface points (synthetic: every surface of the scene; ``eligible`` restricts them, in
training to the points some view of the window sees, as the real protocol's reference
holds only what some frame of a recording saw), each eligible ground-truth point in the
view's region (optical z in (0.1 m, p99 of the valid input
depth + 0.15 m], inside the image) falls into one output cell of
:class:`~nova3r_ros.model.hidden_head.HiddenHeadConfig`'s grid. A point is *unmeasured*
when its cell has no valid input depth, or when it lies more than the sensor margin
(:func:`~nova3r_ros.model.measurement.margin`) behind the farthest valid depth of its
cell; points in front of the cell's nearest depth (the sensor saw free space there)
and on the measured surface are not targets. Layer 0 of a cell is the nearest
unmeasured point's depth; layer l + 1 the nearest at least :func:`layer_gap` behind
layer l. A cell with no such point has no layer there. Because the ground truth is a
sample of the surface, a cell next to one with a layer may miss it by chance: such
cells are marked ``uncertain`` (left out of the existence loss).

Shapes: ``points`` (B, M, 3) world; ``T_world_cam`` (B, 4, 4) camera-to-world (OpenCV
optical); ``K`` (B, 3, 3) and ``depth`` (B, H, W) metres at the head's input size.
Torch, on the inputs' device, no host reads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nova3r_ros.model.hidden_head import HiddenHeadConfig, point_cells
from nova3r_ros.model.measurement import margin, region_depth

MIN_Z = 0.1


def layer_gap(z: torch.Tensor) -> torch.Tensor:
    """Smallest depth step (m) between two layers at depth z: max(5 cm, 3 % of z)."""
    return torch.clamp_min(0.03 * z, 0.05)


def layer_targets(
    points: torch.Tensor, T_world_cam: torch.Tensor, K: torch.Tensor, depth: torch.Tensor,
    config: HiddenHeadConfig, eligible: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return the targets of every view (module docstring).

    ``eligible`` (B, M) bool: the points that may be targets (None: all).

    Returns:
        ``exists`` (B, L, h, w) bool, ``z`` (B, L, h, w) metres (inf where none) and
        ``uncertain`` (B, L, h, w) bool.

    """
    B = depth.shape[0]
    c, L = config.cell_px, config.layers
    h, w = config.grid
    z, cu, cv = point_cells(points, T_world_cam, K, config)
    z_far = region_depth(depth)
    inside = (z > MIN_Z) & (z <= z_far[:, None]) & (cu >= 0) & (cv >= 0) & (cu < w) & (cv < h)
    if eligible is not None:
        inside &= eligible
    valid = depth > 0
    big = torch.full_like(depth, 1e6)
    d_max = F.max_pool2d(depth[:, None], c)[:, 0]  # (B, h, w): 0 where the cell has no depth
    d_min = -F.max_pool2d(-torch.where(valid, depth, big)[:, None], c)[:, 0]
    cell = (cv.clamp(0, h - 1) * w + cu.clamp(0, w - 1)).long()
    dmax_p = torch.gather(d_max.flatten(1), 1, cell)
    dmin_p = torch.gather(d_min.flatten(1), 1, cell)
    measured = dmax_p > 0
    unmeasured = inside & (~measured | (z > dmax_p + margin(dmax_p)))
    unmeasured &= ~(measured & (z < dmin_p - margin(dmin_p)))
    flat = cell + torch.arange(B, device=depth.device)[:, None] * (h * w)
    inf = torch.full((B * h * w,), torch.inf, device=depth.device)
    zs_all = torch.where(unmeasured, z, torch.full_like(z, torch.inf)).flatten()
    flat = flat.flatten()
    layers = []
    prev = None
    for _ in range(L):
        cand = zs_all
        if prev is not None:
            front = prev[flat]
            cand = torch.where(zs_all > front + layer_gap(front), zs_all, torch.inf)
        zl = inf.scatter_reduce(0, flat, cand, "amin")
        layers.append(zl)
        prev = torch.where(torch.isfinite(zl), zl, torch.full_like(zl, 1e6))
    zt = torch.stack(layers, 0).view(L, B, h, w).permute(1, 0, 2, 3).contiguous()
    exists = torch.isfinite(zt)
    near = F.max_pool2d(exists.float(), 3, 1, 1) > 0
    return exists, zt, near & ~exists

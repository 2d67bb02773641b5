"""The hidden-surface head's cells subdivided: completed surfaces as dense as observed ones.

The head (:mod:`~nova3r_ros.model.hidden_head`) predicts one point per cell and layer, a
cell being ``cell_px`` pixels of its input (8 x 8 pixels of a 640 x 480 frame with the
shipped head): at 3 m its points lie about 4 cm apart, four times the observed cloud's
1 cm spacing, and sparser still on surfaces seen at a slant. :func:`subdivided` splits
every cell into ``factor x factor`` sub-cells on the same footprint: each sub-cell keeps
its cell's existence and confidence (nearest), and takes a depth interpolated bilinearly
from the cell and its neighbours, but only from neighbours whose depth lies within
``max_step`` of the cell's own (relative to its depth): across a depth step (an occluding
edge, a neighbour of another surface) the sub-cell keeps its cell's depth. So a kept
cell becomes a patch of points on a smooth surface through its neighbours, covering the
footprint the cell covered; nothing is added outside it. Points snapped onto a plane
(:mod:`~nova3r_ros.model.hidden_planes`) land where each sub-cell's own ray meets the
plane.

:class:`SubCellGrid` stands in for the head's config where only the grid's geometry is
read (:func:`~nova3r_ros.model.hidden_head.cell_rays`, ``modes``).

Shapes: ``z``, ``exist``, ``prob`` (V, M, h, w) -> (V, M, h * factor, w * factor), the modes
of :func:`~nova3r_ros.model.hidden_head.head_layers` (optical depth, metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MAX_STEP = 0.05  # a neighbour's depth within this share of the cell's is interpolated over


@dataclass(frozen=True)
class SubCellGrid:
    """The geometry of a subdivided grid: ``cell_px`` input pixels per cell (may be < 1)."""

    cell_px: float
    grid: tuple[int, int]
    modes: int


def subdivided(
    z: torch.Tensor, exist: torch.Tensor, prob: torch.Tensor, config, factor: int,
    max_step: float = MAX_STEP,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, SubCellGrid]:  # fmt: skip
    """Return ``z``, ``exist``, ``prob`` on sub-cells and the sub-cell grid (module docstring).

    ``config``: the head's (``cell_px``, ``grid``, ``modes``). ``factor`` 1 returns the
    inputs and a grid equal to the head's.
    """
    if factor < 1:
        raise ValueError(f"subdivided: factor must be >= 1, got {factor}")
    h, w = config.grid
    grid = SubCellGrid(config.cell_px / factor, (h * factor, w * factor), config.modes)
    if factor == 1:
        return z, exist, prob, grid
    size = grid.grid
    zf = z.float()
    near = F.interpolate(zf, size=size, mode="nearest")
    # bilinear weights of each sub-cell over its four nearest cells, only where a
    # neighbour's depth is within max_step of the sub-cell's own cell's depth
    pad = F.pad(zf, (1, 1, 1, 1), mode="replicate")
    acc = torch.zeros_like(near)
    wsum = torch.zeros_like(near)
    centre = (torch.arange(factor, device=z.device, dtype=torch.float32) + 0.5) / factor - 0.5
    for dy in (-1, 0, 1):
        wy = torch.clamp(1.0 - (centre - dy).abs(), min=0.0)  # (factor,)
        for dx in (-1, 0, 1):
            wx = torch.clamp(1.0 - (centre - dx).abs(), min=0.0)
            if not (wy.any() and wx.any()):
                continue
            nb = pad[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            nb = F.interpolate(nb, size=size, mode="nearest")
            weight = (wy[:, None] * wx[None, :]).repeat(h, w)  # (h * factor, w * factor)
            ok = (nb - near).abs() <= max_step * near
            acc += torch.where(ok, weight * nb, 0.0)
            wsum += torch.where(ok, weight, 0.0)
    smooth = torch.where(wsum > 0, acc / wsum.clamp_min(1e-12), near).to(z.dtype)
    up = lambda t: F.interpolate(t, size=size, mode="nearest")  # noqa: E731
    return smooth, up(exist), up(prob), grid

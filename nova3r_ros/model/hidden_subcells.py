"""Sub-cells for the hidden-surface head's layers snapped onto planes: denser plane fills.

The head (:mod:`~nova3r_ros.model.hidden_head`) predicts one point per cell and layer, a
cell being ``cell_px`` pixels of its input (8 x 8 pixels of a 640 x 480 frame with the
shipped head). Where one of the window's planes holds a layer
(:func:`~nova3r_ros.model.hidden_planes.snapped_points`), the point is placed where the
cell's central ray crosses the plane: at 3 m about one point per 4 cm, four times the
observed cloud's 1 cm spacing, and sparser still on a floor seen at a slant.
:func:`subdivided` splits every cell into ``factor x factor`` sub-cells on the same
footprint, each with its cell's depths and existence (nearest neighbour), so that the
snapping places one point where each sub-cell's own ray crosses the plane: the same
surface over the same footprint, ``factor`` times denser along each side; nothing is
added outside the cell. The published cloud
(:func:`~nova3r_ros.model.hidden_published.published_points`) takes the sub-cells'
points only behind a surface some view measured (behind an occluder), and the cells'
own points elsewhere (in depth holes of every view, where on the 7-Scenes dev frames
snapped points are right to 5 cm about half as often as behind occluders). The head's
own (unsnapped) points stay one per cell: split the same way, they lowered F@2cm
(docs/eval/session36).

:class:`SubCellGrid` stands in for the head's config where only the grid's geometry is
read (:func:`~nova3r_ros.model.hidden_head.cell_rays`, ``modes``).

Shapes: ``z``, ``exist`` (V, M, h, w) -> (V, M, h * factor, w * factor), the modes of
:func:`~nova3r_ros.model.hidden_head.head_layers` (optical depth, metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SubCellGrid:
    """The geometry of a subdivided grid: ``cell_px`` input pixels per cell (may be < 1)."""

    cell_px: float
    grid: tuple[int, int]
    modes: int


def subdivided(
    z: torch.Tensor, exist: torch.Tensor, config, factor: int
) -> tuple[torch.Tensor, torch.Tensor, SubCellGrid]:
    """Return ``z`` and ``exist`` on sub-cells and the sub-cell grid (module docstring).

    ``config``: the head's (``cell_px``, ``grid``, ``modes``). ``factor`` 1 returns the
    inputs and a grid equal to the head's.
    """
    if type(factor) is not int or factor < 1:
        raise ValueError(f"subdivided: factor must be an integer >= 1, got {factor!r}")
    h, w = config.grid
    grid = SubCellGrid(config.cell_px / factor, (h * factor, w * factor), config.modes)
    if factor == 1:
        return z, exist, grid
    return (F.interpolate(z, size=grid.grid, mode="nearest"),
            F.interpolate(exist, size=grid.grid, mode="nearest"), grid)  # fmt: skip

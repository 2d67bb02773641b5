"""Several points per completed voxel cell, spread along the local surface.

The voxel head (:mod:`~nova3r_ros.model.voxel_completion`) gives one point per completed
cell: the cell's centre plus the predicted mean offset. With 10 cm cells one point covers
only the part of the cell's surface within 5 cm of it: even the ground truth's own cells
cover 0.76 of the validation rooms' hidden surface within 5 cm that way, under issue 11's
0.80 (docs/eval/session45, ``voxel_ceiling_probe.py``). :func:`spread_points` adds points
a quarter of a cell away from each point in the plane of its neighbourhood (the principal
axes of the mean points of the occupied cells among its 3 x 3 x 3 neighbours, the
measured cells' included): 5 points per cell (a cross) cover 0.94 of it with the ground
truth's cells, 9 (a 3 x 3 square) 0.96, every point still within 5 cm of the surface.

Frames and units: everything in cells of the grid (or of a crop of it): ``occupied``
(X, Y, Z) bool, ``offset`` (X, Y, Z, 3) the occupied cells' mean points' offsets from their
centres (a cell's mean point is index + 0.5 + offset), ``cells`` (N, 3) long indices of
the cells to spread.
"""

from __future__ import annotations

import torch

POINTS_PER_CELL = (1, 5, 9)
MIN_NEIGHBOURS = 3  # fewer occupied neighbours (itself included): no plane, one point


def _steps(points_per_cell: int) -> list[tuple[int, int]]:
    """Return the tangent-plane steps (a, b) of the extra points, in quarters of a cell."""
    if points_per_cell == 5:
        return [(1, 0), (-1, 0), (0, 1), (0, -1)]
    return [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]


def _mean_points(offset: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Return the mean points (..., 3) in cell units of the cells ``idx`` (..., 3)."""
    return idx.float() + 0.5 + offset[idx[..., 0], idx[..., 1], idx[..., 2]].float()


def spread_points(occupied: torch.Tensor, offset: torch.Tensor, cells: torch.Tensor,
                  points_per_cell: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return points (M, 3) in cell units and, for each, its row in ``cells`` (M,).

    Each cell gives its mean point first (rows 0..N-1), then, where at
    least :data:`MIN_NEIGHBOURS` of its 3 x 3 x 3 neighbourhood are occupied, the extra
    points of ``points_per_cell`` (one of :data:`POINTS_PER_CELL`) at a quarter of a cell
    along the neighbourhood's two principal axes.
    """
    if points_per_cell not in POINTS_PER_CELL:
        raise ValueError(f"points_per_cell must be one of {POINTS_PER_CELL}")
    dev = offset.device
    n = cells.shape[0]
    centre = _mean_points(offset, cells)
    row = torch.arange(n, device=dev)
    if points_per_cell == 1 or n == 0:
        return centre, row
    dims = torch.tensor(occupied.shape, device=dev)
    grid = torch.stack(torch.meshgrid(*(torch.arange(-1, 2, device=dev),) * 3, indexing="ij"),
                       -1).reshape(-1, 3)  # fmt: skip
    nb = cells[:, None, :] + grid[None]  # (N, 27, 3)
    ok = ((nb >= 0) & (nb < dims)).all(-1)
    nb = torch.minimum(nb.clamp_min(0), dims - 1)
    ok &= occupied[nb[..., 0], nb[..., 1], nb[..., 2]]
    q = _mean_points(offset, nb)  # (N, 27, 3)
    w = ok.float()[..., None]
    count = w.sum(1)
    mu = (q * w).sum(1) / count.clamp_min(1)
    d = (q - mu[:, None]) * w
    cov = d.transpose(1, 2) @ d / count.clamp_min(1)[..., None]
    vec = torch.linalg.eigh(cov.cpu().double())[1].to(dev).float()  # ascending eigenvalues
    t1, t2 = vec[..., 1], vec[..., 2]  # the two largest: the surface's plane
    good = count[:, 0] >= MIN_NEIGHBOURS
    base, rows = centre[good], row[good]
    extra = [base + 0.25 * (a * t1[good] + b * t2[good]) for a, b in _steps(points_per_cell)]
    pts = torch.cat([centre, *extra])
    return pts, torch.cat([row] + [rows] * len(extra))

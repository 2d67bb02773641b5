"""What a perfect voxel head could cover: the structural ceiling of one point per cell.

Issue 11 asks hidden recall@5cm >= 0.80 on synthetic rooms. The voxel head
(``model/voxel_completion.py``) publishes one point per completed cell (the cell's centre
plus the predicted mean offset). This probe replaces the network by the ground truth
(``grid_targets`` of the window's complete surface: exactly what the head is trained to
output) and scores, as ``train/voxel_validation.validate`` does, the share of the hidden
ground truth within 5 cm of a completed point, for:

- ``one``: one point per true unseen surface cell (the head's output format), cells of
  10 cm (the default) and 5 cm;
- ``k`` points per cell: each such cell's point plus points spread +-cell/4 (k = 5: a
  cross, k = 9: a 3 x 3 square) in the plane of the cell's neighbourhood
  (:func:`nova3r_ros.model.voxel_spread.spread_points` over the true surface cells,
  measured cells included): a densification that needs no retraining.

Validation rooms only (seeds 1,500,000+), 1 and 4 views, on the CPU:
``PYTHONPATH=. python docs/eval/session45/voxel_ceiling_probe.py --windows 16``.
"""

from __future__ import annotations

import argparse

import torch

from nova3r_ros.model.voxel_completion import (
    VoxelConfig,
    grid_inputs,
    grid_poses,
    grid_rotation,
    grid_targets,
    subsampled,
)
from nova3r_ros.model.voxel_spread import spread_points
from nova3r_ros.train.voxel_validation import (
    TOL_M,
    _in_region,
    _min_dist,
    scored_windows,
    validation_windows,
)


def cell_points(occ, off, x, cfg, k: int):
    """Grid-frame points of the true unseen surface cells, ``k`` per cell (spread_points)."""
    unseen = (occ > 0) & (x[0] == 0) & (x[1] == 0)
    pts, _ = spread_points(occ > 0, off.permute(1, 2, 3, 0), unseen.nonzero(), k)
    return torch.tensor(cfg.lower_m) + pts * cfg.cell_m


def main() -> None:
    """Print the ceiling rows (module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--views", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--mesh-dir", default=None)
    a = ap.parse_args()
    settings = [(0.1, 1), (0.1, 5), (0.1, 9), (0.05, 1), (0.05, 5)]
    for views in a.views:
        batches = validation_windows(a.windows, views, 120, 160, "cpu", mesh_dir=a.mesh_dir)
        res = {s: [0, 0, 0, 0] for s in settings}  # covered, hidden, right, points
        for w in scored_windows(batches):
            Rg = grid_rotation(w.down)
            for cell, k in settings:
                dims = tuple(round(n * 0.1 / cell) for n in (80, 64, 80))
                cfg = VoxelConfig(cell_m=cell, dims=dims)
                d, Ks = subsampled(w.depth, w.K, cfg.input_width)
                Tg = grid_poses(w.T_ref, w.down)
                x = grid_inputs(d[None], Ks[None], Tg[None], cfg)[0]
                occ, off = grid_targets((w.points @ Rg.T)[None], cfg)
                p = cell_points(occ[0], off[0], x, cfg, k) @ Rg
                p = p[_in_region(p, w.depth, w.K, w.T_ref)]
                r = res[(cell, k)]
                if len(p):
                    r[0] += int((_min_dist(w.hidden, p) < TOL_M).sum())
                    r[2] += int((_min_dist(p, w.gt) < TOL_M).sum())
                r[1] += len(w.hidden)
                r[3] += len(p)
        for (cell, k), (cov, nh, right, n) in res.items():
            print(f"views={views} cell={cell} points_per_cell={k} "
                  f"hidden_covered@5cm={cov / max(nh, 1):.3f} "
                  f"precision@5cm={right / max(n, 1):.3f} "
                  f"points_per_window={n / a.windows:.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

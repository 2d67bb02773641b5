"""Session 46 probe: why the voxel head leaves validation rooms' hidden surface uncovered.

For validation rooms (seeds 1,500,000+, ``voxel_validation.scored_windows``: the hidden
ground truth of the views' region, farther than 5 cm from every measured point), the
head's completed points at its own threshold (``window_points``, 5 points per cell) cover
part of the hidden surface within 5 cm. Each hidden point left uncovered is put in the
first class that holds for the 10 cm cell it lies in: outside the grid, outside the crop
the network sees, a measured cell (the head completes none), a cell seen empty (none
either: the depth's free space, a surface within ``free_margin_m`` of it), a cell under
the threshold, a cell over it (then the cell's points lie more than 5 cm away).

Usage: PYTHONPATH=. python docs/eval/session46/voxel_miss_probe.py HEAD_DIR VIEWS WINDOWS
       [--mesh-dir DIR]
"""

import argparse

import torch

from nova3r_ros.model.voxel_completion import cell_of, grid_rotation, window_grid, window_points
from nova3r_ros.model.voxel_files import load_voxel_head
from nova3r_ros.train.voxel_validation import _min_dist, scored_windows, validation_windows

CLASSES = ("outside_grid", "outside_crop", "measured_cell", "seen_empty_cell",
           "under_threshold", "over_threshold")  # fmt: skip


@torch.no_grad()
def classify(head, w, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(H,) bool covered and (H,) int class (index in CLASSES; -1 covered) of ``w.hidden``."""
    cfg = head.config
    pts, _ = window_points(head, w.depth, w.K, w.T_ref, w.down, threshold, 5)
    covered = _min_dist(w.hidden, pts) < 0.05
    x, box, crop_prob, _ = window_grid(head, w.depth, w.K, w.T_ref, w.down)
    prob = torch.full(x.shape[1:], -1.0)  # -1: outside the crop
    prob[box] = crop_prob
    i, inside = cell_of(w.hidden @ grid_rotation(w.down).T, cfg)
    p = prob.flatten()[i]
    measured, empty = x[0].flatten()[i] > 0, x[1].flatten()[i] > 0
    cls = torch.full((len(p),), 5)
    for k, cond in reversed(list(enumerate((~inside, p < 0, measured, empty, p < threshold)))):
        cls = torch.where(cond, k, cls)
    return covered, torch.where(covered, -1, cls)


def main() -> None:
    """Command line (module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("head")
    ap.add_argument("views", type=int)
    ap.add_argument("windows", type=int)
    ap.add_argument("--mesh-dir", default=None)
    args = ap.parse_args()
    head = load_voxel_head(args.head, "cpu").eval()
    t = head.min_probability
    batches = validation_windows(args.windows, args.views, 96, 128, "cpu", mesh_dir=args.mesh_dir)
    counts, n = torch.zeros(len(CLASSES) + 1), 0
    for w in scored_windows(batches):
        _, cls = classify(head, w, t)
        counts += torch.bincount(cls + 1, minlength=len(CLASSES) + 1).float()
        n += len(cls)
    print(f"{args.views} view(s), {args.windows} rooms, threshold {t}: hidden points {n}")
    print(f"  covered@5cm {counts[0] / n:.3f}")
    for k, name in enumerate(CLASSES):
        print(f"  {name:16s} {counts[k + 1] / n:.3f}")


if __name__ == "__main__":
    main()

"""Anchor depths of the hidden-surface head: each output cell's measured depth, holes filled.

With :attr:`~nova3r_ros.model.hidden_head.HiddenHeadConfig.anchor`, the head predicts its
layers' log depths *relative to the cell's own measured depth* instead of to the view's
median depth: ``log(z / anchor)`` rather than ``log(z / scale)``. The surface right behind
what the sensor measured (an object's back, the near side of what it hides) is then a
small offset of an input the network sees, not an absolute depth it must reproduce
through the whole U-Net. On the 7-Scenes dev frames (validation only), where the real
hidden surface lies < 15 cm behind a cell's measured depth, "the measured depth + 8 cm"
is within 5 cm of it for 0.89 of the cell-layers against 0.41 for session 28's head's
depth (measured reference, 1 view; ``scripts/hidden_where_wrong.py``, docs/eval/session29).

A cell's anchor is the farthest valid depth among its input pixels (the depth the
training targets count "behind" from, :mod:`nova3r_ros.train.hidden_targets`). A cell with
no valid depth (a hole) takes the mean anchor of the nearest coarser block that has one
(a fixed pyramid of masked means, no host reads); a view with no valid depth at all takes
the view's scale (log ratio 0).

Shapes: the head's first input channel, depth / scale (V, height, width) with 0 at holes;
output (V, h, w) log(anchor / scale) on the head's output grid. Float32.

A *picked* mode (:attr:`~nova3r_ros.model.hidden_head.HiddenHeadConfig.neighbour_modes`)
takes its depth from the anchors of the (2r+1)^2 cells around it
(:func:`neighbour_log_ratios`, :data:`PICK_RADIUS`): the head predicts which one, plus a
small offset. On the dev frames, for 0.67 / 0.58 (1 / 4 views) of the real hidden
surfaces more than 40 cm behind the measured depth some cell within 4 measured a depth
within 5 cm of it (0.16-0.23 for a depth 25 cm off), where session 31's head's depth is
right for 0.34 / 0.32 (``scripts/hidden_where_wrong.py --radius 4``, docs/eval/session32).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_RATIO = 1e-3  # anchors are clamped to this fraction of the view's scale before the log
PICK_RADIUS = 4  # a picked mode chooses among the 9 x 9 cells around it


def anchor_log_ratio(norm_depth: torch.Tensor, cell_px: int) -> torch.Tensor:
    """Return log(anchor / scale) (V, h, w) of every output cell (module docstring)."""
    d = norm_depth.float()[:, None]
    a = F.max_pool2d(d, cell_px) if cell_px > 1 else d  # (V, 1, h, w), 0 where a hole
    h, w = a.shape[-2:]
    have = a > 0
    out = a
    s, n = a * have, have.float()
    for _ in range(max(1, math.ceil(math.log2(max(h, w))))):
        s = F.avg_pool2d(s, 2, ceil_mode=True)
        n = F.avg_pool2d(n, 2, ceil_mode=True)
        mean = F.interpolate(s / n.clamp_min(1e-12), size=(h, w), mode="nearest")
        ok = F.interpolate(n, size=(h, w), mode="nearest") > 0
        out = torch.where(have | ~ok, out, mean)
        have = have | ok
    out = torch.where(have, out, torch.ones_like(out))
    return torch.log(out.clamp_min(MIN_RATIO))[:, 0]


def neighbour_log_ratios(anchor: torch.Tensor, radius: int) -> torch.Tensor:
    """Return the anchors of every cell's neighbourhood, (V, (2r+1)^2, h, w).

    ``anchor``: (V, h, w) log(anchor / scale) from :func:`anchor_log_ratio`; cells past the
    image's border repeat the border's. Entry j of cell (y, x) is the anchor of cell
    (y + j // (2r+1) - r, x + j % (2r+1) - r).
    """
    k = 2 * radius + 1
    padded = F.pad(anchor[:, None], (radius,) * 4, mode="replicate")
    return F.unfold(padded, k).unflatten(2, anchor.shape[1:])


def picked_log_ratio(logits: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Return each picked mode's log depth ratio, the softmax-weighted neighbour anchor.

    ``logits``: (V, L, N, P, h, w) how much each of the P neighbours is the surface;
    ``neighbours``: (V, P, h, w) from :func:`neighbour_log_ratios`. Returns (V, L, N, h, w).
    A peaked softmax copies one neighbour's measured depth (the surface a hidden one
    continues, e.g. the counter around an object's silhouette); a flat one averages.
    """
    return (torch.softmax(logits.float(), dim=3) * neighbours[:, None, None]).sum(3)

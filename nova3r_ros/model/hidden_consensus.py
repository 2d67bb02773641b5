"""Cross-view consensus of the hidden-surface head: a surface one view predicts, the others judge.

The head (:mod:`~nova3r_ros.model.hidden_head`) sees one view at a time, so in a window
of V views each view adds its own guesses and their false positives add up: on the
7-Scenes dev frames the published cloud's completed precision falls with the number of
views (docs/eval/session33). But a surface that view i predicts behind what it measured
is, for any other view j in whose region it lies and which did not measure it either
(a hole of j, or behind j's measured surface), a surface j's head could have predicted
too. :func:`consensus` replaces each mode's confidence by a blend of its own and the
mean over those views of their support: the largest confidence among j's modes, in the
cells within ``radius`` of where the point projects (3 x 3), whose depth lies within
``max(tolerance_m, rel_tolerance * z)`` of the point's depth in j. A view that cannot
judge (the point is outside its region, in front of its measured depth or on it) does
not vote; with one view nothing changes.

Shapes: ``Ks`` (V, 3, 3) at the head's input size, ``z`` and ``prob`` (V, M, h, w) (the
modes of :func:`~nova3r_ros.model.hidden_head.head_layers`, optical z in metres),
``T_ref_cam`` (V, 4, 4) camera-to-reference (OpenCV optical), ``depth`` (V, H, W) the
input depth resampled to the head's input size (metres, 0 = no return). Torch, on the
inputs' device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nova3r_ros.model.hidden_head import HiddenHeadConfig, layer_points, point_cells
from nova3r_ros.model.measurement import REGION_Z_MIN, margin, region_depth

#: a judge's mode supports a point whose depth in the judge's camera is within this (m).
#: Chosen by the precision@5cm of the head's points at equal counts (those of its own
#: threshold 0.35), 4 views, 3 x 3 cells, tolerance 5 cm + 3 % of z / 3 cm / 2 cm
#: (docs/eval/session34): 7-Scenes dev, 24 windows (own: 0.793) 0.817 / 0.829 / 0.833;
#: synthetic validation rooms (seeds 1,500,000+, 16 windows, own 0.812) 0.835 / 0.852 /
#: 0.852, kitchens (own 0.880) 0.924 / 0.933 / 0.932.
TOLERANCE_M = 0.03
REL_TOLERANCE = 0.0  # plus this share of the depth
RADIUS = 1  # cells around the projected one that a judge looks in (1: 3 x 3)


def consensus(
    prob: torch.Tensor, z: torch.Tensor, Ks: torch.Tensor, T_ref_cam: torch.Tensor,
    depth: torch.Tensor, config: HiddenHeadConfig, weight: float = 1.0,
    tolerance_m: float = TOLERANCE_M, rel_tolerance: float = REL_TOLERANCE, radius: int = RADIUS,
) -> torch.Tensor:  # fmt: skip
    """Return the modes' confidences (V, M, h, w) blended with the other views' support.

    ``(1 - weight) * p + weight * (p + sum_j s_j) / (1 + n)`` over the n views j that can
    judge the mode's point (module docstring); ``weight`` 0 returns ``prob`` unchanged.
    """
    V, M, h, w = prob.shape
    if V < 2 or weight <= 0:
        return prob
    c = config.cell_px
    pts = layer_points(Ks, z, T_ref_cam, config).reshape(-1, 3)  # (N, 3), view-major
    src = torch.arange(V, device=prob.device).repeat_interleave(M * h * w)
    own = prob.reshape(-1).float()
    total, votes = own.clone(), torch.ones_like(own)
    d_max = F.max_pool2d(depth[:, None].float(), c)[:, 0].reshape(V, -1)  # 0: cell has no depth
    z_far = region_depth(depth.float())
    z_flat, p_flat = z.reshape(V, M, h * w).float(), prob.reshape(V, M, h * w).float()
    zv, cuv, cvv = point_cells(pts.expand(V, -1, -1), T_ref_cam, Ks, config)  # (V, N) each
    steps = torch.arange(-radius, radius + 1, device=prob.device)
    dy, dx = (a.reshape(-1) for a in torch.meshgrid(steps, steps, indexing="ij"))
    for j in range(V):
        zz, cu, cv = zv[j], cuv[j], cvv[j]
        inside = (zz > REGION_Z_MIN) & (zz <= z_far[j]) & (src != j)
        inside &= (cu >= 0) & (cv >= 0) & (cu < w) & (cv < h)
        dm = d_max[j][(cv.clamp(0, h - 1) * w + cu.clamp(0, w - 1))]
        judges = inside & ((dm <= 0) | (zz > dm + margin(dm)))
        tol = torch.clamp_min(rel_tolerance * zz, tolerance_m)
        y, x = cv[None] + dy[:, None], cu[None] + dx[:, None]  # (S, N): the cells around
        ok = (y >= 0) & (x >= 0) & (y < h) & (x < w)
        cell = y.clamp(0, h - 1) * w + x.clamp(0, w - 1)
        near = (z_flat[j][:, cell] - zz).abs() <= tol  # (M, S, N)
        best = torch.where(near & ok, p_flat[j][:, cell], 0.0)
        support = best.flatten(0, 1).amax(0)
        total += torch.where(judges, support, 0.0)
        votes += judges.float()
    fused = (1.0 - weight) * own + weight * total / votes
    return fused.view(V, M, h, w).to(prob.dtype)

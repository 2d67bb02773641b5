"""Coarse volumetric completion (Mix3R's coarse structure): a 3D U-Net over a levelled grid.

The pixel-aligned parts of the published cloud complete what lies along the views' rays
(a plane behind an occluder, a second surface behind a measured one). The backs and
sides of furniture and the floor around them lie off those rays. This network sees the
whole volume around the window: what the views measured, what they saw empty, and what
none of them saw, and says which unseen cells the complete surface passes through.

**Grid frame.** Origin at view 0's camera centre. With a gravity direction ("down", a
unit vector in view 0's optical frame: from a z-up world or the support plane,
:mod:`nova3r_ros.model.gravity`) its y axis points down, z is view 0's optical axis
levelled (projected onto the horizontal plane) and x = y x z (to the right); without one
(zeros) the grid frame is view 0's optical frame. Cells of ``cell_m`` cover
``[lower_m, lower_m + dims * cell_m)`` per axis (x, y, z).

**Input** per cell (:data:`IN_CHANNELS`): some view measured a point in it; its centre
projects onto a valid pixel of some view and lies more than ``free_margin_m`` in front of
that pixel's depth, and it holds no measured point (seen empty);
the measured points' mean offset from the cell's centre (3, in cells); the height of the
cell's centre (grid y over :data:`HEIGHT_SCALE_M`). Every view's depth goes in, placed by
its pose; each view's depth is first taken every ``step``-th pixel so that it is about
``input_width`` pixels wide (:func:`subsampled`).

**Output** per cell: the logit that the complete surface passes through it, and the
surface's mean offset from the cell's centre (3, in cells, within +-0.5).

**Completed points** (:func:`window_points`): cells of probability >= the threshold,
neither measured nor seen empty, at centre + offset, in view 0's optical frame
("reference"). At inference the grid is cut to the box of the measured and seen-empty
cells plus ``crop_margin_m`` (the network is convolutional; batch normalisation with
running statistics makes a cell's output independent of the cut): a room seen from one
side costs a fraction of the full grid.

Shapes: depth (V, H, W) metres (0 = no return), K (V, 3, 3), T_ref_cam (V, 4, 4)
camera-to-reference; batched variants carry a leading B. Torch on any device.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nova3r_ros.model.observed_fusion import camera_points
from nova3r_ros.model.voxel_spread import spread_points

IN_CHANNELS = 6
HEIGHT_SCALE_M = 3.0


@dataclass(frozen=True)
class VoxelConfig:
    """The grid and the network (module docstring). Stored with the weights."""

    cell_m: float = 0.1
    dims: tuple[int, int, int] = (80, 64, 80)
    lower_m: tuple[float, float, float] = (-4.0, -3.2, -0.5)
    channels: tuple[int, ...] = (16, 32, 64, 96)
    free_margin_m: float = 0.05  # seen empty: the centre this far in front of the depth
    input_width: int = 160
    crop_margin_m: float = 1.0

    def __post_init__(self) -> None:
        """Reject values the grid or the network cannot use (ValueError)."""
        if not 0.01 <= self.cell_m <= 1.0:
            raise ValueError(f"VoxelConfig.cell_m must be in [0.01, 1] m, got {self.cell_m}")
        if not 2 <= len(self.channels) <= 5 or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels
        ):
            raise ValueError("VoxelConfig.channels must be 2 to 5 positive integers")
        unit = self.downsampling
        if len(self.dims) != 3 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < unit or d % unit or d > 512
            for d in self.dims
        ):
            raise ValueError(f"VoxelConfig.dims must be 3 multiples of {unit} up to 512")
        if len(self.lower_m) != 3 or not all(math.isfinite(x) for x in self.lower_m):
            raise ValueError("VoxelConfig.lower_m must be 3 finite numbers")
        for name, low, high in (("input_width", 8, 4096),):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"VoxelConfig.{name} must be an integer in [{low}, {high}]")
        for name in ("free_margin_m", "crop_margin_m"):
            if not 0.0 <= getattr(self, name) <= 10.0:
                raise ValueError(f"VoxelConfig.{name} must be in [0, 10] m")

    @property
    def downsampling(self) -> int:
        """Return the factor by which the network downsamples (a cut grid is a multiple)."""
        return 2 ** (len(self.channels) - 1)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Two 3x3x3 convolutions with batch normalisation and GELU (the first with ``stride``)."""
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm3d(cout),
        nn.GELU(),
        nn.Conv3d(cout, cout, 3, 1, 1, bias=False),
        nn.BatchNorm3d(cout),
        nn.GELU(),
    )


class VoxelHead(nn.Module):
    """3D U-Net: (B, 6, X, Y, Z) -> occupancy logits (B, X, Y, Z), offsets (B, 3, X, Y, Z).

    ``min_probability``: the threshold stored with the weights (chosen on validation).
    """

    def __init__(self, config: VoxelConfig | None = None):
        super().__init__()
        self.config = config or VoxelConfig()
        ch = self.config.channels
        pairs = list(itertools.pairwise(ch))
        self.encoder = nn.ModuleList(
            [_block(IN_CHANNELS, ch[0])] + [_block(a, b, 2) for a, b in pairs]
        )
        self.decoder = nn.ModuleList([_block(b + a, a) for a, b in pairs])
        self.out = nn.Conv3d(ch[0], 4, 1)
        self.min_probability = 0.7

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the occupancy logits and offsets of input grids (class docstring)."""
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        y = skips.pop()
        for dec in reversed(self.decoder):
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[2:], mode="trilinear", align_corners=False)
            y = dec(torch.cat([y, skip], 1))
        o = self.out(y)
        return o[:, 0], 0.5 * torch.tanh(o[:, 1:])


def grid_rotation(down: torch.Tensor) -> torch.Tensor:
    """R (..., 3, 3) with p_grid = R p_ref: rows are the grid's axes in the reference frame.

    ``down`` (..., 3) in view 0's optical frame; zeros give the identity (the optical
    frame itself). Looking within 26 degrees of straight down (or up), the grid's z is the
    image's up (down) levelled instead of the optical axis.
    """
    down = down.float()
    n = down.norm(dim=-1, keepdim=True)
    y = down / n.clamp_min(1e-9)
    forward = torch.zeros_like(down)  # the optical axis; looking nearly straight up or
    steep = y[..., 2:].abs() > 0.9  # down, the image's up (-y) levelled instead
    forward[..., 2:] = torch.where(steep, 0.0, 1.0)
    forward[..., 1:2] = torch.where(steep, -torch.sign(y[..., 2:]), 0.0)
    z = forward - (forward * y).sum(-1, keepdim=True) * y
    zn = z.norm(dim=-1, keepdim=True)
    z = z / zn.clamp_min(1e-9)
    x = torch.linalg.cross(y, z, dim=-1)
    R = torch.stack([x, y, z], dim=-2)
    ok = ((n > 0.5) & (zn > 1e-3))[..., None]
    eye = torch.eye(3, device=down.device).expand_as(R)
    return torch.where(ok, R, eye)


def grid_poses(T_ref_cam: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """Camera-to-grid poses (..., V, 4, 4) of camera-to-reference poses and ``down`` (..., 3)."""
    T = T_ref_cam.float().clone()
    R = grid_rotation(down)[..., None, :, :]
    T[..., :3, :] = R @ T[..., :3, :]
    return T


def subsampled(depth: torch.Tensor, K: torch.Tensor, width: int) -> tuple[torch.Tensor, ...]:
    """Every ``step``-th pixel of ``depth`` (..., H, W) from ``step // 2``, and its K.

    ``step`` = round(W / ``width``) (at least 1). Pixel j of the result is pixel
    ``j * step + step // 2`` of the input (integer pixel centres, as
    :func:`~nova3r_ros.model.observed_fusion.camera_points`), so f / step and
    (c - step // 2) / step.
    """
    step = max(1, round(depth.shape[-1] / width))
    d = depth[..., step // 2 :: step, step // 2 :: step]
    Ks = K.float().clone()
    Ks[..., :2, :] /= step
    Ks[..., :2, 2] -= (step // 2) / step
    return d, Ks


def cell_of(p: torch.Tensor, cfg: VoxelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat cell index (N,) of grid-frame points (N, 3), and whether they are inside."""
    lower = torch.tensor(cfg.lower_m, device=p.device)
    dims = torch.tensor(cfg.dims, device=p.device)
    c = torch.floor((p - lower) / cfg.cell_m).long()
    inside = ((c >= 0) & (c < dims)).all(-1)
    c = torch.minimum(c.clamp_min(0), dims - 1)
    return (c[:, 0] * cfg.dims[1] + c[:, 1]) * cfg.dims[2] + c[:, 2], inside


def _scatter(p: torch.Tensor, b: torch.Tensor, B: int, cfg: VoxelConfig):
    """Per cell of B grids: point count (B, n) and mean offset from the centre (B, 3, n)."""
    n = cfg.dims[0] * cfg.dims[1] * cfg.dims[2]
    idx, inside = cell_of(p, cfg)
    idx, p, b = idx[inside], p[inside], b[inside]
    flat = b * n + idx
    count = torch.zeros(B * n, device=p.device).index_add_(0, flat, torch.ones_like(p[:, 0]))
    _, Y, Z = cfg.dims
    c = torch.stack([idx // (Y * Z), (idx // Z) % Y, idx % Z], -1).float()
    centre = torch.tensor(cfg.lower_m, device=p.device) + (c + 0.5) * cfg.cell_m
    off = torch.zeros(B * n, 3, device=p.device).index_add_(0, flat, (p - centre) / cfg.cell_m)
    off = off / count.clamp_min(1)[:, None]
    return count.view(B, n), off.view(B, n, 3).transpose(1, 2)


def _axis(cfg: VoxelConfig, axis: int, device) -> torch.Tensor:
    """Return the cell centres' coordinates (n,) along one grid axis (0 x, 1 y, 2 z)."""
    n = cfg.dims[axis]
    return cfg.lower_m[axis] + (torch.arange(n, device=device, dtype=torch.float32) + 0.5) * (
        cfg.cell_m
    )


def _seen_empty(depth: torch.Tensor, K: torch.Tensor, T_grid_cam: torch.Tensor,
                cfg: VoxelConfig) -> torch.Tensor:  # fmt: skip
    """(B, X*Y*Z) whether a cell's centre lies in front of what some view measured.

    A view sees a cell empty where the centre projects onto one of its valid pixels (the
    nearest) and lies more than ``free_margin_m`` in front of that pixel's depth (and at
    least 0.1 m from the camera). Shapes as :func:`grid_inputs`.
    """
    B, V, H, W = depth.shape
    dev = depth.device
    xs, ys, zs = (_axis(cfg, a, dev) for a in range(3))
    centres = torch.stack(torch.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3)
    R, t = T_grid_cam[..., :3, :3].float(), T_grid_cam[..., :3, 3].float()
    free = torch.zeros(B, centres.shape[0], dtype=torch.bool, device=dev)
    flat = depth.reshape(B, V, H * W)
    for v in range(V):  # one view at a time: B x cells points, not B x V x cells
        c = torch.einsum("bji,bnj->bni", R[:, v], centres[None] - t[:, v, None])  # R^T (p - t)
        z = c[..., 2]
        zs_ = z.clamp_min(1e-6)
        Kv = K[:, v].float()
        u = torch.round(c[..., 0] / zs_ * Kv[:, 0, 0, None] + Kv[:, 0, 2, None])
        w = torch.round(c[..., 1] / zs_ * Kv[:, 1, 1, None] + Kv[:, 1, 2, None])
        inside = (z > 0.1) & (u >= 0) & (u < W) & (w >= 0) & (w < H)
        idx = (w.clamp(0, H - 1) * W + u.clamp(0, W - 1)).long()
        d = torch.gather(flat[:, v], 1, idx)
        free |= inside & (d > 0) & (z < d - cfg.free_margin_m)
    return free


def grid_inputs(depth: torch.Tensor, K: torch.Tensor, T_grid_cam: torch.Tensor,
                cfg: VoxelConfig) -> torch.Tensor:  # fmt: skip
    """(B, 6, X, Y, Z) network input of B windows (module docstring).

    ``depth`` (B, V, H, W) as the network takes it (:func:`subsampled`), ``K`` (B, V, 3, 3)
    at that size, ``T_grid_cam`` (B, V, 4, 4) camera-to-grid (:func:`grid_poses`).
    """
    B, V, H, W = depth.shape
    depth = torch.nan_to_num(depth.float(), nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0)
    cam = camera_points(depth.reshape(B * V, H, W), K.reshape(B * V, 3, 3)).view(B, V, H, W, 3)
    R, t = T_grid_cam[..., :3, :3].float(), T_grid_cam[..., :3, 3].float()
    pts = torch.einsum("bvij,bvhwj->bvhwi", R, cam) + t[:, :, None, None, :]
    valid = depth > 0
    bi = torch.arange(B, device=depth.device)[:, None, None, None].expand_as(depth)[valid]
    count, off = _scatter(pts[valid], bi, B, cfg)
    free = _seen_empty(depth, K, T_grid_cam, cfg)
    occ = (count > 0).float()
    free = (free & (count == 0)).float()
    X, Y, Z = cfg.dims
    y = _axis(cfg, 1, depth.device)
    height = (y / HEIGHT_SCALE_M).view(1, 1, 1, Y, 1).expand(B, 1, X, Y, Z)
    x = torch.cat([occ[:, None], free[:, None], off * occ[:, None]], 1).view(B, 5, X, Y, Z)
    return torch.cat([x, height], 1)


def grid_targets(points_grid: torch.Tensor, cfg: VoxelConfig) -> tuple[torch.Tensor, ...]:
    """Occupancy (B, X, Y, Z) and offsets (B, 3, X, Y, Z) of surface points (B, M, 3)."""
    B, M, _ = points_grid.shape
    bi = torch.arange(B, device=points_grid.device)[:, None].expand(B, M).reshape(-1)
    count, off = _scatter(points_grid.reshape(-1, 3).float(), bi, B, cfg)
    return (count > 0).float().view(B, *cfg.dims), off.view(B, 3, *cfg.dims)


def voxel_loss(head: VoxelHead, x: torch.Tensor, occ: torch.Tensor, off: torch.Tensor,
               surface_weight: float = 10.0) -> torch.Tensor:  # fmt: skip
    """Occupancy BCE over every cell (surface cells weighted) + offset L1 where occupied."""
    logit, pred = head(x)
    w = 1.0 + (surface_weight - 1.0) * occ  # surface cells are ~2 % of a grid
    bce = (F.binary_cross_entropy_with_logits(logit.float(), occ, reduction="none") * w).mean()
    l1 = ((pred.float() - off).abs().sum(1) * occ).sum() / occ.sum().clamp_min(1)
    return bce + l1


def crop_box(x: torch.Tensor, cfg: VoxelConfig) -> tuple[slice, slice, slice]:
    """Slices (x, y, z) of the grid ``x`` (6, X, Y, Z) the network needs (module docstring).

    The box of the measured and seen-empty cells grown by ``crop_margin_m`` on every side,
    its start and size then multiples of the network's downsampling (grown inside the
    grid), so that every level of the network sees the cells it sees in the whole grid.
    """
    seen = (x[0] > 0) | (x[1] > 0)
    unit, margin = cfg.downsampling, math.ceil(cfg.crop_margin_m / cfg.cell_m)
    if not bool(seen.any()):
        return (slice(0, unit),) * 3
    out = []
    for axis, n in enumerate(cfg.dims):
        other = tuple(a for a in range(3) if a != axis)
        hit = seen.any(dim=other[1]).any(dim=other[0]).nonzero()[:, 0]
        lo = max(0, int(hit.min()) - margin) // unit * unit
        hi = min(n, int(hit.max()) + 1 + margin)
        size = min(n, math.ceil((hi - lo) / unit) * unit)
        lo = min(lo, n - size)
        out.append(slice(lo, lo + size))
    return tuple(out)


@torch.no_grad()
def window_grid(
    head: VoxelHead,
    depth: torch.Tensor,
    K: torch.Tensor,
    T_ref_cam: torch.Tensor,
    down: torch.Tensor,
) -> tuple[torch.Tensor, tuple, torch.Tensor, torch.Tensor]:
    """Run the head over one window: its grid, the crop it sees, and its answer there.

    Inputs as :func:`window_points`. Returns the grid inputs ``x`` (6, X, Y, Z) in the
    gravity-levelled grid frame (:func:`grid_rotation`), the crop ``box`` (slices, as
    :func:`crop_box`), and over the crop the occupancy probability (X', Y', Z') and the
    predicted mean offsets (3, X', Y', Z') in cells, on the head's device.
    """
    cfg = head.config
    dev = next(head.parameters()).device
    d, Ks = subsampled(depth.float().to(dev), K.to(dev), cfg.input_width)
    T_grid = grid_poses(T_ref_cam.to(dev), down.to(dev))
    x = grid_inputs(d[None], Ks[None], T_grid[None], cfg)[0]
    box = crop_box(x, cfg)
    logit, off = head(x[(slice(None), *box)][None])
    return x, box, torch.sigmoid(logit[0].float()), off[0].float()


@torch.no_grad()
def window_points(head: VoxelHead, depth: torch.Tensor, K: torch.Tensor,
                  T_ref_cam: torch.Tensor, down: torch.Tensor,
                  min_probability: float,
                  points_per_cell: int = 1) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Completed points (N, 3) in the reference frame and their probabilities (N,).

    ``depth`` (V, H, W) at full size, ``K`` (V, 3, 3), ``T_ref_cam`` (V, 4, 4), ``down``
    (3,) in view 0's optical frame (zeros: unknown). Cells of probability >=
    ``min_probability``, neither measured nor seen empty (module docstring); each gives
    ``points_per_cell`` points (1, 5 or 9) spread along the surface of its neighbourhood
    of completed and measured cells (:func:`~nova3r_ros.model.voxel_spread.spread_points`).
    """
    cfg = head.config
    dev = next(head.parameters()).device
    x, box, prob, off = window_grid(head, depth, K, T_ref_cam, down)
    xc = x[(slice(None), *box)]
    keep = (prob >= min_probability) & (xc[0] == 0) & (xc[1] == 0)
    measured = xc[0] > 0
    offset = torch.where(measured[None], xc[2:5], off)  # measured: their mean
    pts, row = spread_points(keep | measured, offset.permute(1, 2, 3, 0), keep.nonzero(),
                             points_per_cell)  # fmt: skip
    start = torch.tensor([s.start for s in box], device=dev, dtype=torch.float32)
    lower = torch.tensor(cfg.lower_m, device=dev)
    pts_grid = lower + (pts + start) * cfg.cell_m
    R = grid_rotation(down.to(dev))
    return pts_grid @ R, prob[keep][row]

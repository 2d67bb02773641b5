"""Open space: large depth holes that reach the image border, taken as free to the region's end.

A depth camera returns nothing where a surface is dark in infrared, shiny or grazing
(a dropout: something is there) and where nothing is within its range (open space:
through a door, past a table's edge into an empty background, the sky). A dropout on a
real surface is bounded: on the 7-Scenes kitchen frames (the black counter top, the
depth's own border band) no border-reaching hole covers 10 % of a frame, and measured
surfaces lie around them. A hole that reaches the image border and covers a large
share of the frame has nothing around it to continue: completing a surface there is
extrapolation into what is most likely empty. :func:`open_pixels` marks such holes;
:func:`in_open_space` says which completed points lie along their rays in front of the
view's region end, so that the published cloud does not fill them (the way it does not
fill a view's seen free space, :mod:`nova3r_ros.model.measurement`).

Shapes: ``depth`` (V, H, W) metres, 0 = no return; ``K`` (V, 3, 3) at (H, W);
``T_frame_cam`` (V, 4, 4) camera-to-frame, OpenCV optical; ``points`` (N, 3) in that
frame. The components are found on a grid of ``BLOCK_PX``-pixel blocks (a block is a
hole if every pixel of it is) with SciPy on the host, for the views whose hole blocks
could reach the share (their count is read first; none on most real frames).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nova3r_ros.model.measurement import MIN_Z, nearest_pixel

BLOCK_PX = 4


def open_pixels(depth: torch.Tensor, min_share: float) -> torch.Tensor:
    """(V, H, W) bool: holes of a border-reaching component of at least ``min_share``.

    A component is 4-connected no-return blocks of :data:`BLOCK_PX` pixels; its share is
    its blocks' count over the view's blocks. ``min_share`` <= 0 or > 1 marks nothing.
    """
    from scipy import ndimage

    v, h, w = depth.shape
    hole = ~(depth > 0)
    if not 0 < min_share <= 1 or v == 0:
        return torch.zeros_like(hole)
    hb, wb = -(-h // BLOCK_PX), -(-w // BLOCK_PX)
    padded = F.pad(hole.float()[:, None], (0, wb * BLOCK_PX - w, 0, hb * BLOCK_PX - h), value=1)
    blocks = -F.max_pool2d(-padded, BLOCK_PX)[:, 0] > 0.5
    need = min_share * hb * wb
    candidates = (blocks.flatten(1).sum(1) >= need).tolist()  # views that could hold one
    if not any(candidates):
        return torch.zeros_like(hole)
    blocks = blocks.cpu().numpy()
    out = np.zeros_like(blocks)
    for i, b in enumerate(blocks):
        if not candidates[i]:
            continue
        labels, n = ndimage.label(b)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        big = np.zeros(n + 1, bool)
        big[border] = sizes[border] >= need
        big[0] = False
        out[i] = big[labels]
    if not out.any():
        return torch.zeros_like(hole)
    full = torch.from_numpy(out).to(depth.device)[:, :, None, :, None]
    full = full.expand(v, hb, BLOCK_PX, wb, BLOCK_PX).reshape(v, hb * BLOCK_PX, wb * BLOCK_PX)
    return full[:, :h, :w] & hole


def in_open_space(
    points: torch.Tensor,
    open_px: torch.Tensor,
    K: torch.Tensor,
    T_frame_cam: torch.Tensor,
    z_far: torch.Tensor,
) -> torch.Tensor:
    """(N,) bool: the points some view sees through an open pixel in front of its region end.

    ``open_px`` from :func:`open_pixels`; ``z_far`` (V,) each view's region end (m).
    """
    n = points.shape[0]
    out = torch.zeros(n, dtype=torch.bool, device=points.device)
    if n == 0 or not bool(open_px.any()):
        return out
    v, h, w = open_px.shape
    T_cam = torch.linalg.inv(T_frame_cam.float().to(points.device))
    K = K.float().to(points.device)
    opx = open_px.to(points.device)
    for i in range(v):
        p = points.float() @ T_cam[i, :3, :3].T + T_cam[i, :3, 3]
        z = p[:, 2]
        u, r = (c.long() for c in nearest_pixel(p, K[i]))  # the pixel measure() reads
        inside = (z > MIN_Z) & (z < z_far[i]) & (u >= 0) & (u < w) & (r >= 0) & (r < h)
        hit = torch.zeros_like(inside)
        hit[inside] = opx[i, r[inside], u[inside]]
        out |= hit
    return out

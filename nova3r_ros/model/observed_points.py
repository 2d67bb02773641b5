"""The observed part of a window: its depth pixels as points, normals, nearest neighbours.

:func:`observed_cloud` back-projects every valid depth pixel of the placed views (their
measurements of one surface optionally fused first, :mod:`~nova3r_ros.model.
observed_fusion`) and averages them per cube (the published cloud's observed points,
:mod:`~nova3r_ros.model.published_cloud`); :func:`nearest` is the k-nearest-neighbour
lookup the published cloud's parts share (SciPy's KD-tree on the CPU, blocked ``cdist``
on a GPU).

Frames: points in view 0's optical frame ("reference"), metres; ``T_ref_cam`` (V, 4, 4)
places each view there; ``depth`` (V, H, W) metres, 0 = no return; ``K`` (V, 3, 3);
``images`` (V, H, W, 3) uint8 registered to ``depth``. Torch on the inputs' device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nova3r_ros.model.depth_consistency import voxel_codes
from nova3r_ros.model.measurement import margin
from nova3r_ros.model.observed_fusion import camera_points, fused_points


def observed_cloud(
    depth: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor, images: torch.Tensor,
    spacing: float, with_normals: bool = False, fuse_sigmas: float = 0.0,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Every valid pixel back-projected, averaged per ``spacing`` cube: (M, 3), colours (M, 3).

    With ``fuse_sigmas`` > 0 and several views, each pixel's point is first averaged with
    the other views' measurements of the same surface
    (:func:`~nova3r_ros.model.observed_fusion.fused_points`). With ``with_normals``, also
    (M, 3) unit surface normals (reference frame) averaged per cube from the depth maps'
    central differences; zero where no pixel of the cube has both neighbours on its
    surface (depth edges, holes).
    """
    dev = depth.device
    T = T_ref_cam.float()
    pts = fused_points(depth, K, T, fuse_sigmas)  # (V, H, W, 3), reference frame
    valid = depth > 0
    normals = _pixel_normals(camera_points(depth, K), depth, T) if with_normals else None
    pts, cols = pts[valid], images[valid].float()
    if pts.shape[0] == 0:
        return (pts, cols.to(torch.uint8)) + ((pts.clone(),) if with_normals else ())
    _, inverse = torch.unique(voxel_codes(pts, spacing), return_inverse=True)
    n = int(inverse.max()) + 1
    count = torch.zeros(n, device=dev).index_add_(
        0, inverse, torch.ones_like(inverse, dtype=torch.float32)
    )
    mean = torch.zeros(n, 3, device=dev).index_add_(0, inverse, pts) / count[:, None]
    rgb = torch.zeros(n, 3, device=dev).index_add_(0, inverse, cols) / count[:, None]
    out = (mean, rgb.round().clamp(0, 255).to(torch.uint8))
    if normals is None:
        return out
    summed = torch.zeros(n, 3, device=dev).index_add_(0, inverse, normals[valid])
    return (*out, summed / summed.norm(dim=1, keepdim=True).clamp_min(1e-9))


def _pixel_normals(cam: torch.Tensor, depth: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """(V, H, W, 3) unit normals in the reference frame from central differences of ``cam``.

    Zero at pixels whose four neighbours are not all valid and within
    :func:`~nova3r_ros.model.measurement.margin` of the pixel's depth.
    """
    d = F.pad(depth[:, None], (1, 1, 1, 1))[:, 0]
    c = F.pad(cam.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1)
    du = c[:, 1:-1, 2:] - c[:, 1:-1, :-2]
    dv = c[:, 2:, 1:-1] - c[:, :-2, 1:-1]
    ok = depth > 0
    m = margin(depth)
    for nb in (d[:, 1:-1, 2:], d[:, 1:-1, :-2], d[:, 2:, 1:-1], d[:, :-2, 1:-1]):
        ok &= (nb > 0) & ((nb - depth).abs() <= m)
    n = torch.linalg.cross(du, dv, dim=-1)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12) * ok[..., None]
    return torch.einsum("vij,vhwj->vhwi", T[:, :3, :3], n)


def nearest(
    query: torch.Tensor, ref: torch.Tensor, k: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices (Q, k) of the k nearest rows of ``ref`` for each row of ``query``."""
    if ref.shape[0] == 0 or query.shape[0] == 0:
        shape = (query.shape[0], k)
        return (torch.full(shape, math.inf, device=query.device),
                torch.zeros(shape, dtype=torch.long, device=query.device))  # fmt: skip
    k = min(k, ref.shape[0])
    if query.device.type == "cpu":
        from scipy.spatial import cKDTree

        d, i = cKDTree(ref.double().numpy()).query(query.double().numpy(), k=k, workers=-1)
        d, i = torch.from_numpy(d).float().reshape(-1, k), torch.from_numpy(i).reshape(-1, k)
        return d, i.long()
    ds, idx = [], []
    for s in range(0, query.shape[0], 4096):
        dist = torch.cdist(query[s : s + 4096].float(), ref.float())
        top = dist.topk(k, dim=1, largest=False)
        ds.append(top.values)
        idx.append(top.indices)
    return torch.cat(ds), torch.cat(idx)

"""Make decoded points agree with the input depth: snap to observed surfaces and planes.

The flow decoder places points on observed surfaces only to within its learned
field's precision (millimetres to a few centimetres). Where a view measured the
depth along a point's ray, that measurement is better: a point within ``snap_m``
of the observed surface (along the ray, in the view where it is closest) is moved
along its ray onto it; a point more than ``free_m`` in front of the observed
surface of any view lies in space that view saw as empty and is dropped. Points no
depth pixel sees (behind surfaces, outside every image) are left as the network
made them: that is the completion. Optionally, the dominant plane of the observed
depth (a table top, a floor: RANSAC over the back-projected pixels) is extended
beyond the images: a point that snapped to nothing and lies within ``plane_m`` of
that plane moves onto it, since a support surface continues where no camera looks.

Torch on the points' device (the model's GPU at inference; no copies back).
Frames: ``points`` (N, 3) and the views' ``T_frame_cam`` (V, 4, 4, camera-to-frame,
OpenCV optical) in one frame, metres; ``depth`` (V, H, W) metres with 0 = no
return; ``K`` (V, 3, 3) at (H, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_Z = 1e-3  # metres: points closer to a camera than this are not projected into it


@dataclass(frozen=True)
class DepthConsistency:
    """Thresholds of :func:`apply_depth_consistency` (metres; 0 disables that step).

    Attributes:
        snap_m: points within this distance of an observed surface move onto it.
        free_m: points this far in front of an observed surface are dropped.
        edge_m: depth pixels whose 2x2 neighbourhood spans more than this are depth
            edges; points that project there are neither snapped nor dropped.
        plane_m: points that snapped to nothing and lie this close to the dominant
            observed plane move onto it.
        plane_inlier_m: RANSAC inlier distance of the plane fit.
        plane_min_share: the plane is used only if at least this share of the observed
            pixels lies on it.

    """

    snap_m: float = 0.03
    free_m: float = 0.02
    edge_m: float = 0.02
    plane_m: float = 0.02
    plane_inlier_m: float = 0.005
    plane_min_share: float = 0.2

    def __post_init__(self) -> None:
        for name in ("snap_m", "free_m", "edge_m", "plane_m", "plane_inlier_m", "plane_min_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"DepthConsistency.{name} must be a finite number >= 0")


def _project(points: torch.Tensor, K: torch.Tensor, T_frame_cam: torch.Tensor):
    """Points (N, 3) into every view: camera coordinates (V, N, 3), pixel u, v (V, N)."""
    R, t = T_frame_cam[:, :3, :3], T_frame_cam[:, :3, 3]
    pc = torch.einsum("vji,vnj->vni", R, points[None] - t[:, None])  # R^T (p - t)
    z = pc[..., 2]
    z_safe = torch.where(z > MIN_Z, z, torch.ones_like(z))
    u = K[:, 0, 0, None] * pc[..., 0] / z_safe + K[:, 0, 2, None]
    v = K[:, 1, 1, None] * pc[..., 1] / z_safe + K[:, 1, 2, None]
    return pc, u, v


def _bilinear_depth(depth: torch.Tensor, u: torch.Tensor, v: torch.Tensor, edge_m: float):
    """Depth (V, N) at sub-pixel (u, v) where all four neighbours are valid, not an edge.

    Returns (depth, ok); entries where ``ok`` is False hold 0.
    """
    V, H, W = depth.shape
    u0, v0 = torch.floor(u), torch.floor(v)
    inside = (u0 >= 0) & (v0 >= 0) & (u0 < W - 1) & (v0 < H - 1)
    u0 = u0.clamp(0, W - 2)
    v0 = v0.clamp(0, H - 2)
    flat = depth.reshape(V, H * W)
    base = (v0 * W + u0).long()
    quad = torch.stack([torch.gather(flat, 1, base + off) for off in (0, 1, W, W + 1)])
    ok = inside & (quad > 0).all(0)
    if edge_m > 0:
        ok &= (quad.amax(0) - quad.amin(0)) <= edge_m
    fu, fv = u - u0, v - v0
    d = (quad[0] * (1 - fu) + quad[1] * fu) * (1 - fv) + (quad[2] * (1 - fu) + quad[3] * fu) * fv
    return torch.where(ok, d, torch.zeros_like(d)), ok


def observed_points(
    depth: torch.Tensor, K: torch.Tensor, T_frame_cam: torch.Tensor, max_points: int = 20_000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """Every valid depth pixel of every view back-projected into the frame: (M, 3).

    At most ``max_points`` rows (a random subset drawn with ``generator``).
    """
    V, H, W = depth.shape
    vv, uu = torch.meshgrid(torch.arange(H, device=depth.device, dtype=depth.dtype),
                            torch.arange(W, device=depth.device, dtype=depth.dtype),
                            indexing="ij")  # fmt: skip
    x = (uu[None] - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None] * depth
    y = (vv[None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None] * depth
    cam = torch.stack([x, y, depth], dim=-1).reshape(V, H * W, 3)
    world = torch.einsum("vij,vnj->vni", T_frame_cam[:, :3, :3], cam) + T_frame_cam[:, None, :3, 3]
    pts = world[(depth > 0).reshape(V, H * W)]
    if pts.shape[0] > max_points:
        pick = torch.randint(pts.shape[0], (max_points,), device=pts.device, generator=generator)
        pts = pts[pick]
    return pts


def dominant_plane(
    points: torch.Tensor, inlier_m: float, min_share: float, iterations: int = 256,
    generator: torch.Generator | None = None,
) -> torch.Tensor | None:  # fmt: skip
    """RANSAC plane (a, b, c, d) with a unit normal of (M, 3) points; None if too weak.

    Refined by least squares over the inliers of the best hypothesis; returned only if
    at least ``min_share`` of the points lie within ``inlier_m`` of it.
    """
    if points.shape[0] < 3:
        return None
    n = points.shape[0]
    idx = torch.randint(n, (iterations, 3), device=points.device, generator=generator)
    tri = points[idx]
    normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = normal.norm(dim=1)
    good = norm > 1e-9
    if not bool(good.any()):
        return None
    normal = normal[good] / norm[good, None]
    offset = -(normal * tri[good, 0]).sum(1)
    counts = ((points @ normal.T + offset).abs() < inlier_m).sum(0)
    best = int(torch.argmax(counts))
    inliers = (points @ normal[best] + offset[best]).abs() < inlier_m
    if float(inliers.float().mean()) < min_share:
        return None
    on = points[inliers]
    centre = on.mean(0)
    n = torch.linalg.svd(on - centre, full_matrices=False)[2][-1]
    return torch.cat([n, -(n @ centre)[None]])


def apply_depth_consistency(
    points: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    T_frame_cam: torch.Tensor,
    config: DepthConsistency | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Snap points onto the observed depth and its dominant plane; drop seen-free floaters.

    Args:
        points: (N, 3) decoded points in the frame of ``T_frame_cam``.
        depth: (V, H, W) depth in metres (0 = invalid).
        K: (V, 3, 3) intrinsics at (H, W).
        T_frame_cam: (V, 4, 4) camera-to-frame poses.
        config: thresholds (see :class:`DepthConsistency`).
        generator: RNG of the plane fit (None = torch's default).

    Returns:
        (points (M, 3), keep (N,) bool: which input rows survive, snapped (M,) bool:
        which surviving rows now lie on an observed surface).

    """
    config = config or DepthConsistency()
    p = points.float()
    depth, K, T = depth.float(), K.float(), T_frame_cam.float()
    pc, u, v = _project(p, K, T)
    d, ok = _bilinear_depth(depth, u, v, config.edge_m)
    z = pc[..., 2]
    ok &= z > MIN_Z
    sdf = torch.where(ok, d - z, torch.full_like(z, math.inf))  # > 0: in front of the surface
    seen_free = (ok & (sdf > config.free_m)).any(0)
    if config.free_m <= 0:
        seen_free = torch.zeros_like(seen_free)
    best_abs, best = sdf.abs().min(0)
    on_surface = pc * (d / torch.where(ok, z, torch.ones_like(z)))[..., None]  # same ray
    on_surface = torch.einsum("vij,vnj->vni", T[:, :3, :3], on_surface) + T[:, None, :3, 3]
    target = torch.gather(on_surface, 0, best[None, :, None].expand(1, -1, 3))[0]
    snapped = best_abs < config.snap_m
    out = torch.where(snapped[:, None], target, p)
    if config.plane_m > 0:
        obs = observed_points(depth, K, T, generator=generator)
        plane = dominant_plane(obs, config.plane_inlier_m, config.plane_min_share,
                               generator=generator)  # fmt: skip
        if plane is not None:
            dist = out @ plane[:3] + plane[3]
            onto = ~snapped & (dist.abs() < config.plane_m)
            out = torch.where(onto[:, None], out - dist[:, None] * plane[:3], out)
    keep = ~seen_free | snapped
    return out[keep], keep, snapped[keep]

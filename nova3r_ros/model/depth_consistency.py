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

from nova3r_ros.core.checks import nonnegative_fields
from nova3r_ros.model.cuda_graphs import GraphCache

MIN_Z = 1e-3  # metres: points closer to a camera than this are not projected into it


@dataclass(frozen=True)
class DepthConsistency:
    """Thresholds of :func:`apply_depth_consistency` (metres; 0 disables that step).

    Attributes:
        snap_m: points within this distance of an observed surface move onto it.
        free_m: points this far in front of an observed surface are dropped, unless they
            were snapped (so a value below ``snap_m`` acts as ``snap_m``).
        edge_m: depth pixels whose 2x2 neighbourhood spans more than this are depth
            edges; points that project there are neither snapped nor dropped.
        plane_m: points that snapped to nothing and lie this close to the dominant
            observed plane move onto it.
        plane_inlier_m: RANSAC inlier distance of the plane fit.
        plane_min_share: the plane is used only if at least this share of the observed
            pixels lies on it.
        dedupe_m: keep one point per cube of this edge (snapping brings points that
            lay at different depths along nearly one ray together).

    """

    snap_m: float = 0.03
    free_m: float = 0.03
    edge_m: float = 0.02
    plane_m: float = 0.04
    plane_inlier_m: float = 0.005
    plane_min_share: float = 0.2
    dedupe_m: float = 0.003

    def __post_init__(self) -> None:
        nonnegative_fields(self, ("snap_m", "free_m", "edge_m", "plane_m", "plane_inlier_m",
                                  "plane_min_share", "dedupe_m"), "DepthConsistency")  # fmt: skip


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
    depth: torch.Tensor, K: torch.Tensor, T_frame_cam: torch.Tensor, samples: int = 20_000,
    generator: torch.Generator | None = None, pick: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Back-project ``samples`` random pixels of all views into the frame.

    Returns (points (samples, 3), valid (samples,) bool: the pixel has depth). Drawn
    with replacement and without a device sync (invalid pixels are masked, not removed).
    ``pick``: the (samples,) flat pixel indices into (V, H, W), drawn by the caller.
    """
    V, H, W = depth.shape
    if pick is None:
        pick = torch.randint(V * H * W, (samples,), device=depth.device, generator=generator)
    view, pix = pick // (H * W), pick % (H * W)
    v, u = (pix // W).to(depth.dtype), (pix % W).to(depth.dtype)
    z = depth.reshape(-1)[pick]
    Kv, Tv = K[view], T_frame_cam[view]
    cam = torch.stack([(u - Kv[:, 0, 2]) / Kv[:, 0, 0] * z, (v - Kv[:, 1, 2]) / Kv[:, 1, 1] * z,
                       z], dim=-1)  # fmt: skip
    return torch.einsum("nij,nj->ni", Tv[:, :3, :3], cam) + Tv[:, :3, 3], z > 0


def dominant_plane(
    points: torch.Tensor, valid: torch.Tensor, inlier_m: float, min_share: float,
    iterations: int = 256, generator: torch.Generator | None = None,
    draw: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """RANSAC plane of the valid rows of ``points`` (M, 3), without a device sync.

    Returns (plane (4,): a, b, c, d with a unit normal, found (): bool tensor). The best
    hypothesis is refined by least squares over its inliers; ``found`` is True only if at
    least ``min_share`` of the valid points lie within ``inlier_m`` of it. ``draw``: the
    (iterations, 3) uniform numbers of the triplets, drawn by the caller.
    """
    n = points.shape[0]
    first_valid = torch.argsort((~valid).to(torch.uint8), stable=True)  # valid rows first
    points, valid = points[first_valid], valid[first_valid]
    if draw is None:
        draw = torch.rand(iterations, 3, device=points.device, generator=generator)
    idx = (draw * valid.sum()).long().clamp_max(n - 1)  # triplets among the valid rows
    tri = points[idx]
    normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = normal.norm(dim=1, keepdim=True)
    usable = valid[idx].all(1) & (norm[:, 0] > 1e-9)
    normal = normal / norm.clamp_min(1e-9)
    offset = -(normal * tri[:, 0]).sum(1)
    near = ((points @ normal.T + offset).abs() < inlier_m) & valid[:, None]
    best = torch.argmax(near.sum(0) * usable).reshape(1)  # indexing by a 0-d tensor syncs
    inliers = near.index_select(1, best)[:, 0] & usable.index_select(0, best)
    w = inliers.to(points.dtype)
    count = w.sum()
    centre = (points * w[:, None]).sum(0) / count.clamp_min(1)
    d = (points - centre) * w[:, None]
    cov = d.T @ d
    eye = torch.eye(3, device=points.device, dtype=points.dtype)
    cov = cov / torch.diagonal(cov).sum().clamp_min(1e-12) + 1e-6 * eye  # unit trace
    normal_ls = normal.index_select(0, best)[0]
    for _ in range(3):  # inverse iteration from the RANSAC normal: the smallest eigenvector
        normal_ls = torch.linalg.solve_ex(cov, normal_ls)[0]  # (no error check, no sync)
        normal_ls = normal_ls / normal_ls.norm().clamp_min(1e-12)
    found = (count >= 3) & (count >= min_share * valid.sum())
    return torch.cat([normal_ls, -(normal_ls @ centre)[None]]), found


#: :func:`apply_depth_consistency`'s CUDA graphs, one per (points, views, size, config).
CONSISTENCY_GRAPHS = GraphCache(max_keys=8)
PLANE_SAMPLES = 20_000  # observed pixels of the dominant-plane fit
PLANE_ITERATIONS = 256  # its RANSAC hypotheses


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
        depth: (V, H, W) depth in metres (0, negative or non-finite = invalid).
        K: (V, 3, 3) intrinsics at (H, W).
        T_frame_cam: (V, 4, 4) camera-to-frame poses.
        config: thresholds (see :class:`DepthConsistency`).
        generator: RNG of the plane fit (None = torch's default).

    Returns:
        (points (M, 3), keep (N,) bool: which input rows survive, snapped (M,) bool:
        which surviving rows now lie on an observed surface).

    Everything before the final selection has fixed shapes and no host read: on a CUDA
    device (graphs on) it is replayed as one CUDA graph per (points, views, image size,
    config), the plane fit's random numbers drawn beforehand from ``generator``.
    """
    config = config or DepthConsistency()
    p = points.float()
    depth, K, T = depth.float(), K.float(), T_frame_cam.float()
    V, H, W = depth.shape
    draws: tuple[torch.Tensor, ...] = ()
    if config.plane_m > 0:  # the same draws, in the same order, as the eager steps took
        pick = torch.randint(V * H * W, (PLANE_SAMPLES,), device=depth.device,
                             generator=generator)  # fmt: skip
        draws = (pick, torch.rand(PLANE_ITERATIONS, 3, device=depth.device, generator=generator))
    out, keep, snapped = CONSISTENCY_GRAPHS(
        ("depth_consistency", config), lambda *a: _consistent(config, *a), p, depth, K, T, *draws
    )
    return out[keep], keep, snapped[keep]


def _consistent(
    config: DepthConsistency, p: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
    T: torch.Tensor, pick: torch.Tensor | None = None, draw: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return every point moved (N, 3), ``keep`` (N,) and ``snapped`` (N,): no host reads."""
    depth = torch.where(torch.isfinite(depth) & (depth > 0), depth, torch.zeros_like(depth))
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
        obs, valid = observed_points(depth, K, T, PLANE_SAMPLES, pick=pick)
        plane, found = dominant_plane(obs, valid, config.plane_inlier_m, config.plane_min_share,
                                      PLANE_ITERATIONS, draw=draw)  # fmt: skip
        dist = out @ plane[:3] + plane[3]
        onto = found & ~snapped & (dist.abs() < config.plane_m)
        out = torch.where(onto[:, None], out - dist[:, None] * plane[:3], out)
    keep = ~seen_free | snapped
    if config.dedupe_m > 0:
        keep &= first_per_voxel(out, config.dedupe_m, keep)
    return out, keep, snapped


def voxel_codes(points: torch.Tensor, voxel: float) -> torch.Tensor:
    """(N,) int64 key of each point's cube of edge ``voxel`` (21 bits per axis, no sync)."""
    keys = torch.floor(points / voxel).long()
    keys = (keys - keys.amin(0)).clamp_max(2**21 - 1)  # 21 bits per axis: 6 km at 3 mm
    return (keys[:, 0] << 42) | (keys[:, 1] << 21) | keys[:, 2]


def first_per_voxel(
    points: torch.Tensor, voxel: float, among: torch.Tensor | None = None
) -> torch.Tensor:
    """(N,) bool: True for the first row (lowest index) of ``among`` in each voxel (no sync).

    ``among`` (N,) bool; None = every row.
    """
    if points.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=points.device)
    if among is None:
        among = torch.ones(points.shape[0], dtype=torch.bool, device=points.device)
    code = voxel_codes(points, voxel)
    index = torch.arange(points.shape[0], device=points.device)
    code = torch.where(among, code, -1 - index)  # rows outside ``among`` collide with nothing
    order = torch.sort(code, stable=True).indices  # equal codes keep their index order
    sorted_code = code[order]
    first = torch.ones_like(sorted_code, dtype=torch.bool)
    first[1:] = sorted_code[1:] != sorted_code[:-1]
    return torch.empty_like(first).scatter_(0, order, first) & among

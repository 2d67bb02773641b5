"""What the input depth measured about a 3D point: surface, seen free space, behind, nothing.

A depth camera measures, along each pixel's ray, free space up to the surface and the
surface itself; behind the surface it measures nothing. This module classifies points
against a window's depth maps with the rules the published cloud is built on:

- ``sigma(d)``: the depth noise model, axial standard deviation ``SIGMA_COEFF * d**2``
  (Kinect v1, Khoshelham & Elberink 2012: 1.425e-3 d^2 m; a structured-light or stereo
  sensor is of this form with its own coefficient). ``margin(d) = max(3 cm, 3 sigma(d))``.
- A pixel is *clean* when it has valid depth and lies at least ``edge_px`` pixels from a
  depth edge (a pixel whose 3x3 neighbourhood holds an invalid pixel or spans more than
  ``margin(d)``).
- A point is in a view's *seen free space* when it projects inside that view onto a clean
  pixel with optical z < d - margin(d).
- It lies *on an observed surface* when it projects onto a valid pixel with
  d - margin(d) <= z <= d + band(d), ``band(d) = max(1 cm, 2 sigma(d))``: in front, the
  sensor's noise band; behind, only as far as the surface's own noise, so that a hidden
  surface a few centimetres behind an observed one (the table behind an object's foot,
  an object's far side) is not taken for the observed one. *Behind* when z > d + band(d).
- The view's *region*: optical z in (0.1 m, p99 of its valid depth + 0.15 m] inside the
  image (the frustum protocol's region).

Torch on the points' device. Frames: ``points`` (N, 3) and ``T_frame_cam`` (V, 4, 4,
camera-to-frame, OpenCV optical) in one frame, metres; ``depth`` (V, H, W) metres with 0
(or negative / non-finite) = no return; ``K`` (V, 3, 3) at (H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nova3r_ros.model.cuda_graphs import GraphCache
from nova3r_ros.model.cuda_graphs import enabled as graphs_enabled

SIGMA_COEFF = 1.425e-3  # m^-1: sigma(d) = SIGMA_COEFF * d^2 (Kinect v1)
MIN_MARGIN_M = 0.03
MIN_BAND_M = 0.01
#: :func:`measure`'s CUDA graphs, one per (padded point count, views, image size, options).
MEASURE_GRAPHS = GraphCache(max_keys=16)
REGION_Z_MIN = 0.1
REGION_MARGIN_M = 0.15
MIN_Z = 1e-3


def sanitize(depth: torch.Tensor) -> torch.Tensor:
    """Depth with every non-finite or non-positive entry set to 0 (float32)."""
    depth = depth.float()
    return torch.where(torch.isfinite(depth) & (depth > 0), depth, torch.zeros_like(depth))


def margin(d: torch.Tensor) -> torch.Tensor:
    """max(3 cm, 3 sigma(d)) for depth ``d`` (m)."""
    return torch.clamp_min(3.0 * SIGMA_COEFF * d * d, MIN_MARGIN_M)


def band(d: torch.Tensor) -> torch.Tensor:
    """max(1 cm, 2 sigma(d)): how far behind the observed depth a point still lies on it."""
    return torch.clamp_min(2.0 * SIGMA_COEFF * d * d, MIN_BAND_M)


def clean_pixels(depth: torch.Tensor, edge_px: int = 2) -> torch.Tensor:
    """(V, H, W) bool: valid depth at least ``edge_px`` pixels from a depth edge."""
    valid = depth > 0
    big = torch.where(valid, depth, torch.full_like(depth, 1e6))[:, None]
    small = torch.where(valid, depth, torch.full_like(depth, -1e6))[:, None]
    hi = F.max_pool2d(small, 3, 1, 1)[:, 0]
    lo = -F.max_pool2d(-big, 3, 1, 1)[:, 0]
    edge = valid & ((hi - lo) > margin(depth))
    edge |= F.max_pool2d((~valid).float()[:, None], 3, 1, 1)[:, 0] > 0  # borders a hole
    if edge_px > 0:
        k = 2 * edge_px + 1
        edge = F.max_pool2d(edge.float()[:, None], k, 1, edge_px)[:, 0] > 0
    return valid & ~edge


def region_depth(depth: torch.Tensor) -> torch.Tensor:
    """(V,) far end of each view's region: p99 of its valid depth + 0.15 m (0 if none valid)."""
    flat = torch.where(depth > 0, depth, torch.nan).flatten(1)
    p99 = torch.nanquantile(flat, 0.99, dim=1)
    return torch.where(torch.isfinite(p99), p99 + REGION_MARGIN_M, torch.zeros_like(p99))


def prepared_depth(
    depth: torch.Tensor, edge_px: int = 2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (:func:`sanitize` d, :func:`clean_pixels` (d, edge_px), :func:`region_depth` d).

    One CUDA graph per (views, image size, ``edge_px``) on a CUDA device (graphs on).
    """
    edge_px = int(edge_px)
    return MEASURE_GRAPHS(("prepared_depth", edge_px), lambda d: _prepared(d, edge_px), depth)


def _prepared(depth: torch.Tensor, edge_px: int) -> tuple[torch.Tensor, ...]:
    depth = sanitize(depth)
    return depth, clean_pixels(depth, edge_px), region_depth(depth)


@dataclass
class Measurement:
    """Per point, over the views (each (N,) bool unless stated).

    Attributes:
        free: in some view's seen free space (clean pixel, z < d - margin).
        surface: on some view's observed surface (d - margin <= z <= d + band).
        behind: behind some view's observed surface (z > d + band).
        region: inside some view's region.
        behind_depth: (N,) float, the smallest (z - d) / z over views where it is behind
            (0 where it is behind nothing).
        near: within ``near_m`` of some view's depth at a clean pixel (|z - d| <= near_m).

    """

    free: torch.Tensor
    surface: torch.Tensor
    behind: torch.Tensor
    region: torch.Tensor
    behind_depth: torch.Tensor
    near: torch.Tensor


def measure(
    points: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    T_frame_cam: torch.Tensor,
    clean: torch.Tensor | None = None,
    z_far: torch.Tensor | None = None,
    near_m: float = 0.1,
    chunk: int = 1 << 20,
) -> Measurement:
    """Classify ``points`` (N, 3) against every view (see the module docstring).

    On a CUDA device (graphs on, :mod:`~nova3r_ros.model.cuda_graphs`) the points are
    padded to :func:`padded_count` rows and the classification is replayed as one CUDA
    graph per (padded count, views, image size): ~45 kernel launches become one. Each
    point's result depends on that point alone, so the padding changes nothing.
    """
    depth = sanitize(depth)
    clean = clean_pixels(depth) if clean is None else clean
    z_far = region_depth(depth) if z_far is None else z_far
    K, T = K.float().to(points.device), T_frame_cam.float().to(points.device)
    n = points.shape[0]
    if n == 0 or not (points.is_cuda and graphs_enabled()):
        return Measurement(*_classify(points, depth, K, T, clean, z_far, near_m, chunk))
    padded = F.pad(points.float(), (0, 0, 0, padded_count(n) - n))
    cols = MEASURE_GRAPHS(
        ("measure", float(near_m), int(chunk)),
        lambda *a: _classify(*a, near_m, chunk),
        padded, depth, K, T, clean.bool(), z_far.float(),
    )  # fmt: skip
    return Measurement(*(c[:n] for c in cols))


def padded_count(n: int) -> int:
    """Return the power of two >= ``n`` (at least 4096): the padded point count.

    At most twice the points (the classification is cheap on a GPU), and few distinct
    sizes, i.e. few graphs, however the point counts vary from window to window (a graph
    captured per window would cost more than it saves).
    """
    return 1 << max(int(n) - 1, 4095).bit_length()


def pixel_rays(
    K: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray x/z and y/z, each (V, len(rows), len(cols)), through pixel (row, col) positions.

    ``K`` (V, 3, 3) with skew; pixel centres at integer coordinates (the inverse of
    :func:`projected_pixel`).
    """
    vv, uu = torch.meshgrid(rows, cols, indexing="ij")
    ry = (vv[None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None]
    rx = (uu[None] - K[:, 0, 2, None, None] - K[:, 0, 1, None, None] * ry) / K[:, 0, 0, None, None]
    return rx, ry


def projected_pixel(pc: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return where each camera-frame point projects: column u and row v (floats).

    ``pc`` (..., N, 3) in the camera's optical frame, ``K`` (..., 3, 3) with skew (pixel
    centres at integer coordinates, as :func:`pixel_rays` back-projects them). Points with
    z <= ``MIN_Z`` get a finite but meaningless pixel; callers test z.
    """
    z = pc[..., 2]
    zs = torch.where(z > MIN_Z, z, torch.ones_like(z))
    u = K[..., 0, 0, None] * pc[..., 0] / zs + K[..., 0, 1, None] * pc[..., 1] / zs
    return u + K[..., 0, 2, None], K[..., 1, 1, None] * pc[..., 1] / zs + K[..., 1, 2, None]


def nearest_pixel(pc: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the pixel (column u, row v; rounded floats) each camera-frame point hits.

    :func:`projected_pixel` rounded: the pixel :func:`measure` reads.
    """
    u, v = projected_pixel(pc, K)
    return torch.round(u), torch.round(v)


def view_pixels(
    points: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor, H: int, W: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where ``points`` (N, 3) fall in each of V views: optical z, inside, flat pixel index.

    ``R`` (V, 3, 3) and ``t`` (V, 3) camera-to-frame; each (V, N): z, whether the point is
    in front of the camera and its :func:`nearest_pixel` inside the H x W image, and that
    pixel's index into a (V, H * W) image (clamped to the image where outside). No host
    reads (graph-safe).
    """
    pc = torch.einsum("vji,vnj->vni", R, points[None] - t[:, None])  # R^T (p - t)
    z = pc[..., 2]
    u, v = nearest_pixel(pc, K)
    inside = (z > MIN_Z) & (u >= 0) & (v >= 0) & (u < W) & (v < H)
    return z, inside, (v.clamp(0, H - 1) * W + u.clamp(0, W - 1)).long()


def _classify(
    points: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, T: torch.Tensor,
    clean: torch.Tensor, z_far: torch.Tensor, near_m: float, chunk: int,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Return :class:`Measurement`'s columns for ``points`` (no host reads: graph-safe)."""
    V, H, W = depth.shape
    R, t = T[:, :3, :3], T[:, :3, 3]
    flat_d, flat_c = depth.reshape(V, -1), clean.reshape(V, -1)
    parts = []
    step = max(1, chunk // max(V, 1))
    for s in range(0, points.shape[0], step):
        z, inside, idx = view_pixels(points[s : s + step].float(), K, R, t, H, W)
        zs = torch.where(z > MIN_Z, z, torch.ones_like(z))
        d = torch.gather(flat_d, 1, idx)
        ok = inside & (d > 0)
        m = margin(d)
        at_clean = ok & torch.gather(flat_c, 1, idx)
        free = (at_clean & (z < d - m)).any(0)
        near = (at_clean & ((z - d).abs() <= near_m)).any(0)
        b = band(d)
        surface = (ok & (z >= d - m) & (z <= d + b)).any(0)
        behind_v = ok & (z > d + b)
        rel = torch.where(behind_v, (z - d) / zs, torch.full_like(z, torch.inf)).amin(0)
        region = (inside & (z > REGION_Z_MIN) & (z <= z_far[:, None])).any(0)
        rel = torch.where(torch.isfinite(rel), rel, torch.zeros_like(rel))
        parts.append((free, surface, behind_v.any(0), region, rel, near))
    if not parts:
        empty = torch.zeros(0, dtype=torch.bool, device=points.device)
        return empty, empty, empty, empty, empty.float(), empty
    if len(parts) == 1:
        return parts[0]
    return tuple(torch.cat(c) for c in zip(*parts, strict=True))

"""Sides of occluders: surfaces continued a few centimetres behind occluding depth edges.

Where a view's depth steps back by more than ``min_gap_m`` (and 5 % of the depth) within
``window_px`` pixels, the nearer surface ends in a silhouette: the edge of a box, a
counter, a chair or a cabinet door. Solid things have thickness, so their side goes on
behind the silhouette where this view cannot see it. A side seen edge-on runs close to the
silhouette pixel's ray, so the points on that ray from ``step_m`` to ``depth_m`` behind the
measured depth (every ``step_m``, and never within 3 cm of the farther surface) stand in
for it. Their confidence falls linearly from 1 at the first step to ``2 step_m / (depth_m +
step_m)`` at the last. :func:`~nova3r_ros.model.published_cloud.publish` keeps those in no
view's seen free space, on no observed surface and inside a view's region; other views of
the window that saw past the silhouette thereby remove what is wrong.

This is a geometric prior, not the learned model, and off by default
(:class:`~nova3r_ros.model.published_cloud.PublishConfig` ``silhouette_depth_m``): on the
7-Scenes dev frames most of what it seemed to add matched the TSDF reference's tails behind
silhouettes rather than measured surfaces (docs/eval/session27).

Frames and shapes: ``depth`` (V, H, W) metres (0 = no depth), ``K`` (V, 3, 3) of that
size, ``T`` (V, 4, 4) camera-to-reference (OpenCV optical frames); points in the reference
frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The sides stop this far (m) short of the farther surface behind the silhouette.
BACKGROUND_CLEARANCE_M = 0.03


@dataclass(frozen=True)
class SilhouetteConfig:
    """Where and how far occluders' sides are continued (metres, pixels).

    Attributes:
        depth_m: how far behind the silhouette the side goes; 0 = off.
        step_m: spacing of the points along each silhouette pixel's ray.
        min_gap_m: the depth step that makes a silhouette (also at least 5 % of the depth).
        window_px: the step is looked for within this square of pixels (odd).
        stride_px: every ``stride_px``-th row and column of the image is used.
    """

    depth_m: float = 0.08
    step_m: float = 0.01
    min_gap_m: float = 0.08
    window_px: int = 7
    stride_px: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.depth_m <= 1.0:
            raise ValueError(f"silhouette depth_m must be in [0, 1] m, got {self.depth_m}")
        if not 0.0 < self.step_m <= 0.5:
            raise ValueError(f"silhouette step_m must be in (0, 0.5] m, got {self.step_m}")
        if not self.min_gap_m > 0.0:
            raise ValueError(f"silhouette min_gap_m must be > 0, got {self.min_gap_m}")
        if self.window_px < 3 or self.window_px % 2 == 0:
            raise ValueError(f"silhouette window_px must be odd and >= 3, got {self.window_px}")
        if self.stride_px < 1:
            raise ValueError(f"silhouette stride_px must be >= 1, got {self.stride_px}")


def silhouette_pixels(depth: torch.Tensor, config: SilhouetteConfig):
    """Return the silhouette pixels: (view, row, column) index tensors (E,), depth and far side.

    A pixel with depth ``d`` is on a silhouette where some valid pixel within
    ``window_px`` lies more than ``max(min_gap_m, 0.05 d)`` farther; the far side is the
    largest depth there.
    """
    d = depth.float()
    far = F.max_pool2d(d[:, None], config.window_px, 1, config.window_px // 2)[:, 0]
    edge = (d > 0) & (far - d > torch.clamp(0.05 * d, min=config.min_gap_m))
    grid = torch.zeros_like(edge)
    grid[:, :: config.stride_px, :: config.stride_px] = True
    v, y, x = torch.nonzero(edge & grid, as_tuple=True)
    return v, y, x, d[v, y, x], far[v, y, x]


def silhouette_side_points(
    depth: torch.Tensor, K: torch.Tensor, T: torch.Tensor, config: SilhouetteConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the side points (S, 3) in the reference frame and their confidence (S,).

    Every silhouette pixel's ray from ``step_m`` to ``depth_m`` behind its depth, every
    ``step_m``, short of the far side by :data:`BACKGROUND_CLEARANCE_M` (module docstring).
    Nothing is checked against the other views here.
    """
    dev = depth.device
    empty = torch.zeros(0, 3, device=dev), torch.zeros(0, device=dev)
    if config.depth_m <= 0:
        return empty
    v, y, x, z, far = silhouette_pixels(depth, config)
    n_steps = int(config.depth_m / config.step_m + 1e-6)
    if v.numel() == 0 or n_steps == 0:
        return empty
    K, T = K.float().to(dev), T.float().to(dev)
    Kv = K[v]
    ray = torch.stack(
        [(x.float() - Kv[:, 0, 2]) / Kv[:, 0, 0], (y.float() - Kv[:, 1, 2]) / Kv[:, 1, 1],
         torch.ones_like(z)], 1)  # fmt: skip
    behind = torch.arange(1, n_steps + 1, device=dev, dtype=torch.float32) * config.step_m
    zz = z[:, None] + behind  # (E, S)
    ok = zz < (far - BACKGROUND_CLEARANCE_M)[:, None]
    cam = ray[:, None, :] * zz[..., None]  # (E, S, 3) optical frame of view v
    Tv = T[v]
    pts = torch.einsum("eij,esj->esi", Tv[:, :3, :3], cam) + Tv[:, None, :3, 3]
    conf = 1.0 - (behind - config.step_m) / (config.depth_m + config.step_m)
    return pts[ok], conf.expand_as(zz)[ok]


def published_sides(
    depth: torch.Tensor, K: torch.Tensor, T: torch.Tensor, z_far: torch.Tensor,
    obs_pts: torch.Tensor, obs_rgb: torch.Tensor, taken: torch.Tensor, spacing_m: float,
    config: SilhouetteConfig, min_confidence: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return the side points a window publishes (S, 3), their confidence (S,), colour (S, 3).

    For :func:`~nova3r_ros.model.published_cloud.publish`: :func:`silhouette_side_points`
    of at least ``min_confidence``, kept where they lie in some view's region (``z_far``
    (V,)), in no view's seen free space (every valid pixel) and on no observed surface, one
    per ``spacing_m`` cube and none in a cube that a point of ``taken`` (N, 3; the plane and
    hidden-surface points) holds; coloured as the nearest of the observed points
    (``obs_pts`` / ``obs_rgb`` (M, 3)) taken one per ``COLOUR_VOXEL_M`` cube.
    """
    from nova3r_ros.model.depth_consistency import first_per_voxel
    from nova3r_ros.model.hidden_published import observed_colours
    from nova3r_ros.model.measurement import measure

    pts, conf = silhouette_side_points(depth, K, T, config)
    keep = conf >= min_confidence
    pts, conf = pts[keep], conf[keep]
    if pts.shape[0]:
        m = measure(pts, depth, K, T, depth > 0, z_far)
        keep = ~m.free & ~m.surface & m.region
        pts, conf = pts[keep], conf[keep]
        first = first_per_voxel(torch.cat([taken.float(), pts]), spacing_m)[taken.shape[0] :]
        pts, conf = pts[first], conf[first]
    return pts, conf, observed_colours(pts, obs_pts, obs_rgb)

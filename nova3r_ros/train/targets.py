"""Training targets cut to the window's frustum region, as the evaluation protocol scores.

The synthetic engine samples ground truth over the whole scene surface: for a room, most
of it lies behind or beside the cameras. A model trained to output all of it puts most
of its points where no camera looks (``outside`` in the frustum protocol,
:mod:`nova3r_ros.eval.frustum`). :func:`frustum_targets` keeps, per window, only ground
truth points in the protocol's region (the union over views of optical z in (0.1 m, p99 of
the view's valid depth + 0.15 m] that project inside the image) and draws a fixed
number of them, so the prior learns to complete what the cameras look at.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.measurement import REGION_Z_MIN, region_depth


def region_mask(points: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
                T_world_cam: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Return which world points lie in the window's frustum region.

    Args:
        points: (B, M, 3) world points.
        depth: (B, V, H, W) z-depth in metres (0 = invalid), the views' clean depth.
        K: (B, V, 3, 3) intrinsics at (H, W).
        T_world_cam: (B, V, 4, 4) camera-to-world (OpenCV optical frame).

    Returns:
        bool (B, M): inside the region of at least one view.

    """
    B, V, H, W = depth.shape
    z_max = region_depth(depth.reshape(B * V, H, W)).view(B, V)  # p99 + 0.15 m, 0 if none
    R = T_world_cam[..., :3, :3].float()
    t = T_world_cam[..., :3, 3].float()
    pc = torch.einsum("bvji,bvmj->bvmi", R, points.float()[:, None] - t[:, :, None])
    z = pc[..., 2]
    safe = torch.where(z.abs() > 1e-9, z, torch.full_like(z, 1e-9))
    Kf = K.float()
    u = Kf[..., 0, 0, None] * pc[..., 0] / safe + Kf[..., 0, 1, None] * pc[..., 1] / safe
    u = torch.round(u + Kf[..., 0, 2, None])  # the nearest pixel, as the protocol rounds
    v = torch.round(Kf[..., 1, 1, None] * pc[..., 1] / safe + Kf[..., 1, 2, None])
    inside = (z > REGION_Z_MIN) & (z <= z_max[..., None]) & (u >= 0) & (u < W) & (v >= 0)
    return (inside & (v < H)).any(dim=1)


def frustum_targets(batch: dict, n_points: int, generator: torch.Generator | None = None) -> dict:
    """Return ``batch`` with ``points``/``visible`` cut to the region, ``n_points`` each.

    Each window draws ``n_points`` of its in-region ground truth points (without
    replacement when it has enough, else with); a window with no point in the region keeps
    a draw from all its points. Call it before the sensor models touch ``depth``.

    Args:
        batch: a ``generate_batch`` dict (``points`` (B, M, 3), ``visible`` (B, M),
            ``depth``, ``K``, ``T_world_cam``); not mutated.
        n_points: target points per window.
        generator: torch generator on the CPU for the draw (None = global RNG).

    Returns:
        A new dict with ``points`` (B, n_points, 3) and ``visible`` (B, n_points).

    """
    pts, vis = batch["points"], batch["visible"]
    mask = region_mask(pts, batch["depth"], batch["K"], batch["T_world_cam"])
    none = ~mask.any(dim=1, keepdim=True)
    weights = (mask | none).float().cpu()
    counts = weights.sum(dim=1)
    rows = []
    for b in range(len(weights)):
        rows.append(torch.multinomial(weights[b], n_points, bool(counts[b] < n_points),
                                      generator=generator))  # fmt: skip
    idx = torch.stack(rows).to(pts.device)
    out = dict(batch)
    out["points"] = torch.gather(pts, 1, idx[..., None].expand(-1, -1, 3))
    out["visible"] = torch.gather(vis, 1, idx)
    out["region_share"] = mask.float().mean(dim=1)
    return out

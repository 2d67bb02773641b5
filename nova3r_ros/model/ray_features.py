"""Pixel-aligned depth-along-ray features of query points for the flow decoder.

Every (noisy) query point is projected into each view whose depth is an input and
whose pose relative to view 0 is known (view 0 always is); the observed depth at
that pixel minus the point's own depth along the optical axis is a signed distance
to the observed surface (positive: in front of it, i.e. in seen free space;
negative: behind it, occluded). The decoder receives the value of the view where it
is smallest in magnitude, whether any view gave one, and the share of views that
see the point as free space. These let points on observed surfaces land on them to
sensor precision, at O(points x views) cost, while the scene tokens carry what no
camera sees.

All geometry here is in canonical units (see :mod:`nova3r_ros.model.config`): query
points ``x`` (B, N, 3) map to view 0's frame as ``(x + (0, 0, 1))`` times the scale.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.layers import fourier_features

SDF_CLIP = 0.5  # canonical units (about half the scene's distance to camera 0)
SDF_GAIN = 4.0  # Fourier input = clipped sdf x gain, so the finest band resolves ~3 mm
FREE_MARGIN = 0.02  # canonical: in front of the observed surface by more than this = free
BANDS = 8
RAY_FEATURES = (2 * BANDS + 1) + 2  # Fourier(sdf), any view valid, free-space share


def ray_geometry(
    depth_scaled: torch.Tensor, valid: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Pack what :func:`ray_features` needs.

    Args:
        depth_scaled: (B, V, h, w) depth divided by the window scale.
        valid: (B, V, h, w) bool: depth is an input there and the view's pose is known.
        K: (B, V, 3, 3) intrinsics at (h, w).
        T_ref_cam: (B, V, 4, 4) camera-to-view-0 with translation divided by the scale.

    Returns:
        dict with ``depth`` (B, V, h * w), ``valid`` (B, V, h * w), ``K``, ``T_cam_ref``
        (B, V, 4, 4) and ``size`` (h, w) as a (2,) tensor.

    """
    B, V, h, w = depth_scaled.shape
    R, t = T_ref_cam[..., :3, :3], T_ref_cam[..., :3, 3:]
    T_cam_ref = torch.zeros_like(T_ref_cam)
    T_cam_ref[..., :3, :3] = R.transpose(-1, -2)
    T_cam_ref[..., :3, 3:] = -R.transpose(-1, -2) @ t
    T_cam_ref[..., 3, 3] = 1.0
    return {
        "depth": torch.where(valid, depth_scaled, torch.zeros_like(depth_scaled)).view(B, V, -1),
        "valid": valid.reshape(B, V, -1),
        "K": K.float(),
        "T_cam_ref": T_cam_ref.float(),
        "size": torch.tensor([h, w]),
    }


def ray_features(x: torch.Tensor, geo: dict[str, torch.Tensor]) -> torch.Tensor:
    """Features (B, N, RAY_FEATURES) of canonical query points ``x`` (B, N, 3)."""
    h, w = int(geo["size"][0]), int(geo["size"][1])
    x = x.float()
    if "R_canon" in geo:  # a levelled canonical frame: back to view 0's axes, R^T x
        R = geo["R_canon"].float()  # products and sums: no bf16/TF32 rounding of a matmul
        x = sum(x[..., i : i + 1] * R[:, None, i, :] for i in range(3))
    p = torch.cat([x[..., :2], x[..., 2:] + 1.0], dim=-1)  # view 0 frame / scale (no H2D copy)
    T = geo["T_cam_ref"]
    pc = torch.einsum("bvij,bnj->bvni", T[..., :3, :3], p) + T[:, :, None, :3, 3]
    z = pc[..., 2]
    z_safe = torch.where(z > 1e-4, z, torch.ones_like(z))
    K = geo["K"]
    u = K[..., 0, 0, None] * pc[..., 0] / z_safe + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * pc[..., 1] / z_safe + K[..., 1, 2, None]
    ui, vi = torch.round(u), torch.round(v)
    inside = (z > 1e-4) & (ui >= 0) & (ui <= w - 1) & (vi >= 0) & (vi <= h - 1)
    index = (vi.clamp(0, h - 1) * w + ui.clamp(0, w - 1)).long()  # (B, V, N)
    d = torch.gather(geo["depth"], 2, index)
    ok = inside & torch.gather(geo["valid"], 2, index)
    sdf = (d - z).clamp(-SDF_CLIP, SDF_CLIP)
    mag = torch.where(ok, sdf.abs(), torch.full_like(sdf, float("inf")))
    best = mag.argmin(dim=1, keepdim=True)  # (B, 1, N): the view closest to a surface
    any_ok = ok.any(dim=1)
    sdf_best = torch.gather(sdf, 1, best)[:, 0] * any_ok
    n_ok = ok.sum(dim=1).clamp_min(1)
    free = ((sdf > FREE_MARGIN) & ok).sum(dim=1) / n_ok
    feats = fourier_features(sdf_best[..., None] * SDF_GAIN, BANDS) * any_ok[..., None]
    return torch.cat([feats, any_ok[..., None].float(), free[..., None].float()], dim=-1)

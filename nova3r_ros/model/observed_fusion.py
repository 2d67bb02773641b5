"""The views' measurements of one surface averaged: the observed points of a window, fused.

A depth sensor measures each surface once per view, each time with its own noise
(sigma(d) = ``SIGMA_COEFF`` d^2 for a Kinect-like sensor, :mod:`~nova3r_ros.model.
measurement`). Where several views of a window measure the same surface, averaging their
measurements gives a less noisy surface than any one view; back-projecting every view
on its own, as the raw depth does, publishes each view's noise as a layer of its own.

:func:`fused_points` moves every valid pixel's point of view i along its own ray of each
other view j to the depth that view j measured there, where the two agree, and averages
these estimates weighted by 1 / sigma(d)^2 (the view that saw the surface closer counts
more). Agreement: view j's depth where the point projects (bilinear; its four pixels all
valid) lies within
max(``FLOOR_M``, ``sigmas`` x sigma(z)) of the point's depth z in view j, so a view that
sees another surface there (an occluder in front, or the space behind the point seen
empty) does not move it. A point no other view agrees with keeps its position exactly;
with one view nothing moves.

Frames: points in the reference frame (view 0's optical frame), metres; ``depth``
(V, H, W) metres, 0 = no return; ``K`` (V, 3, 3) with skew; ``T_ref_cam`` (V, 4, 4).
Torch on the inputs' device: each view's pixels projected into each other view, no host
reads.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.measurement import MIN_Z, SIGMA_COEFF, pixel_rays, projected_pixel

FLOOR_M = 0.01  # the agreement tolerance's floor (close range, where sigma is under 2 mm)
SIGMA_FLOOR_M = 1e-3  # weights 1 / sigma^2 with sigma at least 1 mm


def camera_points(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(V, H, W, 3) every pixel back-projected in its camera's optical frame (K with skew)."""
    H, W = depth.shape[1:]
    dev = depth.device
    x, y = pixel_rays(K.float(), torch.arange(H, device=dev, dtype=torch.float32),
                      torch.arange(W, device=dev, dtype=torch.float32))  # fmt: skip
    return torch.stack([x * depth, y * depth, depth], dim=-1)


def _bilinear(
    flat: torch.Tensor, u: torch.Tensor, v: torch.Tensor, H: int, W: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth (H * W,) read at pixel positions ``u``, ``v`` (any shape), bilinearly.

    Returns the depth and where it is defined: inside the image with all four
    neighbouring pixels valid (a hole or the image border next to it: undefined).
    """
    u0, v0 = u.floor(), v.floor()
    inside = (u0 >= 0) & (u0 <= W - 2) & (v0 >= 0) & (v0 <= H - 2)
    iu, iv = u0.clamp(0, W - 2).long(), v0.clamp(0, H - 2).long()
    fu, fv = (u - u0).clamp(0, 1), (v - v0).clamp(0, 1)
    base = iv * W + iu
    corners = [flat[(base + offset).reshape(-1)].reshape(u.shape) for offset in (0, 1, W, W + 1)]
    defined = inside
    for c in corners:
        defined = defined & (c > 0)
    top = corners[0] * (1 - fu) + corners[1] * fu
    bottom = corners[2] * (1 - fu) + corners[3] * fu
    return top * (1 - fv) + bottom * fv, defined


def _seen_from(
    p: torch.Tensor, flat_depth: torch.Tensor, K: torch.Tensor, T: torch.Tensor,
    T_inv: torch.Tensor, sigmas: float, H: int, W: int,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Points ``p`` (N, 3) measured by one view: weights (N,) (0 = disagrees), estimates (N, 3).

    The estimate is the point moved along the view's ray to the depth the view measured
    there (``flat_depth`` (H * W,), ``K``, camera-to-reference ``T`` and its inverse).
    """
    q = p @ T_inv[:3, :3].T + T_inv[:3, 3]
    z = q[:, 2]
    d, sampled = _bilinear(flat_depth, *projected_pixel(q, K), H, W)
    tolerance = (sigmas * SIGMA_COEFF * z * z).clamp_min(FLOOR_M)
    agree = (z > MIN_Z) & sampled & ((d - z).abs() <= tolerance)
    w = (SIGMA_COEFF * d * d).clamp_min(SIGMA_FLOOR_M) ** -2 * agree
    centre = T[:3, 3]
    return w, centre + (p - centre) * (d / z.clamp_min(MIN_Z))[:, None]


def fused_points(
    depth: torch.Tensor, K: torch.Tensor, T_ref_cam: torch.Tensor, sigmas: float
) -> torch.Tensor:
    """(V, H, W, 3) each pixel's point averaged with the other views' measurements of it.

    Args:
        depth: (V, H, W) metres (sanitised: finite, 0 = no return).
        K: (V, 3, 3); T_ref_cam: (V, 4, 4) camera-to-reference.
        sigmas: agreement tolerance in depth-noise sigmas (floor ``FLOOR_M``); 0 = no
            fusion (each pixel's own back-projection).

    Returns:
        Points in the reference frame; pixels without depth hold their (zero-depth)
        back-projection, as :func:`camera_points` gives them.
    """
    cam = camera_points(depth, K)
    T = T_ref_cam.float()
    pts = torch.einsum("vij,vhwj->vhwi", T[:, :3, :3], cam) + T[:, None, None, :3, 3]
    V, H, W = depth.shape
    if V < 2 or sigmas <= 0:
        return pts
    valid = (depth > 0).reshape(V, -1)
    own = pts.reshape(V, -1, 3)  # (V, H * W, 3): each view's pixels, contiguous
    flat_depth = depth.reshape(V, -1)
    weight = (SIGMA_COEFF * flat_depth * flat_depth).clamp_min(SIGMA_FLOOR_M) ** -2 * valid
    total = weight.clone()
    summed = own * weight[..., None]
    T_cam_ref = torch.linalg.inv(T)
    Kf = K.float()
    for j in range(V):  # the other views' pixels seen from view j, in two contiguous runs
        for a, b in ((0, j), (j + 1, V)):  # the views before j, after j
            if b > a:
                w, on_j = _seen_from(own[a:b].reshape(-1, 3), flat_depth[j], Kf[j], T[j],
                                     T_cam_ref[j], sigmas, H, W)  # fmt: skip
                w = w.reshape(b - a, -1) * valid[a:b]  # no depth at the pixel: no point
                summed[a:b] += on_j.reshape(b - a, -1, 3) * w[..., None]
                total[a:b] += w
    fused = total > weight  # some other view agreed (else exactly its own back-projection)
    out = torch.where(fused[..., None], summed / total.clamp_min(1e-12)[..., None], own)
    return out.reshape(V, H, W, 3)

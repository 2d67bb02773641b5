"""World-frame window tensors -> network inputs and targets in canonical coordinates.

One function serves training (synthetic batches) and inference (a Window turned
into the same tensors), so both see identical inputs. Canonical coordinates:
``p_canon = R (p_ref / s - (0, 0, 1))`` with ``p_ref`` in view 0's optical frame,
``s`` the window scale (median valid depth of view 0 when depth is an input,
else the ground truth's median distance to camera 0 in training and 1 at
inference, i.e. normalised output) and ``R`` the identity, or, for a model with
``gravity_frame`` given depth and a gravity direction, the levelling rotation
(:func:`levelling`): a rotation about the point at unit depth in front of camera 0 that
puts gravity along +y and camera 0's heading along +z, so that "down" means the same in
every window however the camera is held.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nova3r_ros.model.config import ModelConfig
from nova3r_ros.model.ray_features import ray_geometry

SHIFT = torch.tensor([0.0, 0.0, 1.0])


def _inv(T: torch.Tensor) -> torch.Tensor:
    """Invert rigid transforms (..., 4, 4)."""
    R, t = T[..., :3, :3], T[..., :3, 3:]
    out = torch.zeros_like(T)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3:] = -R.transpose(-1, -2) @ t
    out[..., 3, 3] = 1.0
    return out


def levelling(down: torch.Tensor) -> torch.Tensor:
    """Return rotations (B, 3, 3) from view 0's optical frame into its levelled frame.

    Args:
        down: (B, 3) gravity direction ("down") in view 0's optical frame (any length > 0).

    Returns:
        ``R`` with rows ``x', y', z'``: ``y'`` = down, ``z'`` = the optical axis made
        horizontal (camera 0's heading; its image "up" when it looks straight down or up),
        ``x' = y' x z'`` (right-handed). ``R @ v`` expresses an optical-frame vector ``v``
        in the levelled frame; a camera held level gives the identity.

    """
    y = down.float() / down.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    ez = torch.zeros_like(y)
    ez[:, 2] = 1.0
    z = ez - (y * ez).sum(-1, keepdim=True) * y
    up = torch.zeros_like(y)
    up[:, 1] = -1.0  # the image's "up": for a camera looking along gravity
    z_up = up - (y * up).sum(-1, keepdim=True) * y
    z = torch.where(z.norm(dim=-1, keepdim=True) > 1e-3, z, z_up)
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x = torch.linalg.cross(y, z)
    return torch.stack([x, y, z], dim=1)


def median_valid_depth(depth: torch.Tensor) -> torch.Tensor:
    """Median of the positive entries of each (B, H, W) map -> (B,); 1 where none is valid."""
    d = torch.where(depth > 0, depth, torch.nan).flatten(1)
    med = torch.nanmedian(d, dim=1).values
    return torch.where(torch.isfinite(med), med, torch.ones_like(med))


def prepare(
    cfg: ModelConfig,
    images: torch.Tensor,
    K: torch.Tensor,
    depth: torch.Tensor | None = None,
    T_world_cam: torch.Tensor | None = None,
    use_depth: torch.Tensor | None = None,
    use_K: torch.Tensor | None = None,
    use_pose: torch.Tensor | None = None,
    points: torch.Tensor | None = None,
    gravity: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Build network inputs (and targets when ``points`` is given).

    Args:
        cfg: the model config (network image size).
        images: (B, V, 3, H, W) uint8 or float in [0, 1], RGB.
        K: (B, V, 3, 3) intrinsics at (H, W).
        depth: (B, V, H, W) metres, 0 = invalid.
        T_world_cam: (B, V, 4, 4) camera-to-world (needed for pose inputs and targets).
        use_depth, use_K: (B,) bool, which windows get depth / intrinsics as inputs.
        use_pose: (B,) bool, which windows get known relative poses as inputs.
        points: (B, M, 3) ground-truth world points (training targets).
        gravity: (B, 3) "down" in view 0's optical frame, zero rows where unknown; with
            ``cfg.gravity_frame`` the windows that have it and depth get a levelled
            canonical frame (ignored otherwise).

    Returns:
        dict with ``pixels`` (B, V, 8, h, w), or (B, V, 12, h, w) with
        ``cfg.local_context`` (the canonical point map and its validity appended),
        ``pose_in`` (B, V, 12), ``pose_known`` (B, V), ``scale`` (B,), ``metric`` (B,)
        bool; with ``cfg.ray_features`` also ``geo`` (the decoder's ray geometry, see
        ``ray_features.ray_geometry``); with targets also ``points`` (B, M, 3)
        canonical, ``T_ref_cam`` (B, V, 4, 4) canonical translation and ``focal``
        (B, V) = fx / W; always ``R_canon`` (B, 3, 3), the canonical rotation (identity
        unless levelled), which :func:`to_reference_frame` undoes.

    """
    B, V, _, H, W = images.shape
    dev = images.device
    h, w = cfg.image_height, cfg.image_width
    false = torch.zeros(B, dtype=torch.bool, device=dev)
    use_depth = false if use_depth is None or depth is None else use_depth
    use_K = ~false if use_K is None else use_K
    use_pose = false if use_pose is None or T_world_cam is None else use_pose

    rgb = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    rgb = F.interpolate(rgb.flatten(0, 1), size=(h, w), mode="bilinear", antialias=True)
    sx, sy = w / W, h / H
    Kn = K.float().clone()
    Kn[..., 0, :] *= sx
    Kn[..., 1, :] *= sy
    Kn[..., 0, 2] += 0.5 * sx - 0.5
    Kn[..., 1, 2] += 0.5 * sy - 0.5

    T_ref_cam = None
    if T_world_cam is not None:
        T_ref_cam = _inv(T_world_cam[:, :1].float()) @ T_world_cam.float()
    if depth is not None:
        d = F.interpolate(depth.float().flatten(0, 1)[:, None], size=(h, w), mode="nearest")
        d = d.view(B, V, h, w)
        depth_scale = median_valid_depth(d[:, 0])
    else:
        d = torch.zeros(B, V, h, w, device=dev)
        depth_scale = torch.ones(B, device=dev)
    pts_ref = None
    if points is not None:
        pts_ref = _transform(_inv(T_world_cam[:, 0].float()), points.float())
        gt_scale = pts_ref.norm(dim=-1).median(dim=1).values.clamp_min(1e-6)
        scale = torch.where(use_depth, depth_scale, gt_scale)
    else:
        scale = torch.where(use_depth, depth_scale, torch.ones_like(depth_scale))

    R_canon = torch.eye(3, device=dev).repeat(B, 1, 1)
    if cfg.gravity_frame and gravity is not None:
        level = use_depth & (gravity.norm(dim=-1) > 0)
        safe = torch.where(
            level[:, None], gravity.float(), torch.tensor([0.0, 1.0, 0.0], device=dev)
        )
        R_canon = torch.where(level[:, None, None], levelling(safe), R_canon)
    dmask = (d > 0) & use_depth[:, None, None, None]
    dchan = torch.where(dmask, d / scale[:, None, None, None], torch.zeros_like(d))
    u = torch.arange(w, device=dev, dtype=torch.float32)
    v = torch.arange(h, device=dev, dtype=torch.float32)
    rx = (u[None, None, None, :] - Kn[..., 0, 2, None, None]) / Kn[..., 0, 0, None, None]
    ry = (v[None, None, :, None] - Kn[..., 1, 2, None, None]) / Kn[..., 1, 1, None, None]
    kmask = use_K[:, None, None, None].float()
    pixels = torch.cat(
        [
            rgb.view(B, V, 3, h, w) * 2 - 1,
            dchan[:, :, None],
            dmask[:, :, None].float(),
            (rx.expand(B, V, h, w) * kmask)[:, :, None],
            (ry.expand(B, V, h, w) * kmask)[:, :, None],
            kmask.expand(B, V, h, w)[:, :, None],
        ],
        dim=2,
    )
    # depth pixels placed in view 0's frame: depth, intrinsics, and view 0 or a known pose
    placed = dmask & (kmask > 0) & _usable_views(B, V, T_ref_cam, use_pose)[:, :, None, None]
    if cfg.local_context:
        pixels = torch.cat([pixels, _point_map(d, placed, rx, ry, T_ref_cam, scale, R_canon)],
                           dim=2)  # fmt: skip
    geo = None
    if cfg.ray_features:
        T_scaled = torch.eye(4, device=dev).repeat(B, V, 1, 1)
        if T_ref_cam is not None:
            T_scaled = T_ref_cam.clone()
            T_scaled[..., :3, 3] = T_scaled[..., :3, 3] / scale[:, None, None]
        geo = ray_geometry(d / scale[:, None, None, None], placed, Kn, T_scaled)
        if cfg.gravity_frame:
            geo["R_canon"] = R_canon
    pose_in = torch.zeros(B, V, 12, device=dev)
    if T_ref_cam is not None:
        pose_in[..., :9] = T_ref_cam[..., :3, :3].flatten(-2)
        pose_in[..., 9:] = T_ref_cam[..., :3, 3] / scale[:, None, None]
    pose_known = use_pose[:, None].float().expand(B, V)
    out = {"pixels": pixels, "pose_in": pose_in, "pose_known": pose_known, "scale": scale,
           "metric": use_depth, "R_canon": R_canon}  # fmt: skip
    if geo is not None:
        out["geo"] = geo
    if points is not None:
        out["points"] = _rotate(R_canon, pts_ref / scale[:, None, None] - SHIFT.to(dev))
        T_c = T_ref_cam.clone()
        T_c[..., :3, 3] = T_c[..., :3, 3] / scale[:, None, None]
        out["T_ref_cam"] = T_c
        out["focal"] = Kn[..., 0, 0] / w
    return out


def _usable_views(B, V, T_ref_cam, use_pose) -> torch.Tensor:
    """(B, V) bool: views placed in view 0's frame (view 0 itself, others with known poses)."""
    posed = torch.zeros(B, V, dtype=torch.bool, device=use_pose.device)
    if T_ref_cam is not None:
        posed = use_pose[:, None].expand(B, V).clone()
    posed[:, 0] = True
    return posed


def _rotate(R: torch.Tensor, p: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """Apply (B, 3, 3) rotations ``R`` (or ``R^T``) to (B, ..., 3) vectors.

    Written as products and sums, not a matmul: TF32 or an autocast region would round a
    matmul's inputs to about three digits (millimetres at metre scale); the identity
    (a camera-frame model) leaves the vectors exactly as they are.
    """
    flat = p.reshape(p.shape[0], -1, 3)
    Rt = R.transpose(1, 2) if transpose else R
    out = sum(flat[..., i : i + 1] * Rt[:, None, :, i].to(flat.dtype) for i in range(3))
    return out.reshape(p.shape)


def _point_map(d, valid, rx, ry, T_ref_cam, scale, R_canon) -> torch.Tensor:
    """Canonical xyz of every valid depth pixel (B, V, 4, h, w): x, y, z, valid.

    ``valid`` (B, V, h, w): depth and intrinsics, and for views other than view 0 only
    when the window's relative poses are inputs (view 0 is the reference frame).
    """
    B, V, h, w = d.shape
    dev = d.device
    cam = torch.stack([rx.expand(B, V, h, w) * d, ry.expand(B, V, h, w) * d, d], dim=-1)
    ref = cam
    if T_ref_cam is not None:
        R, t = T_ref_cam[..., :3, :3], T_ref_cam[..., :3, 3]
        ref = torch.einsum("bvij,bvhwj->bvhwi", R, cam) + t[:, :, None, None]
    canon = _rotate(R_canon, ref / scale[:, None, None, None, None] - SHIFT.to(dev))
    canon = torch.where(valid[..., None], canon, torch.zeros_like(canon))
    return torch.cat([canon.permute(0, 1, 4, 2, 3), valid[:, :, None].float()], dim=2)


def _transform(T: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Apply (B, 4, 4) transforms to (B, N, 3) points."""
    return p @ T[:, :3, :3].transpose(1, 2) + T[:, None, :3, 3]


def to_reference_frame(points_canon: torch.Tensor, scale: torch.Tensor,
                       R_canon: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Canonical (B, N, 3) -> view 0's optical frame (metres when the scale is metric).

    ``R_canon``: the (B, 3, 3) canonical rotation :func:`prepare` returned (None = identity).
    """
    if R_canon is not None:
        points_canon = _rotate(R_canon, points_canon, transpose=True)
    return (points_canon + SHIFT.to(points_canon.device)) * scale[:, None, None]

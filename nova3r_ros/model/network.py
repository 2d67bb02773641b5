"""NOVA3R network: image encoder with scene tokens, point encoder, flow decoder, camera head.

All coordinates are canonical (see :mod:`nova3r_ros.model.config`): view 0's
optical frame (OpenCV: x right, y down, z forward), divided by the window scale,
shifted by (0, 0, -1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nova3r_ros.model.config import ModelConfig
from nova3r_ros.model.layers import AdaLNCrossBlock, Block, fourier_features, timestep_embedding
from nova3r_ros.model.ray_features import RAY_FEATURES, ray_features

# per-pixel input channels: RGB (3), depth / scale (1), depth valid (1), ray x/z and y/z (2),
# intrinsics known (1)
IMAGE_CHANNELS = 8
POSE_INPUT = 12  # known relative pose: rotation (9) + translation / scale (3)
POINTMAP_CHANNELS = 4  # with local_context: canonical x, y, z of each pixel (3) + valid (1)


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """Map (..., 6) to rotation matrices (..., 3, 3) by Gram-Schmidt (Zhou et al. 2019)."""
    a, b = x[..., :3], x[..., 3:]
    r1 = F.normalize(a, dim=-1)
    r2 = F.normalize(b - (r1 * b).sum(-1, keepdim=True) * r1, dim=-1)
    r3 = torch.cross(r1, r2, dim=-1)
    return torch.stack([r1, r2, r3], dim=-1)


class ImageEncoder(nn.Module):
    """Views -> per-view camera tokens and the scene-token latent (VGGT-style attention).

    Forward shapes: ``pixels`` (B, V, C, H, W) with C = IMAGE_CHANNELS (+ POINTMAP_CHANNELS
    with ``local_context``), ``pose_in`` (B, V, 12), ``pose_known`` (B, V) -> ``scene``
    (B, S, D), ``camera`` (B, V, D), ``tokens`` (B, V * (1 + P), D): every view's final
    camera and patch tokens (normalised).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.dim
        channels = IMAGE_CHANNELS + POINTMAP_CHANNELS * cfg.local_context
        self.patch_embed = nn.Conv2d(channels, d, cfg.patch, stride=cfg.patch)
        n_patches = (cfg.image_height // cfg.patch) * (cfg.image_width // cfg.patch)
        self.pos = nn.Parameter(torch.randn(1, 1, n_patches, d) * 0.02)
        self.camera_token = nn.Parameter(torch.randn(2, d) * 0.02)  # reference, other
        self.pose_embed = nn.Linear(POSE_INPUT, d)
        self.blocks = nn.ModuleList(
            Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.encoder_depth)
        )
        self.scene = nn.Parameter(torch.randn(1, cfg.scene_tokens, d) * 0.02)
        self.scene_blocks = nn.ModuleList(
            Block(d, cfg.heads, cfg.mlp_ratio, cross=True) for _ in range(cfg.scene_layers)
        )
        self.norm = nn.LayerNorm(d)

    def forward(self, pixels, pose_in, pose_known):
        """Encode a batch of windows."""
        B, V = pixels.shape[:2]
        tok = self.patch_embed(pixels.flatten(0, 1)).flatten(2).transpose(1, 2)
        tok = tok.view(B, V, -1, tok.shape[-1]) + self.pos
        is_ref = torch.zeros(V, dtype=torch.long, device=pixels.device)
        is_ref[1:] = 1
        cam = self.camera_token[is_ref][None].expand(B, V, -1)
        cam = cam + self.pose_embed(pose_in) * pose_known[..., None]
        x = torch.cat([cam[:, :, None], tok], dim=2)  # (B, V, 1 + P, D)
        P1 = x.shape[2]
        for i, block in enumerate(self.blocks):
            if i % 2 == 0:  # frame-wise attention
                x = block(x.flatten(0, 1)).view(B, V, P1, -1)
            else:  # global attention over all views' tokens
                x = block(x.flatten(1, 2)).view(B, V, P1, -1)
        ctx = self.norm(x.flatten(1, 2))
        scene = self.scene.expand(B, -1, -1)
        for block in self.scene_blocks:
            scene = block(scene, ctx)
        return scene, x[:, :, 0], ctx


class PointEncoder(nn.Module):
    """Stage 1: complete cloud (B, N, 3) canonical -> scene-token latent (B, S, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.bands = cfg.fourier_bands
        self.embed = nn.Linear(3 * (2 * cfg.fourier_bands + 1), cfg.dim)
        self.scene = nn.Parameter(torch.randn(1, cfg.scene_tokens, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cross=True) for _ in range(cfg.scene_layers)
        )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Encode a batch of clouds."""
        ctx = self.embed(fourier_features(points, self.bands))
        scene = self.scene.expand(points.shape[0], -1, -1)
        for block in self.blocks:
            scene = block(scene, ctx)
        return scene


class FlowDecoder(nn.Module):
    """Velocity field v(x_t, t | scene tokens) plus a per-point observed logit.

    Forward shapes: ``x`` (B, N, 3) noisy canonical points, ``t`` (B,) in [0, 1],
    ``scene`` (B, S, D), optional ``geo`` (see :func:`ray_features.ray_geometry`; used
    with ``cfg.ray_features``) -> (B, N, 4): velocity (3) and observed logit (1).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.dim
        self.bands = cfg.fourier_bands
        self.embed = nn.Linear(3 * (2 * cfg.fourier_bands + 1), d)
        self.ray_embed = nn.Linear(RAY_FEATURES, d) if cfg.ray_features else None
        if self.ray_embed is not None:  # zero: adding the features starts as a no-op
            nn.init.zeros_(self.ray_embed.weight)
            nn.init.zeros_(self.ray_embed.bias)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(
            AdaLNCrossBlock(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.decoder_depth)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 4)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, scene: torch.Tensor, geo: dict | None = None
    ) -> torch.Tensor:
        """Predict velocity and observed logit for every point."""
        h = self.embed(fourier_features(x, self.bands))
        if self.ray_embed is not None and geo is not None:
            h = h + self.ray_embed(ray_features(x, geo).to(h.dtype))
        t_emb = self.t_mlp(timestep_embedding(t, h.shape[-1]).to(h.dtype))
        for block in self.blocks:
            h = block(h, scene, t_emb)
        return self.head(self.norm(h))


class CameraHead(nn.Module):
    """Camera tokens (B, V, D) -> T_ref_cam (B, V, 4, 4) canonical units, focal/width (B, V).

    View 0's pose is the identity by construction. Runs in fp32 (numerically sensitive).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, 10)
        )
        # a constant on the model's device (no host copy per call: CUDA-graph capturable)
        self.register_buffer("ident6", torch.tensor([1.0, 0, 0, 0, 1, 0]), persistent=False)

    def forward(self, camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict poses relative to view 0 and focal lengths (in image widths)."""
        with torch.autocast(device_type=camera.device.type, enabled=False):
            out = self.mlp(camera.float())
            R = rot6d_to_matrix(out[..., 3:9] + self.ident6)
            t = out[..., :3]
            T = torch.zeros(*camera.shape[:2], 4, 4, device=camera.device)
            T[..., :3, :3], T[..., :3, 3], T[..., 3, 3] = R, t, 1.0
            T[:, 0] = torch.eye(4, device=camera.device)
            focal = F.softplus(out[..., 9] + 0.5413)  # softplus(0.5413) = 1: fov ~ 53 deg
        return T, focal


class Nova3r(nn.Module):
    """The whole model: image encoder, point encoder (stage 1), flow decoder, camera head.

    ``forward`` is not used for inference; see :func:`nova3r_ros.model.inference.infer`.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.image_encoder = ImageEncoder(cfg)
        self.point_encoder = PointEncoder(cfg)
        self.decoder = FlowDecoder(cfg)
        self.camera_head = CameraHead(cfg)

    def encode_images(self, pixels, pose_in, pose_known):
        """Return (decoder tokens (B, S', D), T_ref_cam (B, V, 4, 4), focal (B, V)).

        The decoder tokens are the scene tokens (S' = S), followed with ``local_context``
        by every view's camera and patch tokens (S' = S + V * (1 + P)).
        """
        scene, camera, tokens = self.image_encoder(pixels, pose_in, pose_known)
        T, focal = self.camera_head(camera)
        if self.cfg.local_context:
            scene = torch.cat([scene, tokens], dim=1)
        return scene, T, focal

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights needed at inference (the stage-1 point encoder is left out)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("point_encoder.")}

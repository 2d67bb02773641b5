"""Transformer building blocks (fused attention via ``scaled_dot_product_attention``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention; ``context=None`` is self-attention.

    Shapes: ``x`` (B, N, D), ``context`` (B, M, D) -> (B, N, D).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` to ``context`` (or to ``x``)."""
        B, N, D = x.shape
        ctx = x if context is None else context
        q = self.q(x).view(B, N, self.heads, D // self.heads).transpose(1, 2)
        k, v = self.kv(ctx).view(B, -1, 2, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, N, D))


class MLP(nn.Module):
    """Two-layer GELU MLP: (..., D) -> (..., D)."""

    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP."""
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, optional cross-attention, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, cross: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.cross = Attention(dim, heads) if cross else None
        self.norm_c = nn.LayerNorm(dim) if cross else None
        self.norm_ctx = nn.LayerNorm(dim) if cross else None
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Update ``x`` (B, N, D), attending to ``context`` (B, M, D) when cross."""
        x = x + self.attn(self.norm1(x))
        if self.cross is not None:
            x = x + self.cross(self.norm_c(x), self.norm_ctx(context))
        return x + self.mlp(self.norm2(x))


class AdaLNCrossBlock(nn.Module):
    """Flow-decoder block: per-point cross-attention to scene tokens and an MLP.

    Points do not attend to each other, so any number of points can be decoded
    in chunks. The flow time ``t`` modulates both sub-layers (adaLN-Zero).
    Shapes: ``x`` (B, N, D), ``tokens`` (B, S, D), ``t_emb`` (B, D).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.norm_ctx = nn.LayerNorm(dim)
        self.cross = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = MLP(dim, mlp_ratio)
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """Update the point features ``x``."""
        s1, b1, g1, s2, b2, g2 = self.ada(F.silu(t_emb))[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        x = x + g1 * self.cross(h, self.norm_ctx(tokens))
        h = self.norm2(x) * (1 + s2) + b2
        return x + g2 * self.mlp(h)


def fourier_features(x: torch.Tensor, bands: int) -> torch.Tensor:
    """Encode (..., C) coordinates as (..., C * (2 * bands + 1)) sin/cos features."""
    freqs = (2.0 ** torch.arange(bands, device=x.device, dtype=x.dtype)) * math.pi
    xf = x[..., None] * freqs  # (..., C, bands)
    feats = torch.cat([x[..., None], torch.sin(xf), torch.cos(xf)], dim=-1)
    return feats.flatten(-2)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow times ``t`` (B,) in [0, 1] -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * 1000.0 * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

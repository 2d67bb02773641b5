"""JPEG-like compression round trip in torch: real 8x8 DCT quantisation, batched on any device.

RGB -> YCbCr (JFIF), 4:2:0 chroma (2x2 mean, nearest upsampling), per 8x8 block an
orthonormal DCT-II, quantisation with the IJG (Annex K) luminance / chrominance tables
scaled by quality as libjpeg does, inverse DCT, back to RGB. No entropy coding (lossless,
so it changes nothing), no chroma filtering.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

_Q_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
           69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55,
           64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100,
           103, 99)  # fmt: skip
_Q_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99,
             99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32  # fmt: skip
_YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


@functools.lru_cache(maxsize=8)
def _constants(device: torch.device):
    """DCT matrix (8, 8), quant tables (1, 2, 8, 8), RGB->YCbCr and back (3, 3) on device."""
    k = torch.arange(8, dtype=torch.float64)
    D = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * 0.5
    D[0] = D[0] / math.sqrt(2)  # orthonormal DCT-II (the JPEG scaling)
    tab = torch.tensor((_Q_LUMA, _Q_CHROMA), dtype=torch.float64).view(1, 2, 8, 8)
    return tuple(t.to(device, torch.float32) for t in (D, tab, torch.tensor(_YCC),
                                                       torch.tensor(_RGB)))  # fmt: skip


def _blocks(p: torch.Tensor, q: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """Quantise the 8x8 DCT of planes p (N, C, h, w) with steps q (N, 1, 8, 8)."""
    N, C, h, w = p.shape
    b = p.view(N, C, h // 8, 8, w // 8, 8).transpose(3, 4)
    qq = q.view(N, 1, 1, 1, 8, 8)
    coef = torch.round(D @ b @ D.T / qq) * qq
    return (D.T @ coef @ D).transpose(3, 4).reshape(N, C, h, w)


def jpeg_roundtrip(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-like round trip of RGB (N, 3, H, W) in [0, 1] at per-image quality (N,) 1-100."""
    N, _, H, W = x.shape
    dev = x.device
    D, tab, M, Minv = _constants(dev)
    quality = quality.to(device=dev, dtype=torch.float32).clamp(1, 100)
    scale = torch.where(quality < 50, 5000 / quality, 200 - 2 * quality).view(N, 1, 1, 1)
    q = torch.floor((tab * scale + 50) / 100).clamp(1, 255)
    ph, pw = (-H) % 16, (-W) % 16
    rgb = F.pad(x, (0, pw, 0, ph), mode="replicate") * 255
    ycc = torch.einsum("ij,njhw->nihw", M, rgb)
    luma = _blocks(ycc[:, :1] - 128, q[:, :1], D) + 128
    chroma = _blocks(F.avg_pool2d(ycc[:, 1:], 2), q[:, 1:], D)  # 4:2:0
    chroma = chroma.repeat_interleave(2, -2).repeat_interleave(2, -1)
    out = torch.einsum("ij,njhw->nihw", Minv, torch.cat([luma, chroma], 1))
    return (out[..., :H, :W] / 255).clamp(0, 1)

"""A small learned dense matcher for RGB-only pose refinement (synthetic-trained, optional).

:class:`MatchNet` maps an RGB image (H, W multiples of 32) to L2-normalised descriptors
at 1/4 resolution: a strided convolutional pyramid down to 1/32 (a receptive field that
covers objects and the table's edge, so a stripe or check of the table is told from its
neighbours by what surrounds it), merged top-down back to 1/4 (feature-pyramid style).

:func:`dense_matches` matches two images' descriptor maps by a dual softmax (both
directions' softmax of the cosine similarity over ``temperature``), keeps mutual best
cells whose matching probability is at least ``min_probability``, and refines each match
in the second image to sub-cell precision by the probability-weighted mean of its 3x3
neighbourhood. Pixel coordinates of each full image are returned (x right, y down, pixel
centres at integers, as OpenCV's keypoints and ``K`` use them).

Trained on synthetic windows only (:mod:`nova3r_ros.train.matcher_train`): pairs of
rendered views with their true depth and poses give each sampled cell of one view its
cell in the other; the loss is the cross-entropy of that cell among all the other view's
cells, both ways.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4  # descriptor cells per image pixel: 1 / STRIDE resolution
MULTIPLE = 32  # image sides must be multiples of this (the pyramid's coarsest level)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GELU())


class MatchNet(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> descriptors (B, dim, H / 4, W / 4), unit length."""

    def __init__(self, channels: tuple[int, ...] = (24, 48, 80, 96, 96), dim: int = 64):
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"MatchNet needs 5 channel widths, got {channels}")
        c1, c2, c3, c4, c5 = channels
        self.channels, self.dim = tuple(channels), dim
        self.down = nn.ModuleList([
            nn.Sequential(_conv(3, c1, 2), _conv(c1, c1)),  # 1/2
            nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2)),  # 1/4
            nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3)),  # 1/8
            nn.Sequential(_conv(c3, c4, 2), _conv(c4, c4)),  # 1/16
            nn.Sequential(_conv(c4, c5, 2), _conv(c5, c5)),  # 1/32
        ])  # fmt: skip
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in (c2, c3, c4, c5))
        self.out = nn.Sequential(_conv(dim, dim), nn.Conv2d(dim, dim, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """Descriptors of ``rgb`` (sides multiples of :data:`MULTIPLE`)."""
        x = rgb * 2.0 - 1.0
        levels = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i >= 1:
                levels.append(x)
        y = self.lateral[-1](levels[-1])
        for lat, feat in zip(self.lateral[-2::-1], levels[-2::-1], strict=True):
            y = F.interpolate(y, size=feat.shape[-2:], mode="bilinear", align_corners=False)
            y = y + lat(feat)
        return F.normalize(self.out(y), dim=1)


def prepare_image(
    image: np.ndarray, width: int, device
) -> tuple[torch.Tensor, tuple[float, float]]:
    """(1, 3, h, w) float image resized to ``width`` (sides multiples of 32) and its scales.

    ``image``: (H, W, 3) uint8 RGB. Returns the tensor and the factors (new px / old px)
    along x (w / W) and y (h / H); the aspect ratio is kept to within a multiple of 32.
    """
    H, W = image.shape[:2]
    w = max(MULTIPLE, round(width / MULTIPLE) * MULTIPLE)
    h = max(MULTIPLE, round(H * w / W / MULTIPLE) * MULTIPLE)
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()
    t = F.interpolate(t / 255.0, size=(h, w), mode="bilinear", align_corners=False,
                      antialias=True)  # fmt: skip
    return t, (w / W, h / H)


def cell_to_px(c: torch.Tensor, scale: float) -> torch.Tensor:
    """Cell index (sub-cell allowed) -> pixel of the original image (centres at integers).

    Cell ``c`` covers network pixels ``STRIDE c .. STRIDE c + STRIDE - 1``; ``scale`` is the
    network image's pixels per original pixel (resized with half-pixel centres).
    """
    return (c + 0.5) * STRIDE / scale - 0.5


def px_to_cell(px: torch.Tensor, scale: float) -> torch.Tensor:
    """Invert :func:`cell_to_px` (fractional cell index)."""
    return (px + 0.5) * scale / STRIDE - 0.5


def dual_softmax(d_a: torch.Tensor, d_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N_a, N_b) matching probabilities of descriptors (dim, N_a) and (dim, N_b)."""
    s = (d_a.T @ d_b) / temperature
    return s.softmax(0) * s.softmax(1)


def sqrt_dual_softmax(d_a: torch.Tensor, d_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return the square root of :func:`dual_softmax` (unit descriptors), one exponential.

    With ``E = exp((cos - 1) / temperature)`` the dual softmax is ``E**2 / (rows * cols)``
    (``rows``, ``cols``: E's sums), so ``E / sqrt(rows * cols)`` has the same row and column
    argmax; one exponential and no softmax temporaries (2.5x faster on a 2-core CPU for
    3,072 x 3,072 cells). Unit descriptors keep ``cos - 1`` in [-2, 0]; for temperatures
    under 0.025 the exponential could underflow, and :func:`dual_softmax` is used instead.
    """
    if temperature < 0.025:
        return dual_softmax(d_a, d_b, temperature).sqrt_()
    shift = torch.full((1, 1), -1.0 / temperature, dtype=d_a.dtype, device=d_a.device)
    E = torch.addmm(shift, d_a.T, d_b, alpha=1.0 / temperature).exp_()
    rows, cols = E.sum(1), E.sum(0)
    return E.mul_(cols.rsqrt()[None]).mul_(rows.rsqrt()[:, None])


@torch.no_grad()
def describe(
    net: MatchNet, image: np.ndarray, width: int = 256
) -> tuple[torch.Tensor, tuple[float, float]]:
    """(dim, h / 4, w / 4) descriptors of one RGB image and its scales (:func:`prepare_image`).

    The image is resized to ``width`` (the matcher's training width) for the network.
    """
    t, scale = prepare_image(image, width, next(net.parameters()).device)
    return net(t)[0], scale


def dense_matches(
    net: MatchNet,
    image_a: np.ndarray,
    image_b: np.ndarray,
    width: int = 256,
    temperature: float = 0.05,
    min_probability: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match two RGB images: (x_a (N, 2), x_b (N, 2) px, probability (N,)).

    :func:`describe` of each, then :func:`match_descriptors`; the coordinates are in each
    image's own pixels.
    """
    return match_descriptors(*describe(net, image_a, width), *describe(net, image_b, width),
                             temperature, min_probability)  # fmt: skip


@torch.no_grad()
def match_descriptors(
    da: torch.Tensor,
    scale_a: tuple[float, float],
    db: torch.Tensor,
    scale_b: tuple[float, float],
    temperature: float = 0.05,
    min_probability: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match two images' :func:`describe` outputs: (x_a (N, 2), x_b (N, 2) px, probability).

    Mutual best cells of the dual softmax with probability >= ``min_probability``, refined
    to sub-cell precision in b (module docstring); pixels of each original image.
    """
    (sxa, sya), (sxb, syb) = scale_a, scale_b
    dev = da.device
    hb, wb = db.shape[-2:]
    wa = da.shape[-1]
    R = sqrt_dual_softmax(da.flatten(1), db.flatten(1), temperature)  # sqrt of P
    best_b = R.argmax(1)
    ia = torch.arange(R.shape[0], device=dev)
    r_best = R[ia, best_b]
    # mutual: a's best cell in b has its column's maximum at a. The column maxima (amax)
    # instead of the column argmax: a strided argmax over 3,072 x 3,072 costs 20 times as
    # much on the CPU; of rows tied at a column's maximum only the first is kept, as argmax
    col_max = R.amax(0)
    keep = (r_best == col_max[best_b]) & (r_best.square() >= min_probability)
    ia, ib = ia[keep], best_b[keep]
    if len(ib) > 1:  # exact ties: keep the first row per column (argmax's choice)
        first = torch.ones_like(ib, dtype=torch.bool)
        order = torch.argsort(ib, stable=True)
        first[order[1:]] = ib[order[1:]] != ib[order[:-1]]
        ia, ib = ia[first], ib[first]
    prob = R[ia, ib].square()
    # sub-cell refinement in b: probability-weighted mean of the 3x3 cells around the best
    yb, xb = (ib // wb).float(), (ib % wb).float()
    num_x = torch.zeros_like(xb)
    num_y = torch.zeros_like(yb)
    den = torch.zeros_like(xb)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y, x = yb + dy, xb + dx
            inside = (y >= 0) & (y < hb) & (x >= 0) & (x < wb)
            j = (y.clamp(0, hb - 1) * wb + x.clamp(0, wb - 1)).long()
            w = R[ia, j].square() * inside
            num_x, num_y, den = num_x + w * x, num_y + w * y, den + w
    xb, yb = num_x / den, num_y / den
    ya, xa = (ia // wa).float(), (ia % wa).float()
    # cell centres -> the network image's pixels -> the original image's (centres at integers)
    px_a = torch.stack([cell_to_px(xa, sxa), cell_to_px(ya, sya)], 1)
    px_b = torch.stack([cell_to_px(xb, sxb), cell_to_px(yb, syb)], 1)
    return (px_a.cpu().numpy().astype(np.float64), px_b.cpu().numpy().astype(np.float64),
            prob.cpu().numpy())  # fmt: skip

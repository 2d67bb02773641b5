"""A pixel-aligned head that predicts the surfaces a depth camera did not measure.

For each cell of a coarse grid over one RGB-D view (``cell_px`` input pixels square at
the head's input size), the head predicts up to ``layers`` unmeasured surfaces along the
cell's rays: the first surface where the sensor returned nothing (a hole), and the
surfaces behind the measured one (the back of an object, the floor or wall it hides).
Each layer is an existence logit and its depth: with one mode, a depth and its
uncertainty (the scale b of a Laplace distribution of the log depth's error); with
``modes`` K > 1, a mixture of K such Laplace distributions with their weights (where a
surface may be one of several things, a chair's back or the floor behind it, the head
need not average them). Each mode is published as its own point; a point's confidence
is its layer's existence probability times its mode's weight times the probability that
its depth lies within :data:`DEPTH_TOLERANCE_M` of the surface, ``1 - exp(-(tol / z) /
b)``. A mode is either absolute (its log depth relative to the view's median depth) or
anchored (relative to the cell's own measured depth, ``anchored_modes``;
:mod:`nova3r_ros.model.hidden_anchor`), so that "just behind what the sensor measured"
is an offset, not a depth to reproduce. It sees only what transfers from simulation
to a real sensor: the depth normalised by its median, its validity, the grey image and
the rays' directions (so any field of view works); trained on synthetic windows with
simulated sensors (:mod:`nova3r_ros.train.hidden_train`), never on real frames.

Shapes: the input depth (V, H, W) metres (0 = no return) and images (V, H, W, 3) uint8
at any size with intrinsics K (V, 3, 3) are resampled to the head's
``height x width``; outputs are (V, L, h, w) with ``h = height / cell_px`` (the network's
depths (V, L, K, h, w); :func:`head_layers` returns the L x K modes as (V, L * K, h, w),
layer-major). Frames:
layer depths are optical z in each view's camera frame, metres. Files:
:mod:`nova3r_ros.model.hidden_head_files`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nova3r_ros.model.hidden_anchor import (
    PICK_RADIUS,
    anchor_log_ratio,
    neighbour_log_ratios,
    picked_log_ratio,
)
from nova3r_ros.model.measurement import pixel_rays

DEPTH_TOLERANCE_M = 0.05  # a point is right within this of the surface (the protocol's 5 cm)
DEFAULT_MIN_PROBABILITY = 0.5  # a head whose hidden_head.json names no threshold
CONTEXT_HEADS = 4  # attention heads of a context block


@dataclass(frozen=True)
class HiddenHeadConfig:
    """Architecture of :class:`HiddenHead`.

    Attributes:
        height, width: input size (px) the views are resampled to.
        cell_px: output cell size in input pixels (the output grid is ``height / cell_px``
            by ``width / cell_px``).
        layers: unmeasured surfaces predicted per cell.
        channels: feature channels of the encoder levels (the first at full input size).
        context: self-attention blocks over the coarsest level's cells of a view (0: none),
            so that those cells exchange information directly (:class:`ContextBlock`).
        modes: depth modes per layer (1: one Laplace; K > 1: a mixture, module docstring).
        anchored_modes: how many of each layer's modes (the last ones before the picked
            ones) predict depth relative to the cell's measured depth (holes filled from
            around them) instead of the view's median depth
            (:mod:`nova3r_ros.model.hidden_anchor`); 0-modes.
        neighbour_modes: how many of each layer's modes (the last ones) take their depth
            from one of the measured depths around the cell, which the head picks
            (:func:`~nova3r_ros.model.hidden_anchor.picked_log_ratio`); 0 to
            ``modes - anchored_modes``. Mode order: absolute, anchored, picked.
    """

    height: int = 120
    width: int = 160
    cell_px: int = 2
    layers: int = 2
    channels: tuple[int, ...] = (32, 64, 128, 192)
    context: int = 0
    modes: int = 1
    anchored_modes: int = 0
    neighbour_modes: int = 0

    def __post_init__(self) -> None:
        down = 2 ** (len(self.channels) - 1)
        if self.height % down or self.width % down:
            raise ValueError(f"height and width must be multiples of {down}")
        if self.cell_px not in (1, 2, 4) or self.layers < 1 or min(self.channels) < 1:
            raise ValueError("cell_px must be 1, 2 or 4; layers and channels >= 1")
        if not 0 <= self.context <= 8 or (self.context and self.channels[-1] % CONTEXT_HEADS):
            raise ValueError(f"context must be 0-8 blocks, the last channels a multiple of "
                             f"{CONTEXT_HEADS}")  # fmt: skip
        if not 1 <= self.modes <= 4:
            raise ValueError(f"modes must be 1-4, got {self.modes}")
        if type(self.anchored_modes) is not int or not 0 <= self.anchored_modes <= self.modes:
            raise ValueError(f"anchored_modes must be 0-{self.modes}, got {self.anchored_modes!r}")
        room = self.modes - self.anchored_modes
        if type(self.neighbour_modes) is not int or not 0 <= self.neighbour_modes <= room:
            raise ValueError(f"neighbour_modes must be 0-{room}, got {self.neighbour_modes!r}")

    @property
    def out_channels(self) -> int:
        """Return the output channels.

        L logits, L x K depths and scales, L x K mode logits if K > 1, then L x N x P pick
        logits of the N picked modes (P neighbours each).
        """
        L, K = self.layers, self.modes
        return (3 * L if K == 1 else L + 3 * L * K) + L * self.neighbour_modes * self.picks

    @property
    def picks(self) -> int:
        """P, the neighbours a picked mode chooses among."""
        return (2 * PICK_RADIUS + 1) ** 2

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) of the output grid."""
        return self.height // self.cell_px, self.width // self.cell_px


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8 if cout % 8 == 0 else 1, cout),
        nn.GELU(), nn.Conv2d(cout, cout, 3, padding=1),
        nn.GroupNorm(8 if cout % 8 == 0 else 1, cout), nn.GELU(),
    )  # fmt: skip


class ContextBlock(nn.Module):
    """Self-attention and an MLP over one view's cells (pre-norm, residual).

    Input (V, N, C) cell features and (V, N, 2) the cells' ray x/z, y/z (their position);
    output (V, N, C). The residual branches' last layers start at zero, so a block added
    to a trained head leaves its outputs unchanged until it is trained
    (:func:`~nova3r_ros.train.hidden_grow.with_context`).
    """

    def __init__(self, dim: int, heads: int = CONTEXT_HEADS, mlp: int = 2) -> None:
        super().__init__()
        self.pos = nn.Linear(2, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Linear(mlp * dim, dim))
        for layer in (self.attn.out_proj, self.mlp[2]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, rays: torch.Tensor) -> torch.Tensor:
        """Return x (V, N, C) updated by attention among its N cells and the MLP."""
        h = self.norm1(x) + self.pos(rays)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class HiddenHead(nn.Module):
    """A small U-Net: (V, 5, height, width) features -> per-cell layers (module docstring).

    With ``config.context`` blocks, the coarsest level's cells attend to each other.
    """

    IN_CHANNELS = 5

    def __init__(self, config: HiddenHeadConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or HiddenHeadConfig()
        # the confidence thresholds chosen on validation (hidden_head.json; load_head): for
        # windows of several views, and for one view (None: the same)
        self.min_probability = DEFAULT_MIN_PROBABILITY
        self.single_view_min_probability: float | None = None
        ch = config.channels
        pairs = list(itertools.pairwise(ch))
        first = _block(self.IN_CHANNELS, ch[0])
        self.down = nn.ModuleList([first] + [_block(a, b) for a, b in pairs])
        self.up = nn.ModuleList([_block(b + a, a) for a, b in pairs])
        self.out = nn.Conv2d(ch[0], config.out_channels, 1)
        self.context = nn.ModuleList([ContextBlock(ch[-1]) for _ in range(config.context)])

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return x's existence logits (V, L, h, w) and its modes' outputs (V, L, K, h, w).

        The modes' outputs: log depth ratios, log uncertainties and weight logits. ``x``
        from :func:`features`; the depth of layer l's mode k is ``scale * exp(ratio)``; its
        uncertainty the Laplace scale ``b = exp(log_b)`` of the log depth's error; its
        weight the softmax over k of the weight logits (zeros if K = 1). The depth outputs
        of the anchored modes are offsets from each cell's anchor
        (:func:`~nova3r_ros.model.hidden_anchor.anchor_log_ratio`), those of the picked
        (last) modes offsets from the neighbour anchor they pick; both added here.
        """
        A, N = self.config.anchored_modes, self.config.neighbour_modes
        anchor = anchor_log_ratio(x[:, 0], self.config.cell_px) if A or N else None
        skips, rays = [], x[:, 3:5]
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        if len(self.context):
            V, C, h, w = x.shape
            r = F.adaptive_avg_pool2d(rays, (h, w)).flatten(2).transpose(1, 2)  # (V, h*w, 2)
            t = x.flatten(2).transpose(1, 2)  # (V, h*w, C)
            for block in self.context:
                t = block(t, r)
            x = t.transpose(1, 2).reshape(V, C, h, w)
        for block, skip in zip(reversed(self.up), reversed(skips[:-1]), strict=True):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:]), skip], 1))
        if self.config.cell_px > 1:
            x = F.avg_pool2d(x, self.config.cell_px)
        y = self.out(x)
        L, K = self.config.layers, self.config.modes
        P = self.config.picks
        modes = y[:, L : y.shape[1] - L * N * P].unflatten(1, (-1, L, K))  # (V, 2|3, L, K, h, w)
        weight = modes[:, 2] if K > 1 else torch.zeros_like(modes[:, 0])
        ratio = modes[:, 0]
        if anchor is not None:  # (V, L, K, h, w): anchored and picked modes offset
            offsets = [torch.zeros_like(ratio[:, :, : K - A - N]),
                       anchor[:, None, None].expand(-1, L, A, -1, -1)]  # fmt: skip
            if N:
                logits = y[:, y.shape[1] - L * N * P :].unflatten(1, (L, N, P))
                near = neighbour_log_ratios(anchor, PICK_RADIUS)
                offsets.append(picked_log_ratio(logits, near).to(ratio.dtype))
            ratio = ratio + torch.cat(offsets, 2)
        return y[:, :L], ratio, modes[:, 1].clamp(-7.0, 2.0), weight


def resample_view(
    depth: torch.Tensor, images: torch.Tensor, K: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Resample (V, H, W) depth, (V, H, W, 3) uint8 images and K (V, 3, 3) to height x width.

    Depth by nearest neighbour (a hole stays a hole, no mixed depths at edges), colour by
    area averaging; K scaled to the new size (pixel centres kept).
    """
    H, W = depth.shape[-2:]
    d = resample_depth(depth, height, width)
    img = images.permute(0, 3, 1, 2).float() / 255.0
    img = F.interpolate(img, size=(height, width), mode="area" if height <= H else "bilinear")
    sx, sy = width / W, height / H
    K = K.float().clone()
    K[:, 0] *= sx
    K[:, 1] *= sy
    K[:, 0, 2] += 0.5 * sx - 0.5
    K[:, 1, 2] += 0.5 * sy - 0.5
    return d, img, K


def resample_depth(depth: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(V, H, W) depth resampled to (V, height, width), nearest neighbour (as the head sees it)."""
    return F.interpolate(depth[:, None].float(), size=(height, width), mode="nearest")[:, 0]


def point_cells(
    points: torch.Tensor, T_cam: torch.Tensor, K: torch.Tensor, config: HiddenHeadConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return where points (B, M, 3) fall in each view's output grid.

    ``T_cam`` (B, 4, 4) camera-to-frame (OpenCV optical) in the points' frame, ``K``
    (B, 3, 3) at the head's input size. Returns the optical z (B, M) metres and the cell
    column and row (B, M) long (not clipped to the grid).
    """
    R, t = T_cam[:, :3, :3].float(), T_cam[:, :3, 3].float()
    pc = torch.einsum("bji,bmj->bmi", R, points.float() - t[:, None])  # R^T (p - t)
    z = pc[..., 2]
    zs = torch.where(z > 1e-3, z, torch.ones_like(z))
    u = K[:, 0, 0, None] * pc[..., 0] / zs + K[:, 0, 1, None] * pc[..., 1] / zs + K[:, 0, 2, None]
    v = K[:, 1, 1, None] * pc[..., 1] / zs + K[:, 1, 2, None]
    c = config.cell_px
    return z, torch.floor((u + 0.5) / c).long(), torch.floor((v + 0.5) / c).long()


def features(
    depth: torch.Tensor, img: torch.Tensor, K: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the head's input (V, 5, h, w) and each view's depth scale (V,) metres.

    Channels: depth / scale (0 at holes), validity, grey, the rays' x / z and y / z.
    ``scale`` is the view's median valid depth (1 m where none is valid).
    """
    h, w = depth.shape[-2:]
    valid = depth > 0
    med = torch.nanmedian(torch.where(valid, depth, torch.nan).flatten(1), dim=1).values
    scale = torch.where(torch.isfinite(med), med, torch.ones_like(med)).clamp_min(0.05)
    grey = (0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]) * 2 - 1
    rx, ry = pixel_rays(K, torch.arange(h, device=depth.device, dtype=torch.float32),
                        torch.arange(w, device=depth.device, dtype=torch.float32))  # fmt: skip
    x = torch.stack([depth / scale[:, None, None], valid.float(), grey, rx, ry], 1)
    return x, scale


def cell_rays(K: torch.Tensor, config: HiddenHeadConfig) -> torch.Tensor:
    """(V, h, w, 3) ray (x/z, y/z, 1) through each output cell's centre; K at the input size."""
    c = config.cell_px
    h, w = config.grid
    dev = K.device
    v = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) * c - 0.5
    u = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) * c - 0.5
    rx, ry = pixel_rays(K, v, u)
    return torch.stack([rx, ry, torch.ones_like(rx)], -1)


@torch.no_grad()
def head_layers(
    head: HiddenHead, depth: torch.Tensor, images: torch.Tensor, K: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the head on V views; return its layers (module docstring for the inputs).

    Returns K (V, 3, 3) at the head's input size, and each (V, L * K, h, w), one entry per
    layer and mode (layer-major): the modes' depths z (optical, metres), the probabilities
    that the layer exists with its depth in that mode (existence times the mode's weight)
    and confidences (that times the probability that the depth is within
    :data:`DEPTH_TOLERANCE_M`). With one mode these are the layers' own. Float32, on the
    depth's device.
    """
    cfg = head.config
    d, img, Ks = resample_view(depth, images, K, cfg.height, cfg.width)
    x, scale = features(d, img, Ks)
    logits, ratio, log_b, weight = head(x)
    z = scale[:, None, None, None, None] * torch.exp(ratio.clamp(-4.0, 4.0))
    within = 1.0 - torch.exp(-(DEPTH_TOLERANCE_M / z) / torch.exp(log_b))
    exist = torch.sigmoid(logits)[:, :, None] * torch.softmax(weight, dim=2)
    return Ks, z.flatten(1, 2), exist.flatten(1, 2), (exist * within).flatten(1, 2)


def layer_points(Ks: torch.Tensor, z: torch.Tensor, T_ref_cam: torch.Tensor,
                 config: HiddenHeadConfig) -> torch.Tensor:  # fmt: skip
    """(V, L, h, w, 3) points at depths ``z`` on the cells' central rays, reference frame."""
    cam = cell_rays(Ks, config)[:, None] * z[..., None]
    T = T_ref_cam.float()
    return torch.einsum("vij,vlhwj->vlhwi", T[:, :3, :3], cam) + T[:, None, None, None, :3, 3]


@torch.no_grad()
def predict_points(
    head: HiddenHead, depth: torch.Tensor, images: torch.Tensor, K: torch.Tensor,
    T_ref_cam: torch.Tensor, min_probability: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return the predicted unmeasured surface points (N, 3), confidence (N,), view (N,).

    One point per cell and layer whose confidence (existence probability times the
    probability that the depth is within :data:`DEPTH_TOLERANCE_M`) is at least
    ``min_probability``, on the cell's central ray at the layer's depth, in the reference
    frame (``T_ref_cam`` (V, 4, 4)). Inputs as in the module docstring; runs the head on
    the depth's device in float32.
    """
    Ks, z, _, prob = head_layers(head, depth, images, K)
    pts = layer_points(Ks, z, T_ref_cam, head.config)
    keep = prob >= min_probability
    view = torch.arange(depth.shape[0], device=depth.device)[:, None, None, None].expand_as(prob)
    return pts[keep], prob[keep], view[keep]

"""Depth-sensor and colour-camera degradation of synthetic training batches (torch only).

:func:`degrade_batch` takes a :func:`~nova3r_ros.synth.generate.generate_batch` dict
(``depth`` float32 (B, V, H, W) z-depth (m) in each view's OpenCV optical frame, 0 =
invalid; ``images`` (B, V, 3, H, W) RGB uint8 0-255 or float32 0-1; ``K`` float32
(B, V, 3, 3) px) and returns a new dict whose depth and images look like a real RGB-D
sensor's. Each window draws one :class:`SensorModel`; all randomness comes from the given
generator, on the batch's device, vectorised over windows, views and pixels. Depth, in
order: dropouts or flying pixels (fore/background mix) at discontinuities; occlusion
shadows of a projector / second imager at +x, exact for a horizontal baseline (pixel u is
shadowed when some u' > u has disparity d(u') - d(u) >= u' - u: a reverse cummax), so they
lie left of foreground objects, and for stereo the left band whose match leaves the image;
holes on dark pixels, low texture, grazing incidence (normals from inverse-depth
gradients) and random smooth blobs; a per-window scale error; disparity noise and
quantisation in inverse depth, with combined std ``disp_noise_px`` at the sensor's native
focal (metric noise is resolution-independent; pixel effects use the batch's ``K``); ToF
noise; smooth correlated noise (6x8 grid, upsampled); mm quantisation (16UC1);
misregistration and jitter by nearest sampling of a shifted grid; range limits. Colour:
separable Gaussian blur (conv2d), exposure, white balance, shot + read noise, gamma, and a
real 8x8 DCT JPEG quantisation (IJG tables scaled by quality, YCbCr, 4:2:0 chroma, no
entropy coding). Cost, all presets mixed, windows of 4 views at 128x96: ~13 ms per window
on 2 CPU threads (16-window batch, quiet machine; 20-30 ms on a contended one); about 450
elementwise ops per batch whatever its size, so a GPU batch is launch-bound (measure there).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import torch
import torch.nn.functional as F

from nova3r_ros.synth.jpeg import jpeg_roundtrip

KINDS = ("structured_light", "active_stereo", "tof", "passive_stereo", "clean")
_SHADOW_KINDS = ("structured_light", "active_stereo", "passive_stereo")
_STEREO_KINDS = ("active_stereo", "passive_stereo")
_BIG = 1e9
_GRID = (6, 8)  # coarse grid of the smooth depth noise (rows, cols)
_BLOB_GRID = (12, 16)  # coarse grid of the random hole blobs
_COLS = ("w_sigma", "w_step", "tof_c", "tof_lin", "smooth", "scale", "unit", "min_r", "max_r",
         "edge_rel", "p_drop", "p_fly", "shadow_b", "band", "dark", "texture", "cos_graze",
         "blob_thr", "jitter", "shift", "exposure", "wb", "gamma", "read", "shot", "blur",
         "p_jpeg", "q_lo", "q_hi", "identity")  # fmt: skip
_COL = {name: i for i, name in enumerate(_COLS)}
_OFF_EXEMPT = ("name", "kind", "focal_px", "native_width", "baseline_m", "edge_rel",
               "jpeg_quality")  # fmt: skip
_LIMITS = {"scale_error": 0.1, "shift_px": 8.0, "blur_px": 3.0, "exposure_stops": 2.0,
           "white_balance": 0.5, "gamma": 0.5, "read_noise": 0.2, "shot_noise": 0.1,
           "p_edge_drop": 1.0, "p_flying": 1.0, "blob_fraction": 1.0, "p_jpeg": 1.0,
           "edge_rel": 1.0, "jitter_px": 4.0}  # fmt: skip


@dataclass(frozen=True)
class SensorModel:
    """One RGB-D sensor: what it does to depth (m) and colour; the defaults do nothing.

    Structured light and stereo kinds cast occlusion shadows from ``baseline_m``; stereo
    kinds also lose the left band. Per-window (w), per-view (v) and per-pixel draws.
    """

    name: str
    kind: str = "clean"  # one of KINDS
    focal_px: float = 0.0  # native depth focal length (px) at native_width
    native_width: int = 640  # native depth image width (px); scales jitter_px
    baseline_m: float = 0.0  # projector / second imager offset along the camera's +x (m)
    disp_noise_px: float = 0.0  # total disparity noise std (native px), quantisation included
    disp_step_px: float = 0.0  # disparity quantisation step (native px); 0 = none
    noise_const_m: float = 0.0  # ToF noise std (m): noise_const_m + ...
    noise_lin: float = 0.0  # ... noise_lin * max(z - 0.5 m, 0)
    smooth_noise_m: float = 0.0  # smooth correlated noise std (m) at 1 m, linear in z (v)
    scale_error: float = 0.0  # depth scale ~ U(1 - s, 1 + s) (w)
    depth_unit_m: float = 0.0  # output quantisation (m): 0.001 = 16UC1 mm; 0 = none
    min_range_m: float = 0.0  # nearer depth reads 0
    max_range_m: float = math.inf  # farther depth reads 0
    edge_rel: float = 0.05  # 3x3 depth spread / z that marks a discontinuity
    p_edge_drop: float = 0.0  # a discontinuity pixel reads 0 ...
    p_flying: float = 0.0  # ... or mixes its fore- and background depth
    dark_grey: float = 0.0  # depth reads 0 where grey (0-255) is below this
    texture_grey: float = 0.0  # ... or inside areas (9x9) whose 5x5 grey std is below this
    grazing_deg: float = 90.0  # ... or beyond this incidence angle (deg; 90 = never)
    blob_fraction: float = 0.0  # expected fraction of pixels in random hole blobs
    jitter_px: float = 0.0  # per-pixel sampling jitter std (native px)
    shift_px: float = 0.0  # depth-to-colour misregistration up to this (batch px) (w)
    exposure_stops: float = 0.0  # colour gain 2^U(-e, e) (v)
    white_balance: float = 0.0  # per-channel gains U(1 - w, 1 + w) (v)
    gamma: float = 0.0  # colour exponent U(1 - g, 1 + g) (v)
    read_noise: float = 0.0  # colour noise std (0-1 units) ...
    shot_noise: float = 0.0  # ... plus this variance per unit intensity
    blur_px: float = 0.0  # Gaussian blur std U(0, b) px (v)
    p_jpeg: float = 0.0  # a view is JPEG-compressed ...
    jpeg_quality: tuple[float, float] = (50.0, 95.0)  # ... at a quality U(lo, hi), 1-100

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"SensorModel({self.name!r}): {msg}")

        if not isinstance(self.name, str) or not self.name:
            bad("name must be a non-empty string")
        if self.kind not in KINDS:
            bad(f"kind must be one of {KINDS}, got {self.kind!r}")
        for f in dataclasses.fields(self):
            val = getattr(self, f.name)
            if f.name in ("name", "kind", "jpeg_quality"):
                continue
            if isinstance(val, bool) or not isinstance(val, (int, float)) or math.isnan(val):
                bad(f"{f.name} must be a number, got {val!r}")
            if val < 0 or (math.isinf(val) and f.name != "max_range_m"):
                bad(f"{f.name} must be finite and >= 0, got {val!r}")
            if val > _LIMITS.get(f.name, math.inf):
                bad(f"{f.name} must be <= {_LIMITS[f.name]}, got {val!r}")
        if self.p_edge_drop + self.p_flying > 1:
            bad("p_edge_drop + p_flying must be <= 1")
        if not self.min_range_m < self.max_range_m:
            bad(f"need min_range_m < max_range_m, got {self.min_range_m}, {self.max_range_m}")
        if not 0 < self.grazing_deg <= 90 or self.native_width < 1:
            bad(f"need 0 < grazing_deg <= 90 and native_width >= 1, got {self.grazing_deg!r}, "
                f"{self.native_width!r}")  # fmt: skip
        if (self.disp_noise_px or self.disp_step_px) and not (self.focal_px and self.baseline_m):
            bad("disparity noise or quantisation needs focal_px > 0 and baseline_m > 0")
        q = self.jpeg_quality
        ok = isinstance(q, (tuple, list)) and len(q) == 2
        ok = ok and all(isinstance(x, (int, float)) for x in q) and 1 <= q[0] <= q[1] <= 100
        if not ok:
            bad(f"jpeg_quality must be a (lo, hi) pair with 1 <= lo <= hi <= 100, got {q!r}")
        object.__setattr__(self, "jpeg_quality", (float(q[0]), float(q[1])))

    @property
    def is_identity(self) -> bool:
        """Return True when the model changes nothing (its windows come back bit-exact)."""
        off = {f.name: f.default for f in dataclasses.fields(SensorModel)}
        shadows = self.kind in _SHADOW_KINDS and self.baseline_m > 0
        return not shadows and all(getattr(self, k) == v for k, v in off.items()
                                   if k not in _OFF_EXEMPT)  # fmt: skip

    @property
    def sigma_z2(self) -> float:
        """Axial disparity noise coefficient c (1/m): sigma_z = c * z^2 (m)."""
        fb = self.focal_px * self.baseline_m
        return self.disp_noise_px / fb if fb else 0.0

    def row(self) -> tuple[float, ...]:
        """Return the derived per-window parameters, in :data:`_COLS` order."""
        fb = self.focal_px * self.baseline_m
        gauss = math.sqrt(max(self.disp_noise_px**2 - self.disp_step_px**2 / 12, 0.0))
        f = self.blob_fraction
        thr = _BIG if f == 0 else -_BIG if f == 1 else NormalDist().inv_cdf(1 - f)
        return (gauss / fb if fb else 0.0, self.disp_step_px / fb if fb else 0.0,
                self.noise_const_m, self.noise_lin, self.smooth_noise_m, self.scale_error,
                self.depth_unit_m, self.min_range_m, min(self.max_range_m, _BIG),
                self.edge_rel, self.p_edge_drop, self.p_flying,
                self.baseline_m if self.kind in _SHADOW_KINDS else 0.0,
                float(self.kind in _STEREO_KINDS and self.baseline_m > 0), self.dark_grey,
                self.texture_grey, 0.0 if self.grazing_deg == 90 else
                math.cos(math.radians(self.grazing_deg)), thr,
                self.jitter_px / self.native_width, self.shift_px, self.exposure_stops,
                self.white_balance, self.gamma, self.read_noise, self.shot_noise, self.blur_px,
                self.p_jpeg, *self.jpeg_quality, float(self.is_identity))  # fmt: skip


_COLOUR = dict(exposure_stops=0.4, white_balance=0.08, gamma=0.1, read_noise=0.006,
               shot_noise=0.0015, blur_px=0.8, p_jpeg=0.5)  # fmt: skip
# Sourced (/work/shared/SIM2REAL.md) unless marked "assumed":
# kinect_v1: sigma_z 1.425e-3 z^2 (Khoshelham & Elberink 2012) = 1/16 px at f 585 px (7-Scenes
#   depth focal) and b 7.5 cm; 1/8 px disparity steps, jitter 0.5 px (ankurhanda/simkinect);
#   7-Scenes colour and depth unregistered (shift up to 3 px). Range 0.5-4.5 m assumed.
# realsense: RMS z^2 * 0.08 px / (f B) (librealsense#3904), f 447 px at 848, B 50 / 95 mm,
#   D435 min 0.17 m, D455 0.4-6 m; 1/32 px subpixel step (Intel's subpixel-linearity paper).
# azure_kinect: 0.5 mm + 1 mm/m, holes on grey < 15, jitter 0.25 px (BlenderProc); NFOV
#   unbinned 0.5-3.86 m; systematic < 11 mm + 0.1 % (smooth 3 mm, scale 0.2 %).
# zed: ZED 2 B 120 mm, 0.3-20 m; f 530 px at 1280 and 0.15 px disparity noise assumed.
# Assumed everywhere: edge/dark/grazing/blob/texture hole rates, smooth noise, max 1 % scale
# (Dex-Net used 3 %), 1 px residual registration of factory-aligned sensors, colour ranges.
_D435 = SensorModel(
    "realsense_d435", "active_stereo", focal_px=447.0, native_width=848, baseline_m=0.05,
    disp_noise_px=0.08, disp_step_px=1 / 32, smooth_noise_m=0.0015, scale_error=0.01,
    depth_unit_m=0.001, min_range_m=0.17, max_range_m=10.0, p_edge_drop=0.4, p_flying=0.2,
    dark_grey=8.0, grazing_deg=75.0, blob_fraction=0.01, jitter_px=0.25, shift_px=1.0,
    **_COLOUR)  # fmt: skip
SENSOR_PRESETS: dict[str, SensorModel] = {m.name: m for m in (
    SensorModel(
        "kinect_v1", "structured_light", focal_px=585.0, native_width=640, baseline_m=0.075,
        disp_noise_px=1 / 16, disp_step_px=1 / 8, smooth_noise_m=0.002, scale_error=0.01,
        depth_unit_m=0.001, min_range_m=0.5, max_range_m=4.5, p_edge_drop=0.5, p_flying=0.15,
        dark_grey=10.0, grazing_deg=75.0, blob_fraction=0.01, jitter_px=0.5, shift_px=3.0,
        **{**_COLOUR, "exposure_stops": 0.5, "white_balance": 0.1, "read_noise": 0.012,
           "shot_noise": 0.003, "blur_px": 1.0}, jpeg_quality=(40.0, 90.0)),
    _D435,
    dataclasses.replace(_D435, name="realsense_d455", baseline_m=0.095, min_range_m=0.4,
                        max_range_m=6.0),
    SensorModel(
        "azure_kinect", "tof", native_width=640, noise_const_m=0.0005, noise_lin=0.001,
        smooth_noise_m=0.003, scale_error=0.002, depth_unit_m=0.001, min_range_m=0.5,
        max_range_m=3.86, p_edge_drop=0.3, p_flying=0.5, dark_grey=15.0, grazing_deg=80.0,
        blob_fraction=0.005, jitter_px=0.25, shift_px=1.0,
        **{**_COLOUR, "p_jpeg": 0.7}, jpeg_quality=(60.0, 95.0)),
    SensorModel(
        "zed", "passive_stereo", focal_px=530.0, native_width=1280, baseline_m=0.12,
        disp_noise_px=0.15, smooth_noise_m=0.003, scale_error=0.01, depth_unit_m=0.001,
        min_range_m=0.3, max_range_m=20.0, p_edge_drop=0.3, p_flying=0.4, dark_grey=20.0,
        texture_grey=1.0, grazing_deg=70.0, blob_fraction=0.02, jitter_px=0.25, shift_px=1.0,
        **_COLOUR),
    SensorModel("clean"),
)}  # fmt: skip


@functools.lru_cache(maxsize=32)
def _table(models: tuple[SensorModel, ...]) -> torch.Tensor:
    return torch.tensor([m.row() for m in models], dtype=torch.float64)


def _generators(generator, device: torch.device):
    """Return (host generator for per-window draws, generator on ``device``)."""
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
    if device.type == "cpu" and generator.device.type == "cpu":
        return generator, generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return generator, torch.Generator(device=device).manual_seed(seed)


def degrade_batch(batch: dict, generator: torch.Generator | None = None, presets=None,
                  p_clean: float = 0.1) -> dict:  # fmt: skip
    """Return a new batch dict whose ``depth`` and ``images`` a random sensor degraded.

    Args:
        batch: a :func:`~nova3r_ros.synth.generate.generate_batch` dict (``depth``,
            ``images``, ``K`` are read; nothing is mutated).
        generator: torch generator for every random draw (None = from torch's global RNG).
        presets: names of :data:`SENSOR_PRESETS` or :class:`SensorModel` s each window
            draws from uniformly (None = every preset but ``clean``).
        p_clean: probability that a window is left untouched instead.

    Returns:
        A new dict: the same tensors for every other key (ground truth untouched), new
        ``depth`` float32 (B, V, H, W) m (0 = invalid) and ``images`` of the input dtype.

    """
    if not 0.0 <= p_clean <= 1.0:
        raise ValueError(f"p_clean must be in [0, 1], got {p_clean!r}")
    if isinstance(presets, (str, SensorModel)):
        presets = [presets]
    names = [k for k in SENSOR_PRESETS if k != "clean"] if presets is None else list(presets)
    if not names:
        raise ValueError("presets must name at least one sensor model")
    models = tuple(SENSOR_PRESETS.get(m) if isinstance(m, str) else m for m in names)
    if not all(isinstance(m, SensorModel) for m in models):
        raise ValueError(f"presets must be SensorModels or names in {sorted(SENSOR_PRESETS)}, "
                         f"got {presets!r}")  # fmt: skip
    B = batch["depth"].shape[0]
    host, dev_gen = _generators(generator, batch["depth"].device)
    clean = torch.rand(B, generator=host, device=host.device).cpu() < p_clean
    pick = torch.randint(len(models), (B,), generator=host, device=host.device).cpu()
    index = torch.where(clean, len(models), pick)
    return _apply(batch, (*models, SENSOR_PRESETS["clean"]), index, dev_gen)


def apply_sensors(batch: dict, models: Sequence[SensorModel],
                  generator: torch.Generator | None = None) -> dict:  # fmt: skip
    """Like :func:`degrade_batch` with window ``b`` taken by ``models[b]`` (len B)."""
    models = tuple(models)
    if len(models) != batch["depth"].shape[0]:
        raise ValueError(f"need one model per window, got {len(models)}")
    uniq = tuple(dict.fromkeys(models))
    index = torch.tensor([uniq.index(m) for m in models], dtype=torch.int64)
    return _apply(batch, uniq, index, _generators(generator, batch["depth"].device)[1])


def _apply(batch: dict, models: tuple, index: torch.Tensor, gen: torch.Generator) -> dict:
    depth, images, K = batch["depth"], batch["images"], batch["K"]
    rows = _table(models)[index]  # (B, F) float64 on the host: which effects are in use
    host = {c: float(rows[:, i].abs().max()) for c, i in _COL.items()}
    host["blob_thr"] = float(rows[:, _COL["blob_thr"]].min())
    p = rows.to(depth.device, torch.float32)
    par = {c: p[:, i].view(-1, 1, 1, 1) for c, i in _COL.items()}
    keep = par["identity"] > 0  # (B, 1, 1, 1)
    out = dict(batch)
    if host["identity"] and not (rows[:, _COL["identity"]] == 0).any():
        out["depth"], out["images"] = depth.clone(), images.clone()
        return out
    x = images.to(torch.float32) / (255.0 if images.dtype == torch.uint8 else 1.0)
    grey = 0.299 * x[:, :, 0] + 0.587 * x[:, :, 1] + 0.114 * x[:, :, 2]
    z = _depth(depth, grey * 255.0, K, par, host, gen)
    out["depth"] = torch.where(keep, depth, z)
    y = _colour(x, {k: v.view(-1, 1, 1, 1, 1) for k, v in par.items()}, host, gen)
    y = (y * 255.0).round().clamp(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else y
    out["images"] = torch.where(keep.unsqueeze(-1), images, y.to(images.dtype))
    return out


def _smooth(n: int, grid: tuple[int, int], H: int, W: int, gen, dev) -> torch.Tensor:
    """Unit-variance smooth Gaussian field (n, H, W): a coarse grid, bilinearly upsampled."""
    c = torch.randn(n, 1, *grid, generator=gen, device=dev)
    f = F.interpolate(c, size=(H, W), mode="bilinear", align_corners=True)[:, 0]
    var = []
    for size, g in ((H, grid[0]), (W, grid[1])):  # variance of the bilinear weights
        a = torch.arange(size, device=dev) * ((g - 1) / max(size - 1, 1))
        a = a - a.floor()
        var.append((1 - a) ** 2 + a**2)
    return f * torch.rsqrt(var[0][:, None] * var[1][None, :])


def _minmod(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Finite difference of ``w`` (0 = invalid) along ``dim``, the smaller one-sided one."""
    pad = (0, 0, 1, 1) if dim == -2 else (1, 1)
    wp = F.pad(w, pad)
    n = w.shape[dim]
    nxt, prv = wp.narrow(dim, 2, n), wp.narrow(dim, 0, n)
    fwd = torch.where(nxt > 0, nxt - w, _BIG)
    bwd = torch.where(prv > 0, w - prv, _BIG)
    d = torch.where(fwd.abs() <= bwd.abs(), fwd, bwd)
    return torch.where(d.abs() < _BIG / 2, d, 0.0)


def _depth(z0, grey, K, par, host, gen) -> torch.Tensor:
    """Degrade depth (B, V, H, W) m given grey (B, V, H, W) 0-255 and K (B, V, 3, 3)."""
    B, V, H, W = z0.shape
    dev = z0.device
    valid = z0 > 0
    w = torch.where(valid, 1.0 / z0.clamp(min=1e-6), 0.0)
    u = torch.arange(W, device=dev, dtype=torch.float32)
    v = torch.arange(H, device=dev, dtype=torch.float32)[:, None]
    fx, fy = K[..., 0, 0, None, None], K[..., 1, 1, None, None]
    drop = torch.zeros_like(valid)
    z = z0
    if host["p_drop"] or host["p_fly"]:  # discontinuities: dropouts and flying pixels
        flat = z0.reshape(B * V, 1, H, W)
        far = F.max_pool2d(torch.where(flat > 0, flat, _BIG), 3, 1, 1).view_as(z0)
        near = -F.max_pool2d(-torch.where(flat > 0, flat, _BIG), 3, 1, 1).view_as(z0)
        edge = valid & (far - near > par["edge_rel"] * z0)
        r = torch.rand(z0.shape, generator=gen, device=dev)
        drop |= edge & (r < par["p_drop"])
        fly = edge & ~drop & (r < par["p_drop"] + par["p_fly"]) & (far < _BIG)
        t = ((r - par["p_drop"]) / par["p_fly"].clamp(min=1e-6)).clamp(0, 1)
        z = torch.where(fly, near + t * (far - near), z0)
    if host["shadow_b"]:  # projector / second imager at +x: occlusion shadows, left band
        disp = fx * par["shadow_b"] * w  # px at the batch resolution
        g = disp - u
        after = torch.flip(torch.cummax(torch.flip(g, [-1]), -1).values, [-1])
        after = F.pad(after[..., 1:], (0, 1), value=-_BIG)  # max over pixels to the right
        drop |= after > g
        drop |= (par["band"] > 0) & (u < disp)
    if host["dark"]:
        drop |= grey < par["dark"]
    if host["texture"]:  # the inside (9x9 erosion) of areas with a 5x5 grey std below it
        m = F.avg_pool2d(grey.reshape(B * V, 1, H, W), 5, 1, 2, count_include_pad=False)
        m2 = F.avg_pool2d(grey.reshape(B * V, 1, H, W) ** 2, 5, 1, 2, count_include_pad=False)
        flat = ((m2 - m * m).clamp(min=0).sqrt().view_as(grey) < par["texture"]).float()
        drop |= F.max_pool2d(-flat.view(B * V, 1, H, W), 9, 1, 4).view_as(grey) < -0.5
    if host["cos_graze"]:  # normal ~ (fx w_u, fy w_v, w - xn fx w_u - yn fy w_v); n.ray = w
        xn = (u - K[..., 0, 2, None, None]) / fx
        yn = (v - K[..., 1, 2, None, None]) / fy
        gu, gv = fx * _minmod(w, -1), fy * _minmod(w, -2)
        norm = torch.sqrt(gu * gu + gv * gv + (w - xn * gu - yn * gv) ** 2)
        cos = w / (norm * torch.sqrt(xn * xn + yn * yn + 1)).clamp(min=1e-12)
        drop |= cos < par["cos_graze"]
    if host["blob_thr"] < _BIG:
        drop |= _smooth(B * V, _BLOB_GRID, H, W, gen, dev).view_as(z0) > par["blob_thr"]
    z = z * (1 + par["scale"] * (2 * torch.rand(B, 1, 1, 1, generator=gen, device=dev) - 1))
    if host["w_sigma"] or host["w_step"]:  # disparity noise and quantisation
        wn = torch.where(z > 0, 1.0 / z.clamp(min=1e-6), 0.0)
        wn = wn + par["w_sigma"] * torch.randn(z0.shape, generator=gen, device=dev)
        step = par["w_step"].clamp(min=1e-12)
        wn = torch.where(par["w_step"] > 0, torch.round(wn / step) * step, wn)
        z = torch.where(wn > 0, 1.0 / wn.clamp(min=1e-12), 0.0)
    if host["tof_c"] or host["tof_lin"]:
        sig = par["tof_c"] + par["tof_lin"] * (z - 0.5).clamp(min=0)
        z = z + sig * torch.randn(z0.shape, generator=gen, device=dev)
    if host["smooth"]:
        z = z + par["smooth"] * z * _smooth(B * V, _GRID, H, W, gen, dev).view_as(z0)
    if host["unit"]:
        unit = par["unit"].clamp(min=1e-9)
        z = torch.where(par["unit"] > 0, torch.round(z / unit) * unit, z)
    z = torch.where(valid & ~drop & (z > 0), z, 0.0)
    if host["shift"] or host["jitter"]:  # misregistration + jitter: nearest sampling
        ang = 2 * math.pi * torch.rand(B, 1, 1, 1, generator=gen, device=dev)
        rad = par["shift"] * torch.rand(B, 1, 1, 1, generator=gen, device=dev)
        sig = par["jitter"] * W
        ju = sig * torch.randn(z0.shape, generator=gen, device=dev) if host["jitter"] else 0
        jv = sig * torch.randn(z0.shape, generator=gen, device=dev) if host["jitter"] else 0
        us = torch.round(u - rad * torch.cos(ang) + ju)
        vs = torch.round(v - rad * torch.sin(ang) + jv)
        inside = (us >= 0) & (us <= W - 1) & (vs >= 0) & (vs <= H - 1)
        idx = (vs.clamp(0, H - 1) * W + us.clamp(0, W - 1)).long().expand(B, V, H, W)
        z = z.reshape(B, V, H * W).gather(-1, idx.reshape(B, V, H * W)).view_as(z0)
        z = torch.where(inside, z, 0.0)
    return torch.where((z >= par["min_r"]) & (z <= par["max_r"]), z, 0.0)


def _colour(x, par, host, gen) -> torch.Tensor:
    """Degrade RGB (B, V, 3, H, W) in [0, 1]; ``par`` values are (B, 1, 1, 1, 1)."""
    B, V, C, H, W = x.shape
    dev = x.device

    def uni(*shape):  # U(-1, 1) per view (and channel)
        return 2 * torch.rand(B, V, *shape, generator=gen, device=dev) - 1

    if host["blur"]:  # separable Gaussian, one kernel per view
        r = max(1, math.ceil(2 * host["blur"]))
        sig = (par["blur"][:, :, 0, 0] * (uni(1, 1)[..., 0] + 1) / 2).clamp(min=1e-3)
        taps = torch.arange(-r, r + 1, device=dev, dtype=torch.float32)
        k = torch.exp(-0.5 * (taps / sig) ** 2)  # (B, V, 2r + 1)
        k = (k / k.sum(-1, keepdim=True)).repeat_interleave(C, 1).reshape(-1, 1, 1, 2 * r + 1)
        y = F.pad(x.reshape(1, -1, H, W), (r, r, r, r), mode="replicate")
        y = F.conv2d(y, k, groups=k.shape[0])
        x = F.conv2d(y, k.transpose(2, 3), groups=k.shape[0]).view_as(x)
    gain = torch.exp2(par["exposure"] * uni(1, 1, 1))
    x = x * gain * (1 + par["wb"] * uni(C, 1, 1))
    if host["read"] or host["shot"]:
        sd = torch.sqrt(par["read"] ** 2 + par["shot"] * x.clamp(min=0))
        x = x + sd * torch.randn(x.shape, generator=gen, device=dev)
    x = x.clamp(0, 1) ** (1 + par["gamma"] * uni(1, 1, 1))
    if host["p_jpeg"]:
        on = torch.rand(B, V, 1, 1, 1, generator=gen, device=dev) < par["p_jpeg"]
        q = par["q_lo"] + (par["q_hi"] - par["q_lo"]) * (uni(1, 1, 1) + 1) / 2
        x = torch.where(on, jpeg_roundtrip(x.reshape(B * V, C, H, W), q.reshape(-1)).view_as(x), x)
    return x

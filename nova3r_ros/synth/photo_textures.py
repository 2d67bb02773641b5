"""Photographic textures for the synthetic renderer (training only; never the benchmarks).

The procedural textures of :mod:`nova3r_ros.synth.render` (checker, stripes, value noise)
look nothing like a kitchen's wood, stone, fabric and printed labels. A *photo bank* is a
folder of square RGB crops (JPEG/PNG, ``bank_size`` px) cut from photographs and material
textures; :class:`PhotoTextures` holds them as one tensor on the render device and, given
an object's hash key and its surface coordinates, returns the albedo of the objects that
draw a photo (a share ``p`` of them, chosen by the key) instead of their two-colour mix.

Build a bank from images and GIMP pattern files (``.pat``)::

    python -m nova3r_ros.synth.photo_textures build --out DIR SOURCE... [--crops 4]

``scripts/fetch_photo_textures.sh`` builds one from two Debian packages (GIMP's material
patterns and KDE Plasma's wallpapers). Nothing in the package needs a bank at run time.
"""

from __future__ import annotations

import argparse
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nova3r_ros.synth.sampling import hash_uniform
from nova3r_ros.synth.sevenscenes import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BANK_SIZE = 128
MAX_PATTERN_BYTES = 64 << 20
_STREAM_PICK, _STREAM_INDEX, _STREAM_SPAN, _STREAM_SHIFT = 41, 42, 43, 44


def read_gimp_pattern(path: str | Path) -> np.ndarray:
    """Read a GIMP pattern file: uint8 (H, W, 3) RGB (grey and alpha patterns converted).

    Format: big-endian u32 header size, version (1), width, height, bytes per pixel (1-4),
    the magic ``GPAT``, a name, then the pixels row by row. Raises ``ValueError`` on a
    file that is not one.
    """
    data = Path(path).read_bytes()
    if len(data) < 24 or data[20:24] != b"GPAT":
        raise ValueError(f"{path}: not a GIMP pattern (no GPAT magic)")
    header, version, w, h, bpp = struct.unpack(">5I", data[:20])
    n = w * h * bpp
    if version != 1 or not 1 <= bpp <= 4 or not 0 < w * h <= MAX_PATTERN_BYTES or header < 24:
        raise ValueError(f"{path}: unsupported GIMP pattern (v{version}, {w}x{h}x{bpp})")
    if len(data) < header + n:
        raise ValueError(f"{path}: truncated GIMP pattern")
    px = np.frombuffer(data, np.uint8, n, header).reshape(h, w, bpp)
    if bpp <= 2:
        return np.repeat(px[..., :1], 3, axis=2).copy()
    return px[..., :3].copy()


def _read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an image or GIMP pattern file; ``ValueError`` if unreadable."""
    import cv2

    if path.suffix.lower() == ".pat":
        return read_gimp_pattern(path)
    return read_image(path, cv2.IMREAD_COLOR)[..., ::-1].copy()


def square_crops(image: np.ndarray, n: int, size: int, rng: np.random.Generator) -> list:
    """``n`` square crops of ``image`` (H, W, 3) at random scales, resized to ``size``.

    The first crop is the largest centred square; the others cover 1/4 to 1/2 of the
    shorter side at random places (finer texture, as a nearer or smaller surface shows).
    """
    import cv2

    h, w = image.shape[:2]
    side = min(h, w)
    out = []
    for i in range(n):
        s = side if i == 0 else int(side * rng.uniform(0.25, 0.5))
        y = (h - s) // 2 if i == 0 else int(rng.integers(0, h - s + 1))
        x = (w - s) // 2 if i == 0 else int(rng.integers(0, w - s + 1))
        crop = image[y : y + s, x : x + s]
        interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
        out.append(cv2.resize(crop, (size, size), interpolation=interp))
    return out


def build_bank(sources: list[str], out: str, crops: int = 4, size: int = BANK_SIZE,
               seed: int = 0) -> int:  # fmt: skip
    """Write ``crops`` JPEG crops of every image under ``sources`` into ``out``; the count.

    Patterns (``.pat``, tileable material samples) give one crop each, whole.
    """
    import cv2

    rng = np.random.default_rng(seed)
    files = []
    for src in sources:
        p = Path(src)
        files += sorted(p.rglob("*")) if p.is_dir() else [p]
    files = [f for f in files if f.is_file() and f.suffix.lower() in (*IMAGE_SUFFIXES, ".pat")]
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for f in files:
        try:
            image = _read_image(f)
        except ValueError as e:
            print(f"skipped: {e}", file=sys.stderr)
            continue
        if min(image.shape[:2]) < 16:
            continue
        n = 1 if f.suffix.lower() == ".pat" else crops
        for crop in square_crops(image, n, size, rng):
            cv2.imwrite(str(dest / f"{count:05d}.jpg"), crop[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 92])  # fmt: skip
            count += 1
    return count


@dataclass
class PhotoTextures:
    """A photo bank on the render device and how objects draw from it.

    Attributes:
        bank: float32 (N, S, S, 3) RGB in [0, 1].
        p: share of objects that draw a photo (by their hash key).
        span_m: (min, max) metres one crop spans on a surface (drawn per object).
    """

    bank: torch.Tensor
    p: float = 0.5
    span_m: tuple[float, float] = (0.1, 0.6)

    @classmethod
    def load(cls, folder: str | Path, device="cpu", p: float = 0.5,
             span_m: tuple[float, float] = (0.1, 0.6)) -> PhotoTextures:  # fmt: skip
        """Read every square crop in ``folder`` (one size); ``ValueError`` if none."""
        if not 0.0 <= p <= 1.0 or not 0.0 < span_m[0] <= span_m[1]:
            raise ValueError(f"photo textures: p in [0, 1] and 0 < span_m[0] <= span_m[1], "
                             f"got p={p}, span_m={span_m}")  # fmt: skip
        files = sorted(f for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        images = [_read_image(f) for f in files]
        if not images or any(im.shape != images[0].shape or im.shape[0] != im.shape[1]
                             for im in images):  # fmt: skip
            raise ValueError(f"{folder}: needs square crops of one size (build_bank)")
        bank = torch.as_tensor(np.stack(images), device=device).to(torch.float32) / 255.0
        return cls(bank, p, span_m)

    def pick(self, key: torch.Tensor) -> torch.Tensor:
        """Bool (n,): which of the objects with hash ``key`` (int64 (n,)) draw a photo."""
        return hash_uniform(key, _STREAM_PICK, torch.zeros_like(key)) < self.p

    def albedo(self, key: torch.Tensor, uv: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
        """Photo albedo float32 (n, 3) of surface points.

        Args:
            key: int64 (n,) the object's hash key (which crop, its span).
            uv: float32 (n, 2) surface coordinates in metres (object-local).
            tint: float32 (n, 3) the object's colour in [0, 1] (a mild tint: 0.7-1.3x).

        Crops repeat mirrored (no seams); bilinear lookup.
        """
        N, S = self.bank.shape[0], self.bank.shape[1]
        zero = torch.zeros_like(key)
        idx = (hash_uniform(key, _STREAM_INDEX, zero) * N).long().clamp(max=N - 1)
        lo, hi = self.span_m
        span = lo + (hi - lo) * hash_uniform(key, _STREAM_SPAN, zero)
        shift = hash_uniform(key, _STREAM_SHIFT, zero) * 2 * S
        st = uv / span[:, None] * S + shift[:, None] - 0.5
        f = st - torch.floor(st)
        i0 = torch.floor(st).long()

        def mirror(i: torch.Tensor) -> torch.Tensor:
            m = torch.remainder(i, 2 * S)
            return torch.where(m < S, m, 2 * S - 1 - m)

        out = 0.0
        for dy in (0, 1):
            for dx in (0, 1):
                w = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
                texel = self.bank[idx, mirror(i0[:, 1] + dy), mirror(i0[:, 0] + dx)]
                out = out + w[:, None] * texel
        return (out * (0.7 + 0.6 * tint)).clamp(0.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    """``build``: cut a bank from images and patterns; exit code 2 on bad arguments."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="cut square crops from images and GIMP patterns")
    b.add_argument("sources", nargs="+")
    b.add_argument("--out", required=True)
    b.add_argument("--crops", type=int, default=4)
    b.add_argument("--size", type=int, default=BANK_SIZE)
    b.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not 1 <= a.crops <= 64 or not 16 <= a.size <= 1024:
        print("error: --crops 1-64, --size 16-1024", file=sys.stderr)
        return 2
    missing = [s for s in a.sources if not Path(s).exists()]
    if missing:
        print(f"error: no such source: {missing[0]}", file=sys.stderr)
        return 2
    n = build_bank(a.sources, a.out, a.crops, a.size, a.seed)
    print(f"wrote {n} crops to {a.out}")
    return 0 if n else 2


if __name__ == "__main__":
    sys.exit(main())

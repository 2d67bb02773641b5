"""Photographic textures for training renders: the bank, its files and its place in render."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
import torch

from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_batch
from nova3r_ros.synth.photo_textures import PhotoTextures, build_bank, main, read_gimp_pattern

CFG = benchmark_config(2, family="tabletop", height=96, width=128)


def _pattern_bytes(pixels: np.ndarray, name: bytes = b"wood\0") -> bytes:
    h, w, bpp = pixels.shape
    header = struct.pack(">5I", 24 + len(name), 1, w, h, bpp) + b"GPAT" + name
    return header + pixels.astype(np.uint8).tobytes()


def _bank(tmp_path, n=6, size=32):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):  # smooth random images: JPEG keeps them close
        small = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
        cv2.imwrite(str(src / f"im{i}.png"), cv2.resize(small, (96, 64)))
    (src / "grey.pat").write_bytes(_pattern_bytes(rng.integers(0, 256, (40, 40, 1))))
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "bank"
    assert build_bank([str(src)], str(out), crops=2, size=size) == 2 * n + 1
    return out


def test_gimp_patterns_are_read_as_rgb_and_other_files_refused(tmp_path):
    rgb = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    path = tmp_path / "a.pat"
    path.write_bytes(_pattern_bytes(rgb))
    assert np.array_equal(read_gimp_pattern(path), rgb)
    path.write_bytes(_pattern_bytes(np.full((2, 2, 2), 7)))  # grey + alpha
    assert np.array_equal(read_gimp_pattern(path), np.full((2, 2, 3), 7))
    path.write_bytes(b"\x89PNG" + bytes(40))
    with pytest.raises(ValueError, match="not a GIMP pattern"):
        read_gimp_pattern(path)
    path.write_bytes(_pattern_bytes(rgb)[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_gimp_pattern(path)


def test_a_bank_loads_as_square_crops_and_bad_folders_are_refused(tmp_path):
    photo = PhotoTextures.load(_bank(tmp_path), p=0.5)
    assert photo.bank.shape == (13, 32, 32, 3) and photo.bank.dtype == torch.float32
    assert float(photo.bank.min()) >= 0.0 and float(photo.bank.max()) <= 1.0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="square crops"):
        PhotoTextures.load(empty)
    cv2.imwrite(str(tmp_path / "bank" / "odd.png"), np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="square crops"):
        PhotoTextures.load(tmp_path / "bank")
    with pytest.raises(ValueError, match="p in"):
        PhotoTextures.load(empty, p=1.5)


def test_albedo_repeats_mirrored_and_follows_the_object_key(tmp_path):
    photo = PhotoTextures.load(_bank(tmp_path), p=1.0, span_m=(0.2, 0.2))
    key = torch.full((3,), 12345, dtype=torch.int64)
    tint = torch.full((3, 3), 0.5)  # factor 1.0
    uv = torch.tensor([[0.03, 0.07], [0.03 + 0.4, 0.07], [0.03, 0.07 + 0.4]])  # two spans on
    a = photo.albedo(key, uv, tint)
    assert torch.allclose(a[0], a[1], atol=1e-5) and torch.allclose(a[0], a[2], atol=1e-5)
    u = torch.linspace(-0.5, 0.5, 400)
    line = photo.albedo(torch.full((400,), 7, dtype=torch.int64), torch.stack([u, 0 * u], 1),
                        torch.full((400, 3), 0.5))  # fmt: skip
    assert float((line[1:] - line[:-1]).abs().max()) < 0.35  # no seams at the crops' edges
    other = photo.albedo(torch.arange(200, dtype=torch.int64), uv[:1].expand(200, 2),
                         torch.full((200, 3), 0.5))  # fmt: skip
    assert len(torch.unique(other[:, 0])) > 20  # objects draw different crops and offsets


def test_renders_with_photos_change_images_only_where_objects_draw_them(tmp_path):
    bank = _bank(tmp_path)
    plain = generate_batch([3, 4], config=CFG)
    none = generate_batch([3, 4], config=CFG, photo=PhotoTextures.load(bank, p=0.0))
    every = generate_batch([3, 4], config=CFG, photo=PhotoTextures.load(bank, p=1.0))
    for k in ("depth", "ids", "K", "T_world_cam", "points", "visible"):
        assert torch.equal(plain[k], every[k])
    assert torch.equal(plain["images"], none["images"])
    changed = (plain["images"] != every["images"]).any(2)  # (B, V, H, W)
    hit = plain["ids"] > 0
    assert not changed[~(plain["depth"] > 0)].any()  # the background stays as it was
    assert changed[plain["depth"] > 0].float().mean() > 0.5
    assert hit.any()


def test_the_build_command_refuses_bad_arguments(tmp_path, capsys):
    assert main(["build", "--out", str(tmp_path / "o"), str(tmp_path / "missing")]) == 2
    assert "no such source" in capsys.readouterr().err
    assert main(["build", "--out", str(tmp_path / "o"), "--crops", "0", str(tmp_path)]) == 2
    assert main(["build", "--out", str(tmp_path / "o"), str(tmp_path)]) == 2  # no images

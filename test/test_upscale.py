"""A model at twice the input size from the shipped weights (``model/upscale.py``)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from nova3r_ros.core.types import View, Window
from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
from nova3r_ros.model.inference import InferenceConfig, infer
from nova3r_ros.model.upscale import PATCH_WEIGHT, main, upscale_input


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(PACKAGED_CHECKPOINT)


def test_the_upscaled_patch_embedding_computes_the_old_one_on_repeated_pixels(shipped):
    big = upscale_input(shipped, 2)
    c, b = shipped.cfg, big.cfg
    assert (b.image_width, b.image_height, b.patch) == (2 * c.image_width, 2 * c.image_height,
                                                        2 * c.patch)  # fmt: skip
    assert big.state_dict()[PATCH_WEIGHT].shape[2:] == (2 * c.patch, 2 * c.patch)
    x = torch.randn(2, shipped.image_encoder.patch_embed.in_channels, c.image_height,
                    c.image_width)  # fmt: skip
    up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    with torch.no_grad():
        old = shipped.image_encoder.patch_embed(x)
        new = big.image_encoder.patch_embed(up)
    assert old.shape == new.shape
    assert torch.allclose(old, new, atol=1e-4)
    same = [k for k in shipped.state_dict() if k != PATCH_WEIGHT]
    assert all(torch.equal(shipped.state_dict()[k], big.state_dict()[k]) for k in same)
    assert big.calibration is None


def test_the_upscaled_model_reconstructs_a_window_about_as_before(shipped):
    """Same scene tokens up to the input's finer detail; a full window runs at 256x192."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = np.kron(base, np.ones((10, 10, 1), np.uint8))  # 640x480, smooth at 256x192
    K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    views = []
    for i in range(2):
        T = np.eye(4)
        T[0, 3] = 0.05 * i
        views.append(View(image, np.full((480, 640), 1.2, np.float32), K, T, i, "c", f"c{i}"))
    window = Window(views)
    big = upscale_input(shipped, 2)
    cfg = InferenceConfig(n_points=512, steps=4, seed=0, publish=None, depth_consistency=None)
    a, b = infer(shipped, window, cfg), infer(big, window, cfg)
    assert len(b) == 512 and np.isfinite(b.points).all()
    # the same decoder noise and nearly the same tokens: nearly the same points
    assert np.median(np.linalg.norm(a.points - b.points, axis=1)) < 0.05


def test_command_line_writes_a_loadable_checkpoint_and_rejects_bad_input(tmp_path, shipped):
    out = tmp_path / "big"
    assert main([str(PACKAGED_CHECKPOINT), str(out)]) == 0
    doc = json.loads((out / "config.json").read_text())
    assert (doc["model"]["image_width"], doc["model"]["patch"]) == (256, 16)
    assert doc["meta"]["factor"] == 2
    loaded = load_checkpoint(out)
    ref = upscale_input(shipped, 2)
    w = loaded.state_dict()[PATCH_WEIGHT]
    assert torch.allclose(w, ref.state_dict()[PATCH_WEIGHT], atol=1e-2)  # stored as bf16
    bad = subprocess.run([sys.executable, "-m", "nova3r_ros.model.upscale", str(tmp_path / "no"),
                          str(tmp_path / "x")], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "nova3r upscale:" in bad.stderr
    with pytest.raises(ValueError, match="positive integer"):
        upscale_input(shipped, 0)
    with pytest.raises(ValueError, match="positive integer"):
        upscale_input(shipped, 1.5)

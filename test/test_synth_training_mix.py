"""The training mix: family/mode draws, wide camera ranges, the benchmark left alone."""

import numpy as np
import pytest
import torch

from nova3r_ros.synth import benchmark_config, generate_batch
from nova3r_ros.synth.rigs import sample_cameras_wide
from nova3r_ros.synth.training_mix import CAMERA_RANGES, FAMILY_WEIGHTS, training_config


def test_training_config_is_deterministic_and_draws_the_mix():
    a = [training_config(np.random.default_rng(7), 4, 96, 128) for _ in range(2)]
    assert a[0] == a[1]
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert training_config(g1, 2, 96, 128) == training_config(g2, 2, 96, 128)
    rng = np.random.default_rng(0)
    cfgs = [training_config(rng, 1, 72, 128, n_gt_points=1024) for _ in range(3000)]
    for fam, w in FAMILY_WEIGHTS.items():
        assert np.mean([c.family == fam for c in cfgs]) == pytest.approx(w, abs=0.03)
    for c in cfgs[:200]:
        assert c.wide_cameras and c.look_at == "surface" and c.fov_deg == (55.0, 100.0)
        assert (c.elevation_deg, c.distance_m) == CAMERA_RANGES[c.family]
        assert c.roll_deg == (-10.0, 10.0) and c.width == 128 and c.height == 72
        assert (c.jitter_m > 0) == (c.mode == "moving")
    assert {c.mode for c in cfgs} == {"random", "moving", "rig"}
    assert training_config(rng, 4, 96, 128, mode="rig").mode == "rig"


def test_benchmark_configs_keep_the_frozen_camera_sampler():
    for n in (1, 2, 4):
        cfg = benchmark_config(n)
        assert not cfg.wide_cameras and cfg.family == "tabletop" and cfg.objects_range == (2, 8)


@pytest.mark.parametrize("mode", ["random", "moving", "rig"])
def test_wide_camera_ranges(mode):
    target, facing = np.array([0.3, -0.2, 0.9]), np.radians(-90.0)
    W, H = 160, 90  # 16:9
    for seed in range(30):
        K, T = sample_cameras_wide(np.random.default_rng(seed), 6, mode, 60.0, target, W, H,
                                   facing=facing)  # fmt: skip
        rel = T[:, :3, 3] - target
        dist = np.linalg.norm(rel, axis=1)
        el = np.degrees(np.arcsin(rel[:, 2] / dist))
        az = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
        assert np.all((dist >= 0.3 - 1e-9) & (dist <= 5.0 + 1e-9))
        assert np.all((el >= -15 - 1e-9) & (el <= 75 + 1e-9))
        assert np.all(np.abs((az + 90.0 + 180.0) % 360.0 - 180.0) <= 75.0 + 1e-6)
        hfov = np.degrees(2 * np.arctan(W / 2 / K[:, 0, 0]))
        assert np.all((hfov >= 55 - 1e-6) & (hfov <= 100 + 1e-6))
        # roll: angle of the camera x axis out of the horizontal plane
        roll = np.degrees(np.arcsin(np.clip(-T[:, 2, 0], -1, 1)))
        assert np.all(np.abs(roll) <= 10.0 + 1e-6)
        if mode != "random":  # look exactly at the target
            ray = -rel / dist[:, None]
            assert np.all(np.einsum("ij,ij->i", T[:, :3, 2], ray) > 1 - 1e-9)
        np.testing.assert_allclose(np.linalg.det(T[:, :3, :3]), 1.0, atol=1e-9)


def test_training_mix_generates_every_family():
    rng, seen = np.random.default_rng(1), set()
    while len(seen) < len(FAMILY_WEIGHTS):
        cfg = training_config(rng, 2, 36, 48, n_gt_points=500)
        if cfg.family in seen:
            continue
        seen.add(cfg.family)
        b = generate_batch(11, batch_size=2, config=cfg)
        assert b["images"].shape == (2, 2, 3, 36, 48) and b["points"].shape == (2, 500, 3)
        assert (b["depth"] > 0).float().mean() > 0.3, cfg.family

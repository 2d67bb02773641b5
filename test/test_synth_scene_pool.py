"""Scene layout in worker processes gives the same windows as layout in process."""

import numpy as np
import pytest
import torch

from nova3r_ros.synth.generate import build_scene, generate_batch
from nova3r_ros.synth.scene_pool import Prefetcher, ScenePool
from nova3r_ros.synth.training_mix import training_config


def _config(family: str, views: int = 2):
    rng = np.random.default_rng(3)
    return training_config(rng, views, 24, 32, n_gt_points=256, family=family)


def test_pool_builds_what_build_scene_builds_and_batches_match():
    cfg_a, cfg_b = _config("counter"), _config("room", 3)
    with ScenePool(2) as pool:
        built = pool.build([11, 12, 13], cfg_a)
        pre = Prefetcher(pool, lambda i: ([100 + i, 200 + i], cfg_b if i % 2 else cfg_a), 1)
        got = [pre.next() for _ in range(3)]
    for seed, (spec, K, T) in zip([11, 12, 13], built, strict=True):
        spec0, K0, T0 = build_scene(seed, cfg_a)
        np.testing.assert_array_equal(K, K0)
        np.testing.assert_array_equal(T, T0)
        np.testing.assert_array_equal(spec.target, spec0.target)
    assert [g[0] for g in got] == [[100, 200], [101, 201], [102, 202]]
    assert got[1][1] is not None and got[1][1].n_views == 3
    a = generate_batch([11, 12, 13], config=cfg_a, built=built)
    b = generate_batch([11, 12, 13], config=cfg_a)
    for key in ("images", "depth", "points", "visible", "T_world_cam"):
        assert torch.equal(a[key], b[key]), key


def test_pool_rejects_bad_arguments_and_passes_worker_errors():
    with pytest.raises(ValueError, match="workers"):
        ScenePool(0)
    cfg = _config("shelf")
    with ScenePool(1) as pool:
        with pytest.raises(ValueError, match="at least one seed"):
            pool.submit([], cfg)
        with pytest.raises(ValueError, match="seed must be"):
            pool.build([-1], cfg)  # raised in the worker, re-raised here
        built = pool.build([5], cfg)
    with pytest.raises(ValueError, match="1 scenes for 2 seeds"):
        generate_batch([5, 6], config=cfg, built=built)

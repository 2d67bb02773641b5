"""Scene layout, camera rigs, determinism and config validation of the synthetic generator."""

import itertools

import numpy as np
import pytest
import torch

from nova3r_ros.core.types import GroundTruth, Window
from nova3r_ros.synth import SynthConfig, benchmark_config, generate_batch, generate_window
from nova3r_ros.synth.generate import build_scene, cameras_clear
from nova3r_ros.synth.primitives import contains
from nova3r_ros.synth.sampling import sample_primitive

SMALL = dict(height=48, width=64, n_gt_points=5000)


def _bottom(ob):
    """Lowest point of a primitive object, from its parameters (world z)."""
    kind, z, q = ob["kind"], ob["pos"][2], ob["params"]
    if kind == "cone":
        return z
    if kind == "capsule":
        return z - q[0] - q[1]
    return z - q[{"box": 2, "sphere": 0, "cylinder": 1, "torus": 1}[kind]]


def _world(ob, n=3000):
    p = sample_primitive(ob["kind"], ob["params"], n, seed=ob["obj_id"]).double().numpy()
    c, s = np.cos(ob["yaw"]), np.sin(ob["yaw"])
    return np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1], p[:, 2]], 1) + ob["pos"]


def _local(ob, pw):
    q = pw - ob["pos"]
    c, s = np.cos(ob["yaw"]), np.sin(ob["yaw"])
    return np.stack([c * q[:, 0] + s * q[:, 1], -s * q[:, 0] + c * q[:, 1], q[:, 2]], 1)


def test_objects_rest_on_support_and_do_not_interpenetrate():
    """Tabletop objects stand on z = 0 and never overlap (other families: test_synth_families)."""
    cfg = SynthConfig(family="tabletop", n_objects=(6, 8), **SMALL)
    n_objects = 0
    for seed in range(12):
        spec, _, _ = build_scene(seed, cfg)
        obs = spec.objects
        n_objects += len(obs)
        for ob in obs:
            bottom = _bottom(ob)
            assert bottom == pytest.approx(0.0, abs=1e-6), ob
            pts = _world(ob)
            assert pts[:, 2].min() >= bottom - 1e-6
            for other in obs:
                if other is not ob:
                    assert not contains(
                        other["kind"], other["params"], _local(other, pts), 1e-6
                    ).any()
    assert n_objects > 40


def test_tabletop_objects_lie_on_the_table_rectangle():
    for seed in range(10):
        spec, _, _ = build_scene(seed, SynthConfig(**SMALL))
        table = spec.prims["rect"]
        c, h = table["pos"][0], table["params"][0, 6:8]
        for ob in spec.objects:
            pts = _world(ob)
            assert np.all(np.abs(pts[:, 0] - c[0]) <= h[0]) and np.all(
                np.abs(pts[:, 1] - c[1]) <= h[1]
            )


@pytest.mark.parametrize(("n_views", "spread"), [(1, 0.0), (2, 60.0), (4, 90.0)])
def test_benchmark_configs_respect_azimuth_elevation_distance(n_views, spread):
    cfg = benchmark_config(n_views, **SMALL)
    assert cfg.n_views == n_views and cfg.spread_deg == spread and cfg.family == "tabletop"
    for seed in range(40):
        spec, K, T = build_scene(seed, cfg)
        assert K.shape == (n_views, 3, 3) and T.shape == (n_views, 4, 4)
        rel = T[:, :3, 3] - spec.target
        az = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
        diff = (az[:, None] - az[None, :] + 180.0) % 360.0 - 180.0
        assert np.abs(diff).max() <= spread + 1e-9
        dist = np.linalg.norm(rel, axis=1)
        el = np.degrees(np.arcsin(rel[:, 2] / dist))
        assert np.all((el >= 25 - 1e-9) & (el <= 60 + 1e-9)) and np.all(
            (dist >= 0.6) & (dist <= 1.2)
        )
        # cameras look at the scene centre (within the 3 cm look-at jitter), rotation is proper
        ray = -rel / dist[:, None]
        assert np.all(np.einsum("ij,ij->i", T[:, :3, 2], ray) > np.cos(np.radians(5.5)))
        np.testing.assert_allclose(np.linalg.det(T[:, :3, :3]), 1.0, atol=1e-9)
        hfov = np.degrees(2 * np.arctan(cfg.width / 2 / K[:, 0, 0]))
        assert np.all((hfov >= 50 - 1e-6) & (hfov <= 75 + 1e-6))


@pytest.mark.parametrize("mode", ["rig", "moving", "random"])
def test_room_cameras_inside_the_room_and_clear_of_furniture(mode):
    cfg = SynthConfig(family="room", mode=mode, n_views=6, **SMALL)
    for seed in range(30):
        spec, _, T = build_scene(seed, cfg)
        eyes = T[:, :3, 3]
        hx, hy, hz = spec.room_half
        assert np.all((np.abs(eyes[:, 0]) < hx) & (np.abs(eyes[:, 1]) < hy))
        assert np.all((eyes[:, 2] > 0) & (eyes[:, 2] < hz))
        assert cameras_clear(spec, eyes)


@pytest.mark.parametrize("mode", ["rig", "moving", "random"])
def test_modes_window_fields(mode):
    cfg = SynthConfig(mode=mode, n_views=5, **SMALL)
    win, gt = generate_window(3, cfg)
    assert isinstance(win, Window) and isinstance(gt, GroundTruth) and len(win) == 5
    stamps = [v.stamp for v in win.views]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert win.has_poses == (mode == "rig") and win.has_depth and win.has_intrinsics
    names = [v.camera for v in win.views]
    assert names == (["cam0"] * 5 if mode == "moving" else [f"cam{i}" for i in range(5)])
    assert all(v.frame_id == f"{v.camera}_optical_frame" for v in win.views)
    assert (
        len(gt.T_world_cam) == 5 and gt.points.shape == (5000, 3) and gt.points.dtype == np.float32
    )
    if mode == "moving":
        assert all(np.array_equal(gt.K[0], k) for k in gt.K)
    for v in win.views:
        assert v.image.dtype == np.uint8 and v.depth.dtype == np.float32
        assert (v.depth > 0).mean() > 0.2
    assert 0.2 < gt.visible.mean() < 1.0


def test_window_is_deterministic_and_matches_batch():
    cfg = SynthConfig(mesh_dir=None, **SMALL)
    w1, g1 = generate_window(11, cfg)
    w2, g2 = generate_window(11, cfg)
    for a, b in zip(w1.views, w2.views, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.depth, b.depth)
        assert np.array_equal(a.K, b.K)
    assert np.array_equal(g1.points, g2.points) and np.array_equal(g1.visible, g2.visible)
    _, g3 = generate_window(12, cfg)
    assert not np.array_equal(g1.points, g3.points)
    batch = generate_batch([12, 11], config=cfg, image_dtype="float32")
    assert batch["images"].shape == (2, 4, 3, 48, 64) and batch["images"].dtype == torch.float32
    img = (batch["images"][1, 2].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(img, w1.views[2].image)
    assert np.array_equal(batch["depth"][1].numpy(), np.stack([v.depth for v in w1.views]))
    assert np.array_equal(batch["points"][1].numpy(), g1.points)
    assert np.array_equal(batch["visible"][0].numpy(), g3.visible)
    np.testing.assert_allclose(
        batch["T_world_cam"][1].numpy(), np.stack(g1.T_world_cam), atol=1e-6
    )


def test_batch_renders_on_cpu_with_base_seed():
    cfg = SynthConfig(family="room", n_views=2, **SMALL)
    b = generate_batch(5, batch_size=3, config=cfg, device="cpu")
    assert b["seeds"].tolist() == [5, 6, 7]
    assert b["images"].dtype == torch.uint8 and b["images"].shape == (3, 2, 3, 48, 64)
    assert b["depth"].shape == (3, 2, 48, 64) and b["ids"].dtype == torch.int32
    assert b["points"].shape == (3, 5000, 3) and b["visible"].dtype == torch.bool
    assert (b["ids"] >= 2).any() and (b["depth"] > 0).float().mean() > 0.9


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(family="attic"), "family"),
        (dict(n_views=0), "n_views"),
        (dict(n_views=17), "n_views"),
        (dict(mode="orbit"), "mode"),
        (dict(azimuth_spread_deg=400), "azimuth_spread_deg"),
        (dict(height=0), "height"),
        (dict(width=64.5), "width"),
        (dict(n_gt_points=0), "n_gt_points"),
        (dict(mesh_dir="/nonexistent/meshes"), "mesh_dir"),
        (dict(fov_deg=(80, 60)), "fov_deg"),
        (dict(n_objects=(3, 2)), "n_objects"),
        (dict(kinds=("box", "teapot")), "kinds"),
        (dict(device="gpu0"), "device"),
        (dict(mesh_prob=1.5), "mesh_prob"),
    ],
)
def test_bad_config_raises_clear_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SynthConfig(**kwargs)


def test_bad_seeds_and_benchmark_names():
    with pytest.raises(ValueError, match="seed"):
        generate_window(-1, SynthConfig(**SMALL))
    with pytest.raises(ValueError, match="batch_size"):
        generate_batch(0, config=SynthConfig(**SMALL))
    with pytest.raises(ValueError, match="benchmark"):
        benchmark_config(3)
    assert benchmark_config("amodal_2view_60deg").n_views == 2

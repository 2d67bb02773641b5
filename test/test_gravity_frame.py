"""The levelled canonical frame: gravity along +y whatever the camera's roll and pitch."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from nova3r_ros.model.batch import levelling, prepare, to_reference_frame
from nova3r_ros.model.config import CONFIGS
from nova3r_ros.model.gravity import support_plane_down, world_down
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_batch

LEVELLED = replace(CONFIGS["tiny"], gravity_frame=1)


def _rot(axis: str, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    m = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
    return torch.tensor(m, dtype=torch.float32)


def _camera(pitch: float, roll: float) -> torch.Tensor:
    """Return a camera at (0, -1, 1) in a z-up world facing +y, pitched down, then rolled."""
    level = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # optical x, y, z: +x, -z, +y
    T = torch.eye(4)
    T[:3, :3] = level @ _rot("x", -pitch) @ _rot("z", roll)
    T[:3, 3] = torch.tensor([0.0, -1.0, 1.0])
    return T


def test_levelling_puts_gravity_on_y_and_keeps_heading():
    for pitch, roll in [(0.0, 0.0), (0.7, 0.0), (0.4, 0.15), (-0.2, -0.1)]:
        T = _camera(pitch, roll)
        R = levelling(world_down(T[None]))[0]
        torch.testing.assert_close(R @ R.T, torch.eye(3), atol=1e-5, rtol=0)
        assert float(torch.det(R)) == pytest.approx(1.0, abs=1e-5)
        torch.testing.assert_close(R @ world_down(T[None])[0], torch.tensor([0.0, 1.0, 0.0]),
                                   atol=1e-5, rtol=0)  # fmt: skip
        heading = R @ T[:3, :3].T @ torch.tensor([0.0, 1.0, 0.0])  # world +y, levelled
        torch.testing.assert_close(heading, torch.tensor([0.0, 0.0, 1.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(levelling(torch.tensor([[0.0, 2.0, 0.0]]))[0], torch.eye(3))
    down_view = levelling(torch.tensor([[0.0, 0.0, 1.0]]))[0]  # looking straight down
    assert torch.isfinite(down_view).all() and float(torch.det(down_view)) == pytest.approx(1.0)


def test_canonical_points_do_not_depend_on_roll_and_come_back():
    world = torch.randn(1, 200, 3) * 0.2 + torch.tensor([0.0, 0.5, 0.8])
    images = torch.zeros(1, 1, 3, 24, 32, dtype=torch.uint8)
    K = torch.tensor([[[[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]]]])
    depth = torch.ones(1, 1, 24, 32)  # scale 1 for both cameras
    yes = torch.ones(1, dtype=torch.bool)
    outs = []
    for roll in (0.0, 0.3):
        T = _camera(0.5, roll)[None, None]
        out = prepare(LEVELLED, images, K, depth, T, yes, yes, yes, world,
                      gravity=world_down(T[:, 0]))  # fmt: skip
        back = to_reference_frame(out["points"], out["scale"], out["R_canon"])
        ref = (world - T[0, 0, :3, 3]) @ T[0, 0, :3, :3]
        torch.testing.assert_close(back, ref, atol=1e-4, rtol=0)
        outs.append(out)
    torch.testing.assert_close(outs[0]["points"], outs[1]["points"], atol=1e-4, rtol=0)
    plain = prepare(CONFIGS["tiny"], images, K, depth, _camera(0.5, 0.3)[None, None], yes, yes,
                    yes, world, gravity=world_down(_camera(0.5, 0.3)[None]))  # fmt: skip
    assert not torch.allclose(plain["points"], outs[1]["points"], atol=1e-3)  # flag off: camera
    no_depth = prepare(LEVELLED, images, K, depth, _camera(0.5, 0.3)[None, None], ~yes, yes,
                       yes, world, gravity=world_down(_camera(0.5, 0.3)[None]))  # fmt: skip
    torch.testing.assert_close(no_depth["R_canon"], torch.eye(3)[None])  # needs depth


def test_support_plane_of_a_tabletop_gives_gravity():
    cfg = benchmark_config(1, height=96, width=128, n_gt_points=256)
    b = generate_batch([1_600_000, 1_600_001, 1_600_002], config=cfg)
    for i in range(3):
        est = support_plane_down(b["depth"][i, 0], b["K"][i, 0])
        true = world_down(b["T_world_cam"][i : i + 1, 0])[0]
        angle = math.degrees(math.acos(float(torch.clamp(est @ true, -1, 1))))
        assert angle < 3.0, angle
    assert torch.equal(support_plane_down(torch.zeros(24, 32), b["K"][0, 0]), torch.zeros(3))
    wall = torch.full((48, 64), 2.0)  # a wall facing the camera: no support plane
    assert torch.equal(support_plane_down(wall, b["K"][0, 0]), torch.zeros(3))


def test_training_a_levelled_model_saves_the_flag(tmp_path):
    import json

    from nova3r_ros.train.loop import TrainConfig, train

    train(TrainConfig(stage=1, model="tiny", batch=2, n_points=128, views=(1,), device="cpu",
                      reuse=1, minutes=0.01, out=str(tmp_path / "s1")))  # fmt: skip
    s3 = train(TrainConfig(stage=3, model="tiny", batch=2, n_points=128, views=(1, 2),
                           device="cpu", reuse=1, minutes=0.02, init=str(tmp_path / "s1"),
                           out=str(tmp_path / "s3"), gravity_frame=True))  # fmt: skip
    assert s3["steps"] >= 1
    assert json.loads((tmp_path / "s3" / "config.json").read_text())["model"]["gravity_frame"] == 1
    assert np.isfinite(json.loads((tmp_path / "s3" / "train_stage3.jsonl").read_text()
                                  .splitlines()[0])["total"])  # fmt: skip


def test_ray_features_see_the_same_world_point_in_either_frame():
    from nova3r_ros.model.ray_features import ray_features

    cfg = benchmark_config(2, height=48, width=64, n_gt_points=300)
    b = generate_batch([1_600_010], config=cfg)
    yes = torch.ones(1, dtype=torch.bool)
    args = (b["images"], b["K"], b["depth"], b["T_world_cam"], yes, yes, yes, b["points"])
    down = world_down(b["T_world_cam"][:, 0])
    lev = prepare(LEVELLED, *args, gravity=down)
    plain = prepare(CONFIGS["tiny"], *args, gravity=down)
    assert not torch.allclose(lev["points"], plain["points"], atol=1e-3)
    f_lev = ray_features(lev["points"], lev["geo"])
    f_plain = ray_features(plain["points"], plain["geo"])
    assert float(f_plain[..., -2].mean()) > 0.5  # most points are seen by a view
    torch.testing.assert_close(f_lev, f_plain, atol=2e-3, rtol=0)


def test_inference_of_a_levelled_model_takes_gravity_from_world_or_support_plane():
    from nova3r_ros.model.inference import InferenceConfig, infer
    from nova3r_ros.model.network import Nova3r
    from nova3r_ros.synth.generate import generate_window

    torch.manual_seed(0)
    model = Nova3r(LEVELLED).eval()
    win, _ = generate_window(1_600_020, benchmark_config(1, height=48, width=64))
    base = dict(n_points=64, steps=2, depth_consistency=None, publish=None, cuda_graph=False)
    world = infer(model, win, InferenceConfig(world_z_up=True, **base)).points
    plane = infer(model, win, InferenceConfig(world_z_up=False, **base)).points
    model.cfg = CONFIGS["tiny"]  # the same weights in view 0's optical frame
    camera = infer(model, win, InferenceConfig(**base)).points
    assert np.isfinite(world).all() and np.isfinite(plane).all()
    assert np.abs(world - plane).max() < 0.05  # support plane ~ true gravity on a tabletop
    assert np.abs(world - camera).max() > 0.01  # the levelled frame changes the decoding

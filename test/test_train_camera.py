"""Camera-head training: the angular camera loss, pose validation and the pose criterion."""

import json
import math

import cv2
import numpy as np
import pytest
import torch

from nova3r_ros.eval.metrics import pairwise_pose_errors
from nova3r_ros.train.__main__ import main as train_main
from nova3r_ros.train.loop import TrainConfig, camera_loss, train
from nova3r_ros.train.validate import criterion, pairwise_errors_deg


def _rot_z(deg: float) -> torch.Tensor:
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                         [0.0, 0.0, 1.0]])  # fmt: skip


def _pose(deg: float, t) -> torch.Tensor:
    T = torch.eye(4)
    T[:3, :3], T[:3, 3] = _rot_z(deg), torch.tensor(t, dtype=torch.float32)
    return T


def test_the_angular_loss_grows_linearly_with_the_angle_and_the_mse_loss_does_not():
    true = _pose(0.0, [0.2, 0.0, 0.0])[None, None]
    for kind in ("mse", "angular"):
        assert float(camera_loss(true, true, kind)) == pytest.approx(0.0, abs=1e-3)
    small, large = _pose(5.0, [0.2, 0, 0])[None, None], _pose(20.0, [0.2, 0, 0])[None, None]
    # chordal distance 2 sqrt(2) sin(angle / 2): linear for small angles
    assert float(camera_loss(small, true, "angular")) == pytest.approx(
        2 * math.sqrt(2) * math.sin(math.radians(2.5)), rel=1e-3)  # fmt: skip

    def ratio(kind):
        return float(camera_loss(large, true, kind) / camera_loss(small, true, kind))

    ratio_angular, ratio_mse = ratio("angular"), ratio("mse")
    assert 3.8 < ratio_angular < 4.0 < 15.0 < ratio_mse  # squared: about 16
    # the translation's direction: the same length and rotation, turned 90 degrees
    turned = _pose(0.0, [0.0, 0.2, 0.0])[None, None]
    direction = float(camera_loss(turned, true, "angular") - camera_loss(turned, true, "mse"))
    assert direction == pytest.approx(1.0, abs=1e-3)


def test_pairwise_errors_on_the_device_match_the_evaluation_metric():
    rng = np.random.default_rng(3)
    T_true, T_pred = [], []
    for _ in range(4):
        Ts = []
        for _ in range(2):
            rv = rng.normal(size=3)
            T = np.eye(4)
            T[:3, :3] = cv2.Rodrigues(rv)[0]
            T[:3, 3] = rng.normal(size=3)
            Ts.append(T)
        T_true.append(Ts[0])
        T_pred.append(Ts[1])
    r_ref, t_ref = pairwise_pose_errors(T_pred, T_true)
    r, t = pairwise_errors_deg(torch.tensor(np.stack(T_pred))[None],
                               torch.tensor(np.stack(T_true))[None])  # fmt: skip
    assert r.shape == (1, 6)
    np.testing.assert_allclose(r[0].numpy(), r_ref, atol=1e-4)
    np.testing.assert_allclose(t[0].numpy(), t_ref, atol=1e-4)


def test_the_pose_criterion_reads_the_pose_sets_only():
    scores = {"tabletop_1v/f@1cm": 0.9, "pose_2v/auc@30": 0.2, "pose_4v/auc@30": 0.4,
              "pose_2v/rra@15": 0.8}  # fmt: skip
    assert criterion(scores, "pose") == pytest.approx(0.3)
    assert criterion(scores) == pytest.approx(0.9)


def test_bad_camera_settings_are_refused():
    with pytest.raises(ValueError, match="camera_loss"):
        TrainConfig(camera_loss="l2", device="cpu")
    with pytest.raises(ValueError, match="camera_weight"):
        TrainConfig(camera_weight=-1.0, device="cpu")
    with pytest.raises(ValueError, match="val_criterion"):
        TrainConfig(val_criterion="auc", device="cpu")
    with pytest.raises(SystemExit) as e:
        train_main(["--camera-loss", "l2"])
    assert e.value.code == 2


def test_stage_2_trains_the_camera_head_and_keeps_the_best_pose_step(tmp_path):
    common = dict(model="tiny", batch=2, n_points=128, views=(2,), device="cpu", reuse=1)
    train(TrainConfig(stage=1, minutes=0.01, out=str(tmp_path / "s1"), **common))
    cfg = TrainConfig(stage=2, minutes=0.03, init=str(tmp_path / "s1"), camera_weight=2.0,
                      camera_loss="angular", val_every=0.01, val_windows=1,
                      val_criterion="pose", out=str(tmp_path / "s2"), **common)  # fmt: skip
    summary = train(cfg)
    rows = [json.loads(x) for x in (tmp_path / "s2" / "validation.jsonl").read_text().splitlines()]
    assert len(rows) >= 2
    for row in rows:
        assert {"pose_2v/rra@15", "pose_4v/rta@15", "tabletop_1v/f@1cm"} <= set(row)
        assert row["criterion"] == pytest.approx(
            (row["pose_2v/auc@30"] + row["pose_4v/auc@30"]) / 2, abs=1e-4)  # fmt: skip
    best = summary["validation"]["best"]
    assert best["criterion"] == max(r["criterion"] for r in rows)
    lines = (tmp_path / "s2" / "train_stage2.jsonl").read_text().splitlines()
    log = [json.loads(x) for x in lines]
    assert all(math.isfinite(r["camera"]) and r["camera"] > 0 for r in log)

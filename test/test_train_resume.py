"""A run split over several calls: full train state saved, resumed, batches continue."""

import json

import pytest
import torch

from nova3r_ros.model.config import CONFIGS
from nova3r_ros.model.network import Nova3r
from nova3r_ros.train.data import BatchSource, plan_batch
from nova3r_ros.train.loop import TrainConfig, train
from nova3r_ros.train.state import load_train_state, save_train_state

COMMON = dict(model="tiny", batch=2, n_points=128, views=(1, 2), device="cpu", reuse=1)


def test_state_round_trip_and_resumed_run_continues(tmp_path):
    s1 = train(TrainConfig(stage=1, minutes=0.02, out=str(tmp_path / "s1"), save_state=True,
                           schedule="constant", **COMMON))  # fmt: skip
    model = Nova3r(CONFIGS["tiny"])
    params = [
        p for n, p in model.named_parameters() if n.startswith(("point_encoder.", "decoder."))
    ]
    opt = torch.optim.AdamW(params)
    assert load_train_state(tmp_path / "s1", model, opt, "tiny") == s1["steps"]
    assert opt.state and all("exp_avg" in v for v in opt.state.values())
    # resumed in a second call, with the scene layout in a worker process
    s2 = train(TrainConfig(stage=1, minutes=0.02, out=str(tmp_path / "s2"), data_workers=1,
                           resume=str(tmp_path / "s1"), **COMMON))  # fmt: skip
    assert s2["first_step"] == s1["steps"] and s2["steps"] >= 1
    log = [
        json.loads(x) for x in (tmp_path / "s2" / "train_stage1.jsonl").read_text().splitlines()
    ]
    assert log[0]["step"] == s1["steps"]
    assert json.loads((tmp_path / "s2" / "config.json").read_text())["step"] == (
        s1["steps"] + s2["steps"]
    )
    with pytest.raises(ValueError, match="of model 'tiny'"):
        load_train_state(tmp_path / "s1", Nova3r(CONFIGS["tiny"]), opt, "base")
    with pytest.raises(ValueError, match="no readable training state"):
        train(TrainConfig(stage=1, minutes=0.01, out=str(tmp_path / "s3"),
                          resume=str(tmp_path / "nothing"), **COMMON))  # fmt: skip


def test_batch_source_in_workers_equals_in_process():
    cfg = TrainConfig(stage=1, p_robot=0.5, **COMMON)
    model_cfg = CONFIGS["tiny"]
    a = BatchSource(cfg, model_cfg, 0, torch.device("cpu"), workers=0, start=3)
    b = BatchSource(cfg, model_cfg, 0, torch.device("cpu"), workers=1, start=3)
    try:
        for i in range(3):
            x, y = a.next(), b.next()
            assert torch.equal(x["seeds"], y["seeds"])
            assert torch.equal(x["images"], y["images"]) and torch.equal(x["points"], y["points"])
            seeds, _ = plan_batch(cfg, model_cfg, 3 + i, 0, "cpu")
            assert x["seeds"].tolist() == seeds
    finally:
        b.close()


def test_save_state_writes_no_pickle(tmp_path):
    model = Nova3r(CONFIGS["tiny"])
    opt = torch.optim.AdamW(model.parameters())
    path = save_train_state(tmp_path, model, opt, "tiny", 7)
    assert json.loads(path.read_text())["step"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "train_state.json",
        "train_state.safetensors",
    ]


def test_frustum_targets_keep_only_points_in_front_of_the_cameras():
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch
    from nova3r_ros.train.targets import frustum_targets, region_mask

    cfg = benchmark_config(1, family="room", height=24, width=32, n_gt_points=2048)
    batch = generate_batch([3, 4], config=cfg)
    mask = region_mask(batch["points"], batch["depth"], batch["K"], batch["T_world_cam"])
    assert 0.0 < float(mask.float().mean()) < 0.9  # a room: much of it behind the camera
    out = frustum_targets(batch, 256, torch.Generator().manual_seed(0))
    assert out["points"].shape == (2, 256, 3) and out["visible"].shape == (2, 256)
    assert bool(region_mask(out["points"], batch["depth"], batch["K"], batch["T_world_cam"]).all())
    # a point straight behind the camera is never in the region
    T = batch["T_world_cam"][0, 0]
    behind = (T[:3, :3] @ torch.tensor([0.0, 0.0, -1.0]) + T[:3, 3])[None, None]
    assert not bool(region_mask(behind, batch["depth"][:1], batch["K"][:1], T[None, None]).any())
    assert batch["points"].shape[1] == 2048  # the input batch is not mutated

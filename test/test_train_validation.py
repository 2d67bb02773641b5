"""Validation inside training: region-cut references, F-scores that can fail, best step kept."""

import json

import torch

from nova3r_ros.train.loop import TrainConfig, train
from nova3r_ros.train.targets import region_mask
from nova3r_ros.train.validate import criterion, set_scores, synthetic_set


def test_validation_set_scores_its_own_reference_perfectly_and_noise_badly():
    vs = synthetic_set("room_1v", "room", 1_700_000, 2, 1, "cpu", height=48, width=64)
    assert all(len(t) > 100 for t in vs.targets)
    for b, t in enumerate(vs.targets):  # the references lie in their window's region
        assert bool(region_mask(t[None], vs.depth[b : b + 1], vs.K[b : b + 1],
                                vs.T_world_cam[b : b + 1]).all())  # fmt: skip
    n = min(len(t) for t in vs.targets)
    perfect = torch.stack([t[:n] for t in vs.targets])
    good = set_scores(vs, perfect)
    assert good["room_1v/outside"] == 0.0
    assert good["room_1v/f@5cm"] > 0.9  # recall is over the whole reference: n of it
    shifted = set_scores(vs, perfect + torch.tensor([0.0, 0.0, 0.2]))
    assert shifted["room_1v/f@1cm"] < 0.2 < good["room_1v/f@1cm"]
    assert criterion(good) > criterion(shifted)


def test_training_validates_and_keeps_the_best_step(tmp_path):
    cfg = TrainConfig(stage=1, model="tiny", batch=2, n_points=128, views=(1, 2), device="cpu",
                      reuse=1, minutes=0.03, val_every=0.01, val_windows=1,
                      out=str(tmp_path))  # fmt: skip
    summary = train(cfg)
    rows = [json.loads(x) for x in (tmp_path / "validation.jsonl").read_text().splitlines()]
    assert len(rows) >= 2 and rows[0]["step"] == 0  # the start is scored before training
    keys = {"tabletop_1v/f@1cm", "room_4v/f@5cm", "tabletop_4v/outside"}
    assert keys <= set(rows[0])
    best = summary["validation"]["best"]
    assert best["criterion"] == max(r["criterion"] for r in rows)
    saved = json.loads((tmp_path / "best" / "config.json").read_text())
    assert saved["step"] == best["step"]


def test_a_resumed_run_keeps_the_best_of_the_segment_before(tmp_path):
    common = dict(stage=1, model="tiny", batch=2, n_points=128, views=(1,), device="cpu",
                  reuse=1, minutes=0.01, val_every=10.0, val_windows=1)  # fmt: skip
    first = train(TrainConfig(out=str(tmp_path / "a"), save_state=True, **common))
    best_a = first["validation"]["best"]
    second = train(TrainConfig(out=str(tmp_path / "b"), resume=str(tmp_path / "a"), **common))
    best_b = second["validation"]["best"]
    assert best_b["criterion"] >= best_a["criterion"]
    saved = json.loads((tmp_path / "b" / "best" / "config.json").read_text())
    assert saved["step"] == best_b["step"]

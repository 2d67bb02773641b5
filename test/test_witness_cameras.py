"""Witness cameras: what a longer recording of a synthetic scene would have seen.

The hidden-surface head's targets are the surfaces some camera saw that a view did not
measure. With a window's few views those are a sparse, camera-dependent subset of what a
real recording's reference holds; witness cameras (``SynthConfig.witnesses``,
``hidden_train --witnesses N``) add what N more cameras around the scene see, leaving the
window itself unchanged.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from nova3r_ros.model.hidden_head import HiddenHeadConfig
from nova3r_ros.synth.generate import build_scene, cameras_valid, generate_batch, witness_cameras
from nova3r_ros.synth.training_mix import training_config
from nova3r_ros.train.hidden_train import view_targets

H, W = 48, 64
SEEDS = [1_500_010, 1_500_011]


def _shelf():
    cfg = training_config(np.random.default_rng(3), 2, H, W, n_gt_points=30_000, family="shelf")
    return replace(cfg, mode="random", azimuth_spread_deg=20.0)


def test_witnesses_leave_the_window_alone_and_see_more():
    cfg = _shelf()
    plain = generate_batch(SEEDS, config=cfg, device="cpu")
    with_w = generate_batch(SEEDS, config=replace(cfg, witnesses=8), device="cpu")
    assert "witnessed" not in plain
    for key, value in plain.items():
        assert torch.equal(value, with_w[key]), key
    seen, witnessed = plain["visible"], with_w["witnessed"]
    assert witnessed.dtype == torch.bool and witnessed.shape == seen.shape
    assert bool((witnessed | ~seen).all())  # everything the views see is witnessed
    assert int(witnessed.sum()) > int(seen.sum()) * 1.1  # 20 degrees of views see a part
    again = generate_batch(SEEDS, config=replace(cfg, witnesses=8), device="cpu")
    assert torch.equal(again["witnessed"], witnessed)


def test_witness_cameras_are_valid_reproducible_and_their_own_stream():
    cfg = _shelf()
    spec, _, T = build_scene(SEEDS[0], cfg)
    Kw, Tw = witness_cameras(SEEDS[0], spec, cfg, 6)
    assert Kw.shape == (6, 3, 3) and Tw.shape == (6, 4, 4)
    assert cameras_valid(spec, Tw[:, :3, 3])
    Kw2, Tw2 = witness_cameras(SEEDS[0], spec, cfg, 6)
    assert np.array_equal(Kw, Kw2) and np.array_equal(Tw, Tw2)
    assert not np.allclose(Tw[:2], T)  # not the window's own cameras
    spread = np.ptp(np.arctan2(Tw[:, 1, 3] - spec.target[1], Tw[:, 0, 3] - spec.target[0]))
    assert spread > np.radians(20.0)  # around the scene, not only where the window looked
    for bad in (0, 65):
        with pytest.raises(ValueError, match="witnesses"):
            witness_cameras(SEEDS[0], spec, cfg, bad)
    for bad in (-1, 65, 2.0):
        with pytest.raises(ValueError, match="witnesses"):
            replace(cfg, witnesses=bad)
    built = [build_scene(s, cfg) for s in SEEDS]  # laid out without witnesses
    with pytest.raises(ValueError, match="witnesses"):
        generate_batch(SEEDS, config=replace(cfg, witnesses=4), device="cpu", built=built)


def test_witnessed_targets_are_nearer_or_new_never_farther():
    """Layer 0 (the nearest unmeasured surface) over more eligible points comes nearer."""
    cfg = _shelf()
    b = generate_batch(SEEDS, config=replace(cfg, witnesses=12), device="cpu")
    head = HiddenHeadConfig(height=H, width=W, cell_px=2, layers=2, channels=(8, 8, 8, 8))
    (e0, z0, _), (e1, z1, _) = (view_targets(b, head, k) for k in ("visible", "witnessed"))
    assert bool((e1[:, 0] | ~e0[:, 0]).all())  # a layer 0 stays a layer 0
    both = e0[:, 0] & e1[:, 0]
    assert bool((z1[:, 0][both] <= z0[:, 0][both] + 1e-6).all())
    assert int((z1[:, 0][both] < z0[:, 0][both] - 0.05).sum()) + int((e1 & ~e0).sum()) > 0


def test_hidden_training_takes_witness_targets_and_refuses_bad_counts(tmp_path, capsys):
    from types import SimpleNamespace

    from nova3r_ros.model.hidden_head import HiddenHead
    from nova3r_ros.synth.scene_pool import ScenePool
    from nova3r_ros.train.data import plan_batch, render_batch
    from nova3r_ros.train.hidden_train import batch_loss, main
    from nova3r_ros.train.loop import TrainConfig

    train = TrainConfig(batch=2, views=(2,), p_robot=1.0, n_points=20_000, targets="scene",
                        witnesses=6, device="cpu")  # fmt: skip
    seeds, synth = plan_batch(train, SimpleNamespace(image_height=H, image_width=W), 0, 0, "cpu")
    assert synth.witnesses == 6
    with ScenePool(1) as pool:  # laid out in a worker with its witnesses, as in training
        built = pool.build(seeds, synth)
    assert all(len(b) == 5 and b[4].shape == (6, 4, 4) for b in built)
    pooled = render_batch(train, 0, 0, seeds, synth, "cpu", built)
    here = render_batch(train, 0, 0, seeds, synth, "cpu")
    assert torch.equal(pooled["witnessed"], here["witnessed"])
    with pytest.raises(ValueError, match="witnesses"):
        TrainConfig(witnesses=65, device="cpu")

    cfg = _shelf()
    b = generate_batch(SEEDS, config=replace(cfg, witnesses=12), device="cpu")
    head = HiddenHead(HiddenHeadConfig(height=H, width=W, channels=(8, 8, 8, 8)))
    plain = {k: v for k, v in b.items() if k != "witnessed"}
    same = batch_loss(head, {**plain, "witnessed": plain["visible"]})
    assert torch.equal(batch_loss(head, plain)["total"], same["total"])
    assert float(batch_loss(head, b)["positive"]) > float(same["positive"])
    for bad in ("-1", "65"):
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(tmp_path / "never"), "--witnesses", bad])
        assert exc.value.code == 2
        assert "--witnesses" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_target_shift_script_reports_and_refuses_bad_options():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, str(root / "scripts" / "witness_target_shift.py")]
    ok = subprocess.run([*cmd, "--batches", "1", "--batch", "1", "--witnesses", "4"],
                        capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "cells with a layer 0" in ok.stdout and "more than 5 cm nearer" in ok.stdout
    for bad in (["--witnesses", "0"], ["--batches", "0"], ["--witnesses", "x"]):
        res = subprocess.run([*cmd, *bad], capture_output=True, text=True, env=env, timeout=60)
        assert res.returncode == 2 and "error" in res.stderr.splitlines()[-1]

"""The hidden-surface head: its training targets, the network, its files and its training.

Torch on the CPU. The targets are checked on a hand-made view (identity pose, f = 100 px
at 160x120): a wall at z = 2 m, a box whose front face is at 1 m and back face at 1.2 m,
and a hole cut into the wall's depth.
"""

import json
from dataclasses import replace

import pytest
import torch

from nova3r_ros.model.hidden_head import (
    HiddenHead,
    HiddenHeadConfig,
    cell_rays,
    features,
    predict_points,
    resample_view,
)
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.train.hidden_grow import with_context
from nova3r_ros.train.hidden_targets import layer_targets

H, W, F = 120, 160, 100.0
K = torch.tensor([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
CFG = HiddenHeadConfig(channels=(8, 16, 16, 16))
BOX = (slice(40, 80), slice(60, 100))  # pixels the box covers
HOLE = (slice(10, 30), slice(10, 30))  # pixels with no depth on the wall


def _plane(z: float, rows: slice, cols: slice, step: float = 0.25) -> torch.Tensor:
    """Points on the plane at depth z that project onto the pixel block (4 per pixel)."""
    rr = torch.arange(rows.start, rows.stop - 0.5, step)
    v, u = torch.meshgrid(rr, torch.arange(cols.start, cols.stop - 0.5, step), indexing="ij")
    x, y = (u.flatten() - K[0, 2]) / F * z, (v.flatten() - K[1, 2]) / F * z
    return torch.stack([x, y, torch.full_like(x, z)], 1)


def scene():
    """GT points (1, M, 3), input depth (1, H, W)."""
    pts = torch.cat([
        _plane(2.0, slice(0, H), slice(0, W)),  # the wall, also behind the box
        _plane(1.0, BOX[0], BOX[1]),  # the box's front
        _plane(1.2, BOX[0], BOX[1]),  # its back
        _plane(0.5, slice(100, 110), slice(0, 20)),  # GT the sensor saw as free: no target
    ])  # fmt: skip
    depth = torch.full((1, H, W), 2.0)
    depth[0][BOX] = 1.0
    depth[0][HOLE] = 0.0
    depth[0, 100:110, 0:20] = 2.0
    return pts[None], depth


def test_layers_are_the_unmeasured_surfaces_along_each_cell():
    pts, depth = scene()
    exists, z, uncertain = layer_targets(pts, torch.eye(4)[None], K[None], depth, CFG)
    assert exists.shape == z.shape == uncertain.shape == (1, 2, 60, 80)
    box = (slice(21, 39), slice(31, 49))  # cells well inside the box
    assert exists[0, 0][box].all() and exists[0, 1][box].all()
    assert torch.allclose(z[0, 0][box], torch.tensor(1.2)) and torch.allclose(
        z[0, 1][box], torch.tensor(2.0)
    )
    hole = (slice(6, 14), slice(6, 14))
    assert exists[0, 0][hole].all() and torch.allclose(z[0, 0][hole], torch.tensor(2.0))
    assert not exists[0, 1][hole].any()
    assert not exists[0, :, 45:60, 50:78].any()  # the measured wall
    assert not uncertain[0, :, 45:60, 50:78].any()
    assert not exists[0, :, 51:54, 1:9].any()  # GT where the sensor saw free space
    assert (uncertain & exists).sum() == 0


def test_head_shapes_files_and_tampering(tmp_path):
    torch.manual_seed(0)
    head = HiddenHead(CFG).eval()
    _, depth = scene()
    images = torch.full((1, 480, 640, 3), 128, dtype=torch.uint8)
    big = torch.nn.functional.interpolate(depth[:, None], size=(480, 640), mode="nearest")[:, 0]
    K_big = K.clone()
    K_big[:2] *= 4
    K_big[0, 2], K_big[1, 2] = 319.5, 239.5
    d, img, Ks = resample_view(big, images, K_big[None], CFG.height, CFG.width)
    assert torch.allclose(Ks[0], K, atol=1e-4) and torch.equal(d, depth)
    x, scale = features(d, img, Ks)
    assert x.shape == (1, 5, H, W) and torch.allclose(scale, torch.tensor([2.0]))
    logits, ratio, log_b, weight = head(x)
    assert logits.shape == (1, 2, 60, 80)
    assert ratio.shape == log_b.shape == weight.shape == (1, 2, 1, 60, 80)
    assert not weight.any()  # one mode: all its weight
    T = torch.eye(4)
    T[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
    pts, prob, view = predict_points(head, big, images, K_big[None], T[None], 0.0)
    assert pts.shape == (2 * 60 * 80, 3) and prob.shape == view.shape == (2 * 60 * 80,)
    cam = pts - T[:3, 3]  # on the cells' central rays, in the reference frame
    rays = cell_rays(Ks, CFG)[0].reshape(-1, 3).repeat(2, 1)
    assert torch.allclose(cam / cam[:, 2:], rays, atol=1e-4)
    save_head(tmp_path / "h", head, {"step": 3})
    again = load_head(tmp_path / "h")
    assert torch.equal(again(x)[0], logits)
    doc = json.loads((tmp_path / "h" / "hidden_head.json").read_text())
    doc["config"]["channels"] = [8, 16, 16, 32]
    (tmp_path / "h" / "hidden_head.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not a hidden-surface head"):
        load_head(tmp_path / "h")
    with pytest.raises(ValueError, match="not a hidden-surface head"):
        load_head(tmp_path / "missing")
    doc["config"]["channels"] = [8, 16, 16, 16]  # a valid config, weights not safetensors
    (tmp_path / "h" / "hidden_head.json").write_text(json.dumps(doc))
    (tmp_path / "h" / "hidden_head.safetensors").write_bytes(b"\x80\x04not safetensors" * 9)
    with pytest.raises(ValueError, match="not a hidden-surface head"):
        load_head(tmp_path / "h")


@pytest.mark.parametrize(("context", "modes"), [(0, 1), (1, 1), (0, 3)])
def test_training_fits_a_fixed_synthetic_batch(context, modes):
    """Thirty steps on one generated batch lower its loss (the loss and targets train).

    With a context block, the block trains too (its zero-initialised output layers move);
    with three depth modes, the mixture's loss trains and its modes' weights part.
    """
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch
    from nova3r_ros.synth.sensor import SENSOR_PRESETS, apply_sensors
    from nova3r_ros.train.hidden_train import batch_loss

    torch.manual_seed(0)
    synth = benchmark_config(1, family="counter", height=H, width=W, n_gt_points=60_000)
    batch = generate_batch(1_500_000, 2, synth, device="cpu")
    batch = apply_sensors(
        batch, [SENSOR_PRESETS["kinect_v1"]] * 2, torch.Generator().manual_seed(0)
    )
    head = with_context(HiddenHead(replace(CFG, modes=modes)), context)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as on the GPU: targets in float32
        assert torch.isfinite(batch_loss(head, batch)["total"])
    first = float(batch_loss(head, batch)["total"].detach())
    for _ in range(30):
        loss = batch_loss(head, batch)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(batch_loss(head, batch)["total"].detach()) < 0.7 * first
    for block in head.context:
        assert block.attn.out_proj.weight.abs().max() > 0 and block.mlp[2].weight.abs().max() > 0
    if modes > 1:
        img = batch["images"][0].float()
        img = img / 255.0 if batch["images"].dtype == torch.uint8 else img
        x = features(batch["depth"][0].float(), img, batch["K"][0].float())[0]
        weight = torch.softmax(head(x)[3], dim=2)
        assert weight.max() > 0.5 and weight.min() < 0.2  # no longer equal everywhere


def test_context_blocks_extend_a_trained_head_without_changing_it(tmp_path):
    """with_context adds identity blocks; the files keep them; fewer blocks is refused."""
    torch.manual_seed(0)
    head = HiddenHead(CFG).eval()
    x = features(*resample_view(scene()[1], torch.full((1, H, W, 3), 90, dtype=torch.uint8),
                                K[None], H, W))[0]  # fmt: skip
    before = head(x)
    wide = with_context(head, 2).eval()
    assert wide.config.context == 2 and len(wide.context) == 2
    assert all(torch.equal(a, b) for a, b in zip(before, wide(x), strict=True))
    with torch.no_grad():  # a trained block changes the outputs and is saved with the head
        for p in wide.context.parameters():
            p.add_(0.05 * torch.randn_like(p))
    changed = wide(x)
    assert not torch.allclose(changed[0], before[0])
    save_head(tmp_path / "c", wide, min_probability=0.4)
    again = load_head(tmp_path / "c")
    assert again.config.context == 2 and again.min_probability == 0.4
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(changed, again(x), strict=True))
    with pytest.raises(ValueError, match="context"):
        with_context(again, 1)
    for bad in ({"context": -1}, {"context": 9}, {"context": 1, "channels": (8, 16, 16, 18)}):
        with pytest.raises(ValueError, match="context"):
            HiddenHeadConfig(**bad)


def test_context_option_errors_exit_2(tmp_path, capsys):
    """``--context`` out of range, or fewer blocks than the --init head has: exit 2."""
    from nova3r_ros.train.hidden_train import main

    save_head(tmp_path / "c2", with_context(HiddenHead(CFG), 2))
    for extra in (["--context", "-1"], ["--context", "1", "--channels", "8,16,16,18"],
                  ["--context", "1", "--init", str(tmp_path / "c2")],
                  ["--context", "1", "--init", str(tmp_path / "none")]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(tmp_path / "never"), *extra])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--context" in err or "--init" in err
    assert not (tmp_path / "never").exists()


def test_published_cloud_adds_head_points_in_gated_windows_only():
    from nova3r_ros.model.measurement import measure
    from nova3r_ros.model.observed_points import observed_cloud
    from nova3r_ros.model.published_cloud import PublishConfig, publish

    torch.manual_seed(0)
    head = HiddenHead(CFG).eval()
    _, depth = scene()
    rgb = torch.full((1, H, W, 3), 100, dtype=torch.uint8)
    T = torch.eye(4)[None]
    cfg = PublishConfig(hidden_min_probability=0.0)  # every cell of the untrained head
    pub = publish(None, None, depth, K[None], T, rgb, cfg, hidden_head=head)
    hidden = pub.points[pub.part("hidden")]
    assert pub.stats["gated"] == 1 and pub.stats["hidden_points"] == len(hidden) > 100
    raw = predict_points(head, depth, rgb, K[None], T, 0.0)[0]
    assert measure(raw, depth, K[None], T, depth > 0).free.sum() > 100  # some lie in free space
    m = measure(hidden, depth, K[None], T, depth > 0)
    assert not m.free.any() and not m.surface.any() and m.region.all()
    strict = PublishConfig(hidden_min_probability=0.0, min_confidence=0.9)
    high = publish(None, None, depth, K[None], T, rgb, strict, hidden_head=head)
    n_high = high.stats["hidden_points"]
    assert n_high < len(hidden)  # min_confidence holds for the head's points too
    assert bool((high.confidence[high.part("hidden")] >= 0.9).all())
    none = publish(None, None, depth, K[None], T, rgb, cfg)  # no head: no hidden points
    assert none.stats["hidden_points"] == 0
    forced = publish(None, None, depth, K[None], T, rgb, PublishConfig(force_gate=True),
                     hidden_head=head)  # fmt: skip
    assert forced.stats["hidden_points"] == 0 and bool(forced.observed.all())
    decoded = observed_cloud(depth, K[None], T, rgb, 0.01)[0]  # agrees with the depth: no gate
    passed = publish(decoded, decoded, depth, K[None], T, rgb, cfg, hidden_head=head)
    assert passed.stats["gated"] == 0 and passed.stats["hidden_points"] == 0


def test_a_shipped_head_is_half_size_and_carries_its_threshold(tmp_path):
    """A float16 head loads as float32 and gives the same outputs to fp16 rounding.

    The threshold stored with the head is what the published cloud uses unless told
    otherwise.
    """
    from nova3r_ros.model.published_cloud import PublishConfig, publish

    torch.manual_seed(0)
    head = HiddenHead(CFG).eval()
    save_head(tmp_path / "full", head)
    save_head(tmp_path / "half", head, {"step": 1}, min_probability=0.45, half=True)
    full_b = (tmp_path / "full" / "hidden_head.safetensors").stat().st_size
    half_b = (tmp_path / "half" / "hidden_head.safetensors").stat().st_size
    assert half_b < 0.6 * full_b
    half = load_head(tmp_path / "half")
    assert load_head(tmp_path / "full").min_probability == 0.5  # none stored: the default
    assert half.min_probability == 0.45
    assert all(p.dtype == torch.float32 for p in half.parameters())
    _, depth = scene()
    rgb = torch.full((1, H, W, 3), 100, dtype=torch.uint8)
    x, _ = features(*resample_view(depth, rgb, K[None], H, W))
    assert torch.allclose(half(x)[0], head(x)[0], atol=0.05)
    T = torch.eye(4)[None]
    own = publish(None, None, depth, K[None], T, rgb, PublishConfig(), hidden_head=half)
    told = publish(None, None, depth, K[None], T, rgb,
                   PublishConfig(hidden_min_probability=0.45), hidden_head=half)  # fmt: skip
    low = publish(None, None, depth, K[None], T, rgb,
                  PublishConfig(hidden_min_probability=0.0), hidden_head=half)  # fmt: skip
    assert own.stats["hidden_points"] == told.stats["hidden_points"]
    assert low.stats["hidden_points"] > own.stats["hidden_points"]
    with pytest.raises(ValueError, match="min_probability"):
        save_head(tmp_path / "bad", head, min_probability=1.5)
    doc = json.loads((tmp_path / "half" / "hidden_head.json").read_text())
    doc["min_probability"] = 2.0
    (tmp_path / "half" / "hidden_head.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not a hidden-surface head"):
        load_head(tmp_path / "half")


def test_two_rank_cpu_training_stays_in_lockstep(tmp_path):
    """A real 2-process torchrun run (gloo): same steps, same LR, identical weights."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    out = tmp_path / "hh"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "nova3r_ros.train.hidden_train", "--device", "cpu", "--minutes", "0.25",
           "--batch", "1", "--views", "2", "--gt-points", "5000", "--val-batches", "1",
           "--val-rooms", "1",
           "--channels", "8,16,16,16", "--out", str(out)]  # fmt: skip
    log = tmp_path / "torchrun.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=60)
            pytest.fail(f"2-rank run hung:\n{log.read_text()[-3000:]}")
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    finals = {r["rank"]: r for r in map(json.loads, re.findall(r'\{"rank": [^}]*\}', text))}
    assert sorted(finals) == [0, 1], text[-3000:]
    assert finals[0]["steps"] == finals[1]["steps"] > 2
    assert finals[0]["lr"] == finals[1]["lr"] and finals[0]["checksum"] == finals[1]["checksum"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == finals[0]["steps"] and summary["windows"] == 2 * summary["steps"]
    for scored in ("room_1v", "kitchen_1v"):  # synthetic sets the head's points are scored on
        assert f"{scored}/head_points@0.3" in summary["val_start"]
    assert load_head(out).config.channels == (8, 16, 16, 16)


def test_validation_scores_right_and_wrong_points():
    """The checkpoint scores: the hidden reference itself scores 1, the same 10 m away 0."""
    from nova3r_ros.model.observed_points import nearest, observed_cloud
    from nova3r_ros.train.hidden_validation import head_scores, validate_head
    from nova3r_ros.train.validate import VAL_ROOM_SEED, synthetic_set

    vs = synthetic_set("room_1v", "room", VAL_ROOM_SEED, 2, 1, "cpu", height=96, width=128)
    hidden = []
    for b in range(2):
        obs = observed_cloud(vs.depth[b], vs.K[b], vs.T_world_cam[b],
                             vs.images[b].permute(0, 2, 3, 1), 0.01)[0]  # fmt: skip
        t = vs.targets[b]
        hidden.append(t[nearest(t, obs)[0][:, 0] > 0.05])
    assert all(len(h) > 50 for h in hidden)
    right = head_scores(vs, hidden)
    assert right["room_1v/head_precision"] == 1.0 and right["room_1v/head_hidden_recall"] == 1.0
    off = head_scores(vs, [h + torch.tensor([0.0, 0.0, 10.0]) for h in hidden])
    assert off["room_1v/head_precision"] == 0.0 and off["room_1v/head_hidden_recall"] == 0.0
    assert head_scores(vs, [h[:0] for h in hidden])["room_1v/head_points"] == 0.0
    scores = validate_head(HiddenHead(CFG), [vs], thresholds=(0.0, 0.99))
    assert 0.0 <= scores["room_1v/head_precision@0"] <= 1.0
    assert scores["room_1v/head_points@0"] > scores["room_1v/head_points@0.99"]


def test_ship_head_command_writes_a_half_head_with_its_threshold(tmp_path):
    import subprocess
    import sys

    from nova3r_ros.train.ship_head import main

    save_head(tmp_path / "trained", HiddenHead(CFG), {"step": 7})
    assert main([str(tmp_path / "trained"), str(tmp_path / "ship"), "--min-probability",
                 "0.4", "--note", "chosen on validation"]) == 0  # fmt: skip
    head = load_head(tmp_path / "ship")
    doc = json.loads((tmp_path / "ship" / "hidden_head.json").read_text())
    assert head.min_probability == 0.4 and doc["meta"]["training"] == {"step": 7}
    assert doc["meta"]["note"] == "chosen on validation"
    for bad in (["--min-probability", "1.5"], ["--min-probability", "0.4"]):
        src = tmp_path / ("trained" if bad[1] == "1.5" else "missing")
        cmd = [sys.executable, "-m", "nova3r_ros.train.ship_head", str(src),
               str(tmp_path / "x"), *bad]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_family_weights_pick_the_training_scenes_and_bad_ones_exit_2(tmp_path, capsys):
    """``--family-weights`` reaches the robot mix; unknown families or bad syntax: exit 2."""
    from types import SimpleNamespace

    from nova3r_ros.train.data import plan_batch
    from nova3r_ros.train.hidden_train import main
    from nova3r_ros.train.loop import TrainConfig

    size = SimpleNamespace(image_height=48, image_width=64)
    for family in ("kitchen", "shelf"):
        cfg = TrainConfig(batch=2, views=(1,), p_robot=1.0, family_weights={family: 1.0},
                          device="cpu")  # fmt: skip
        assert all(plan_batch(cfg, size, i, 0, "cpu")[1].family == family for i in range(4))
    for bad in ({"attic": 1.0}, {"kitchen": -1.0}, {"kitchen": 0.0}, {}):
        with pytest.raises(ValueError, match="family_weights"):
            TrainConfig(family_weights=bad, device="cpu")
    for text in ("attic=1", "kitchen", "kitchen=x", "room=0"):
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(tmp_path / "never"), "--family-weights", text])
        assert exc.value.code == 2
        assert "--family-weights" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_resumed_run_continues_with_the_saved_adamw_moments(tmp_path, capsys):
    """The last step keeps its AdamW moments; ``--resume`` loads them; bad resumes exit 2."""
    from nova3r_ros.train.hidden_train import main
    from nova3r_ros.train.state import load_train_state

    tiny = ["--device", "cpu", "--batch", "1", "--views", "2", "--gt-points", "5000",
            "--val-batches", "1", "--val-rooms", "0", "--minutes", "0.05"]  # fmt: skip
    assert main([*tiny, "--channels", "8,16,16,16", "--out", str(tmp_path / "a")]) == 0
    first = json.loads((tmp_path / "a" / "summary.json").read_text())
    last = tmp_path / "a" / f"step_{first['steps']}"
    names = sorted(p.name for p in last.iterdir())
    assert names == ["hidden_head.json", "hidden_head.safetensors", "train_state.json",
                     "train_state.safetensors"]  # fmt: skip
    head = load_head(last)
    opt = torch.optim.AdamW(head.parameters())
    assert load_train_state(last, head, opt, "hidden_head") == first["steps"]
    moments = [opt.state[p]["exp_avg_sq"] for p in head.parameters()]
    assert all(m.dtype == torch.float32 for m in moments)  # stored bfloat16, loaded as the params
    from safetensors.torch import load_file

    stored = load_file(str(last / "train_state.safetensors"))
    assert {v.dtype for k, v in stored.items() if not k.endswith(".step")} == {torch.bfloat16}
    assert len(moments) == len(list(head.parameters())) and any(m.abs().sum() > 0 for m in moments)
    assert main([*tiny, "--resume", str(last), "--out", str(tmp_path / "b")]) == 0
    rows = (tmp_path / "b" / "hidden_train.jsonl").read_text().splitlines()
    assert json.loads(rows[0])["resumed_step"] == first["steps"]
    assert load_head(tmp_path / "b").config.channels == (8, 16, 16, 16)
    # moments that do not fit the head, a step without moments, or growth on a resume
    save_head(tmp_path / "other", HiddenHead(replace(CFG, modes=2)))  # other output shapes
    for f in ("train_state.json", "train_state.safetensors"):
        (tmp_path / "other" / f).write_bytes((last / f).read_bytes())
    with pytest.raises(ValueError, match="does not match"):
        other = load_head(tmp_path / "other")
        load_train_state(tmp_path / "other", other, torch.optim.AdamW(other.parameters()),
                         "hidden_head")  # fmt: skip
    bare = tmp_path / "bare"
    save_head(bare, head)
    for extra in (["--resume", str(bare)], ["--resume", str(last), "--init", str(last)],
                  ["--resume", str(last), "--modes", "2"],
                  ["--resume", str(tmp_path / "none")]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main([*tiny, "--out", str(tmp_path / "never"), *extra])
        assert exc.value.code == 2
        assert "--resume" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()

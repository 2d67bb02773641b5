"""The learned matcher: its targets, files, matching, training CLI and place in the RGB poses."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nova3r_ros.cli import main as cli_main
from nova3r_ros.eval.run import strip_inputs
from nova3r_ros.model.matcher import (
    MatchNet,
    cell_to_px,
    dense_matches,
    dual_softmax,
    match_descriptors,
    sqrt_dual_softmax,
)
from nova3r_ros.model.matcher_files import load_matcher, save_matcher
from nova3r_ros.model.pose_rgb import RgbPoseConfig, refine_rgb_views
from nova3r_ros.model.pose_rgb_learned import LearnedMatches
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_batch, generate_window
from nova3r_ros.train.matcher_train import (
    cell_targets,
    cell_targets_px,
    lr_factor,
    sevenscenes_pairs,
)
from nova3r_ros.train.matcher_train import main as train_main

CFG4 = benchmark_config(4, family="tabletop", height=192, width=256)
DEV = Path(__file__).resolve().parents[2] / "shared/data/7scenes-redkitchen-dev"


def test_cell_targets_follow_the_true_depth_and_poses():
    b = generate_batch([5], config=CFG4, image_dtype="float32")
    d, K, T = b["depth"], b["K"], b["T_world_cam"]
    same = cell_targets(d[:, 0], K[:, 0], T[:, 0], d[:, 0], K[:, 0], T[:, 0])[0]
    valid = same >= 0
    assert 0.2 < valid.float().mean() < 1.0  # the table and objects, not the background
    assert torch.equal(same[valid], torch.arange(same.numel())[valid])  # each cell itself
    other = cell_targets(d[:, 0], K[:, 0], T[:, 0], d[:, 1], K[:, 1], T[:, 1])[0]
    cells = torch.nonzero(other >= 0).flatten()
    assert len(cells) > 100
    window, _ = generate_window(5, CFG4)  # the same window, in numpy
    wc = 256 // 4
    xa = np.stack([cell_to_px((cells % wc).float(), 1.0).numpy(),
                   cell_to_px((cells // wc).float(), 1.0).numpy()], 1)  # fmt: skip
    truth = cell_targets_px(window.views[0], window.views[1], xa)
    t = other[cells]
    xb = np.stack([cell_to_px((t % wc).float(), 1.0).numpy(),
                   cell_to_px((t // wc).float(), 1.0).numpy()], 1)  # fmt: skip
    assert np.nanmax(np.abs(truth - xb)) <= 2.0 + 1e-4  # within half a 4-px cell


def test_files_round_trip_and_bad_files_are_refused(tmp_path):
    net = MatchNet((8, 8, 8, 8, 8), 16).eval()
    save_matcher(tmp_path / "m", net, {"step": 3}, half=True)
    back, meta = load_matcher(tmp_path / "m")
    assert meta == {"step": 3} and back.channels == (8, 8, 8, 8, 8) and back.dim == 16
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(net(x), back(x), atol=2e-2)  # float16 weights
    doc = json.loads((tmp_path / "m" / "matcher.json").read_text())
    for bad in ({**doc, "format": "other"}, {**doc, "channels": [8, 8]}, {**doc, "dim": 32}):
        (tmp_path / "m" / "matcher.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError):
            load_matcher(tmp_path / "m")
    (tmp_path / "m" / "matcher.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        load_matcher(tmp_path / "m")
    with pytest.raises(ValueError, match=r"no matcher\.json"):
        load_matcher(tmp_path / "empty")


def test_dense_matches_are_in_the_original_images_pixels():
    torch.manual_seed(0)
    net = MatchNet().eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (384, 512, 3), dtype=np.uint8)
    xa, xb, prob = dense_matches(net, image, image, min_probability=0.0)
    assert len(xa) > 0.5 * 64 * 48  # identical images: most cells are their own best match
    assert xa[:, 0].min() >= 0 and xa[:, 0].max() < 512 and xa[:, 1].max() < 384
    assert np.median(np.linalg.norm(xa - xb, axis=1)) < 1.0  # each cell onto itself
    assert np.all((prob >= 0) & (prob <= 1))


def test_training_writes_a_loadable_best_matcher_and_refuses_bad_arguments(tmp_path):
    out = tmp_path / "run"
    args = ["--out", str(out), "--minutes", "0.02", "--device", "cpu", "--batch", "1",
            "--pairs", "1", "--queries", "16", "--val-windows", "2",
            "--val-every", "5"]  # fmt: skip
    assert train_main(args) == 0
    lines = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()]
    scored = [r for r in lines if "auc@30" in r]
    assert scored and {"rra@15", "rta@15", "match_precision@4px"} <= set(scored[-1])
    net, meta = load_matcher(out / "best")
    assert isinstance(net, MatchNet) and meta["step"] >= 1
    assert not (out / "last").exists()  # only with --keep-last
    assert train_main([*args[:2], "--minutes", "0"]) == 2
    assert train_main([*args[:4], "--pairs", "7"]) == 2
    assert train_main([*args, "--p-robot", "1.5"]) == 2
    assert train_main([*args, "--p-sensor", "-0.1"]) == 2


def test_training_on_the_robot_mix_with_degraded_images_takes_steps(tmp_path):
    out = tmp_path / "run"
    args = ["--out", str(out), "--minutes", "0.05", "--device", "cpu", "--batch", "4",
            "--pairs", "1", "--queries", "16", "--val-windows", "1", "--val-every", "5",
            "--p-robot", "1", "--p-sensor", "1"]  # fmt: skip
    assert train_main(args) == 0
    _, meta = load_matcher(out / "best")
    assert meta["step"] >= 1  # robot-mix batches (one window each here) trained


def test_photo_textured_training_validates_on_real_colour_pairs_and_picks_by_the_mean(tmp_path):
    dev = tmp_path / "dev"  # the dev frames' colour and poses only, as they travel to a GPU
    dev.mkdir()
    for f in sorted(DEV.glob("frame-00000*")) + sorted(DEV.glob("frame-0000[1-2]*")):
        if not f.name.endswith(".depth.png"):
            shutil.copy(f, dev / f.name)
    shutil.copy(DEV / "camera-intrinsics.txt", dev)
    pairs = sevenscenes_pairs(str(dev), gap=10)
    assert len(pairs) == 5 and all(a.depth is None for a, _ in pairs)
    assert pairs[0][1].stamp - pairs[0][0].stamp == 20 * 33_333_333  # 20 recorded frames
    bank = tmp_path / "bank"
    bank.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(bank / f"{i}.png"), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    out = tmp_path / "run"
    args = ["--out", str(out), "--minutes", "0.03", "--device", "cpu", "--batch", "1",
            "--pairs", "1", "--queries", "16", "--val-windows", "1", "--val-every", "5",
            "--photo-textures", str(bank), "--p-photo", "1", "--val-7scenes", str(dev),
            "--val-criterion", "mean"]  # fmt: skip
    assert train_main(args) == 0
    rec = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()][-1]
    assert {"auc@30", "real_rra@15", "real_auc@30"} <= set(rec)
    assert "real_match_precision@4px" not in rec  # no depth came along
    _, meta = load_matcher(out / "best")
    assert meta["real_auc@30"] == rec["real_auc@30"]
    assert train_main([*args[:12], "--val-criterion", "real"]) == 2  # no --val-7scenes
    assert train_main([*args[:12], "--photo-textures", str(tmp_path / "none")]) == 2
    assert train_main([*args[:12], "--photo-textures", str(bank), "--p-photo", "2"]) == 2


def test_cosine_decay_runs_from_the_full_rate_to_a_twentieth_over_the_minutes():
    assert lr_factor("none", 50.0, 60.0) == 1.0
    assert lr_factor("cosine", 0.0, 60.0) == pytest.approx(1.0)
    assert lr_factor("cosine", 30.0, 60.0) == pytest.approx(0.525)
    assert lr_factor("cosine", 60.0, 60.0) == pytest.approx(0.05)
    assert lr_factor("cosine", 90.0, 60.0) == pytest.approx(0.05)  # past the end: held
    f = [lr_factor("cosine", t, 60.0) for t in range(0, 61, 5)]
    assert all(x > y for x, y in itertools.pairwise(f))


def test_refinement_with_a_matcher_below_its_support_is_the_refinement_without():
    window, _ = generate_window(1500102, benchmark_config(2, family="tabletop", height=192,
                                                          width=256))  # fmt: skip
    inputs = strip_inputs(window, depth=True, poses=True)
    images = [v.image for v in inputs.views]
    K = np.stack([v.K for v in inputs.views])
    head = np.stack([np.eye(4), np.eye(4)])
    head[1, :3, 3] = [0.3, 0.0, 0.0]
    torch.manual_seed(0)
    net = MatchNet().eval()
    learned = LearnedMatches(net, images, K)
    px_a, x_a, x_b, thr = learned(0, 1)
    back = learned(1, 0)  # the same pair's matches, the other way round
    assert np.array_equal(back[2], x_a) and np.array_equal(back[1], x_b)
    assert len(px_a) == len(x_a) and 0 < thr < 0.05
    never = RgbPoseConfig(learned_min_inliers=10**9)
    plain = refine_rgb_views(head, images, K, None, never)
    with_net = refine_rgb_views(head, images, K, None, never, matcher=net)
    assert np.allclose(plain.T_ref_cam, with_net.T_ref_cam)
    assert np.array_equal(plain.ok, with_net.ok)


def test_nova3r_eval_refuses_a_matcher_directory_without_its_files(tmp_path, capsys):
    code = cli_main(["eval", "--data", "synthetic:1500102-1500102", "--views", "2",
                     "--no-depth", "--unposed", "--method", "model", "--rgb-matcher",
                     str(tmp_path), "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert "no matcher.json" in capsys.readouterr().err


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.01])
def test_the_one_exponential_dual_softmax_is_the_square_root_of_the_two_softmaxes(temperature):
    g = torch.Generator().manual_seed(3)
    d_a = torch.nn.functional.normalize(torch.randn(16, 300, generator=g), dim=0)
    d_b = torch.nn.functional.normalize(torch.randn(16, 200, generator=g), dim=0)
    P = dual_softmax(d_a, d_b, temperature)
    R = sqrt_dual_softmax(d_a, d_b, temperature)
    assert R.shape == (300, 200)
    torch.testing.assert_close(R.square(), P, atol=1e-6, rtol=1e-4)
    assert torch.equal(R.argmax(1), P.argmax(1)) and torch.equal(R.argmax(0), P.argmax(0))


@pytest.mark.parametrize("noise", [0.2, 0.5, 1.0])
def test_mutual_matches_by_column_maxima_are_the_mutual_argmaxes_ties_included(noise):
    g = torch.Generator().manual_seed(5)
    da = torch.nn.functional.normalize(torch.randn(16, 12, 16, generator=g), dim=0)
    db = torch.nn.functional.normalize(da + noise * torch.randn(16, 12, 16, generator=g), dim=0)
    db[:, :3, :4] = db[:, :1, :1]  # cells of b tied exactly
    da[:, 5, :3] = da[:, 5, :1]  # and of a
    R = sqrt_dual_softmax(da.flatten(1), db.flatten(1), 0.05)
    best_b, best_a = R.argmax(1), R.argmax(0)
    ia = torch.arange(R.shape[0])
    keep = (best_a[best_b] == ia) & (R[ia, best_b].square() >= 0.2)
    px_a, px_b, prob = match_descriptors(da, (1.0, 1.0), db, (1.0, 1.0))
    want = torch.stack([cell_to_px(ia[keep] % 16, 1.0), cell_to_px(ia[keep] // 16, 1.0)], 1)
    assert len(px_a) == int(keep.sum()) > 0
    np.testing.assert_array_equal(px_a, want.numpy())
    np.testing.assert_allclose(prob, R[ia[keep], best_b[keep]].square().numpy())
    assert len(px_b) == len(px_a)


def test_default_devices_round_trip_and_the_packaged_matcher_runs_on_cuda_and_the_cpu(tmp_path):
    from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, matcher_by_default
    from nova3r_ros.model.matcher_files import default_devices

    save_matcher(tmp_path / "all", MatchNet())
    save_matcher(tmp_path / "gpu", MatchNet(), default_devices=["cuda"])
    assert default_devices(tmp_path / "all") is None
    assert default_devices(tmp_path / "gpu") == ("cuda",)
    assert matcher_by_default(tmp_path / "gpu", "cuda") and not matcher_by_default(
        tmp_path / "gpu", "cpu")  # fmt: skip
    assert matcher_by_default(tmp_path / "all", "cpu")
    with pytest.raises(ValueError, match="default_devices"):
        save_matcher(tmp_path / "bad", MatchNet(), default_devices=["tpu"])
    doc = json.loads((tmp_path / "gpu" / "matcher.json").read_text())
    for bad in ("cuda", ["cuda", "tpu"]):
        (tmp_path / "gpu" / "matcher.json").write_text(json.dumps({**doc, "default_devices": bad}))
        with pytest.raises(ValueError, match="default_devices"):
            default_devices(tmp_path / "gpu")
    assert default_devices(PACKAGED_CHECKPOINT) == ("cuda", "cpu")
    assert load_matcher(PACKAGED_CHECKPOINT)[1]["step"] == 1835  # session 56's run D


def test_a_checkpoint_s_matcher_runs_where_its_file_lists_the_device_or_when_asked_for(tmp_path):
    """The packaged one loads with its matcher on the CPU; a copy listing CUDA only does not.

    'own' gives the copy's matcher on the CPU anyway; 'none' gives none.
    """
    from nova3r_ros.model.checkpoint import PACKAGED_CHECKPOINT, load_checkpoint
    from nova3r_ros.pipeline import ModelBackendConfig, PipelineError, load_model

    assert isinstance(load_checkpoint(PACKAGED_CHECKPOINT, "cpu").matcher, MatchNet)
    gpu_only = tmp_path / "gpu_only"  # the packaged checkpoint, its matcher for CUDA only
    gpu_only.mkdir()
    for f in PACKAGED_CHECKPOINT.iterdir():
        if f.name != "matcher.json":
            (gpu_only / f.name).symlink_to(f)
    doc = json.loads((PACKAGED_CHECKPOINT / "matcher.json").read_text())
    (gpu_only / "matcher.json").write_text(json.dumps({**doc, "default_devices": ["cuda"]}))
    assert load_checkpoint(gpu_only, "cpu").matcher is None
    own = load_model(ModelBackendConfig(device="cpu", checkpoint=str(gpu_only), rgb_matcher="own"))
    assert isinstance(own.matcher, MatchNet)
    assert load_model(ModelBackendConfig(device="cpu", rgb_matcher="none")).matcher is None
    bare = tmp_path / "bare"  # the packaged checkpoint without its matcher
    bare.mkdir()
    for f in PACKAGED_CHECKPOINT.iterdir():
        if not f.name.startswith("matcher"):
            (bare / f.name).symlink_to(f)
    with pytest.raises(PipelineError, match=r"no matcher\.json"):
        load_model(ModelBackendConfig(device="cpu", checkpoint=str(bare), rgb_matcher="own"))
    if torch.cuda.is_available():
        assert isinstance(load_checkpoint(PACKAGED_CHECKPOINT, "cuda").matcher, MatchNet)

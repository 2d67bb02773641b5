"""Depth modes of the hidden-surface head: shapes, files, growing a trained head, options.

Torch on the CPU, a tiny head on a hand-made view (identity pose, f = 100 px at 160x120,
a wall at 2 m).
"""

import math
from dataclasses import replace

import pytest
import torch
from test_hidden_head import CFG, H, K, W  # the same tiny head and view geometry

from nova3r_ros.model.hidden_head import (
    HiddenHead,
    features,
    head_layers,
    predict_points,
    resample_view,
)
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.train.hidden_grow import MODE_SPREAD, with_modes
from nova3r_ros.train.hidden_targets import layer_targets

DEPTH = torch.full((1, H, W), 2.0)
RGB = torch.full((1, H, W, 3), 90, dtype=torch.uint8)


def _x() -> torch.Tensor:
    return features(*resample_view(DEPTH, RGB, K[None], H, W))[0]


def test_a_mode_head_publishes_each_mode_as_a_point_with_its_share(tmp_path):
    """Outputs (V, L, K, h, w); head_layers gives L x K entries, each mode one point.

    The modes' existences sum to the layer's; the files keep the modes.
    """
    torch.manual_seed(0)
    head = HiddenHead(replace(CFG, modes=3)).eval()
    logits, ratio, log_b, weight = head(_x())
    assert logits.shape == (1, 2, 60, 80) and ratio.shape == log_b.shape == weight.shape
    assert ratio.shape == (1, 2, 3, 60, 80) and weight.abs().max() > 0
    _, z, exist, conf = head_layers(head, DEPTH, RGB, K[None])
    assert z.shape == exist.shape == conf.shape == (1, 6, 60, 80)
    layer_exist = exist.unflatten(1, (2, 3)).sum(2)
    assert torch.allclose(layer_exist, torch.sigmoid(logits), atol=1e-6)
    assert (conf <= exist + 1e-7).all()
    pts = predict_points(head, DEPTH, RGB, K[None], torch.eye(4)[None], 0.0)[0]
    assert pts.shape == (6 * 60 * 80, 3)
    save_head(tmp_path / "m", head)
    again = load_head(tmp_path / "m")
    assert again.config.modes == 3
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(head(_x()), again(_x()),
                                                                strict=True))  # fmt: skip


def test_with_modes_starts_every_mode_at_the_trained_depth():
    """The grown head keeps the existence; its modes straddle the one-mode depth.

    Each mode has the head's uncertainty and an equal weight; only a one-mode head grows.
    """
    torch.manual_seed(0)
    head = HiddenHead(CFG).eval()
    with torch.no_grad():  # a head whose outputs are not all alike
        head.out.weight.normal_(0.0, 0.3)
        head.out.bias.normal_(0.0, 0.5)
    logits, ratio, log_b, _ = head(_x())
    grown = with_modes(head, 3).eval()
    g_logits, g_ratio, g_log_b, g_weight = grown(_x())
    assert grown.config.modes == 3 and grown.min_probability == head.min_probability
    assert torch.allclose(g_logits, logits, atol=1e-5)
    offsets = torch.tensor([-MODE_SPREAD / 2, 0.0, MODE_SPREAD / 2])
    assert torch.allclose(g_ratio, ratio + offsets[None, None, :, None, None], atol=1e-5)
    assert torch.allclose(g_log_b, log_b.expand_as(g_log_b), atol=1e-5)
    assert not g_weight.any()
    assert torch.allclose(head_layers(grown, DEPTH, RGB, K[None])[2].unflatten(1, (2, 3)).sum(2),
                          torch.sigmoid(logits), atol=1e-5)  # fmt: skip
    same = with_modes(grown, 3)  # a copy
    assert all(torch.equal(a, b) for a, b in zip(same(_x()), grown(_x()), strict=True))
    with pytest.raises(ValueError, match="one-mode head"):
        with_modes(grown, 2)
    for bad in (0, 5):
        with pytest.raises(ValueError, match="modes"):
            with_modes(head, bad)


def test_one_mode_loss_is_the_laplace_nll():
    """With one mode the mixture's NLL is the Laplace's (the loss of earlier heads)."""
    from nova3r_ros.train.hidden_train import batch_loss

    torch.manual_seed(0)
    wall = torch.stack(torch.meshgrid(torch.linspace(-1.0, 1.0, 60), torch.linspace(-0.7, 0.7, 40),
                                      indexing="xy"), -1).reshape(-1, 2)  # fmt: skip
    pts = torch.cat([wall, torch.full((len(wall), 1), 2.0)], 1)
    depth = DEPTH.clone()
    depth[:, 40:80, 60:100] = 0.0  # a hole: the wall is unmeasured there
    batch = {"depth": depth[None], "images": RGB.permute(0, 3, 1, 2)[None], "K": K[None, None],
             "points": pts[None], "visible": torch.ones(1, len(pts), dtype=torch.bool),
             "T_world_cam": torch.eye(4)[None, None]}  # fmt: skip
    head = HiddenHead(CFG).eval()
    with torch.no_grad():
        terms = batch_loss(head, batch)
        _, ratio, log_b, _ = head(features(*resample_view(depth, RGB, K[None], H, W))[0])

    exists, z, _ = layer_targets(pts[None], torch.eye(4)[None], K[None], depth, CFG)
    assert exists.any()
    target = torch.log(z[exists] / 2.0)  # the view's median depth is 2 m
    err = (ratio[:, :, 0][exists] - target).abs()
    b = log_b[:, :, 0][exists]
    assert math.isclose(float(terms["nll"]), float((err * torch.exp(-b) + b).mean()),
                        rel_tol=1e-4)  # fmt: skip


def test_modes_option_errors_exit_2(tmp_path, capsys):
    """``--modes`` out of range, or a different count than a mode --init head has: exit 2."""
    from nova3r_ros.train.hidden_train import main

    save_head(tmp_path / "m3", HiddenHead(replace(CFG, modes=3)))
    for extra in (["--modes", "0"], ["--modes", "5"],
                  ["--modes", "2", "--init", str(tmp_path / "m3")]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(tmp_path / "never"), *extra])
        assert exc.value.code == 2
        assert "--modes" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def _split_head(depths: tuple[float, float, float]) -> HiddenHead:
    """Return a 3-mode head whose output layer is set by hand (no layer 1).

    Layer 0 exists everywhere, its depth equally likely at each of ``depths`` (the median
    depth is 2 m), very uncertain.
    """
    head = HiddenHead(replace(CFG, modes=3)).eval()
    ratio = [math.log(d / 2.0) for d in depths] + [0.0] * 3
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.copy_(torch.tensor([8.0, -8.0, *ratio, *[2.0] * 6, *[0.0] * 6]))
    return head


def test_a_plane_holds_a_layer_by_the_existence_of_the_modes_near_it():
    """A layer is snapped with the summed existence of its modes near a plane.

    Each mode holds a third of the layer's existence, under the snap threshold (0.5). Two
    modes near the wall behind the box snap the layer onto it (confidence 2/3), also when
    a nearer plane holds the third mode; one mode near the wall does not.
    """
    from nova3r_ros.model.hidden_planes import snapped_points
    from nova3r_ros.model.published_cloud import PublishConfig, publish

    depth = DEPTH.clone()
    depth[0, 40:80, 60:100] = 1.0  # a box in front of the wall at 2 m
    T = torch.eye(4)[None]
    cfg = PublishConfig(hidden_snap_reach_m=1.0, hidden_snap_bounding_reach_m=0.0)
    head = _split_head((1.0, 1.85, 1.95))
    Ks, z, exist, _ = head_layers(head, depth, RGB, K[None])
    assert float(exist.max()) < 0.34 and float(exist[:, :3].sum(1).min()) > 0.99
    wall, front = (torch.tensor([0.0, 0.0, 1.0]), -2.0), (torch.tensor([0.0, 0.0, 1.0]), -1.0)
    pts, conf, plane = snapped_points(Ks, z, exist, T, [front, wall], head.config, 0.3, 0.2)
    assert len(pts) == 60 * 80 and (plane == 1).all()  # layer 1 does not exist
    assert torch.allclose(conf, torch.tensor(2 / 3), atol=0.01)
    assert (snapped_points(Ks, z, exist, T, [front], head.config, 0.3, 0.2)[2] == 0).all()
    pub = publish(None, None, depth, K[None], T, RGB, cfg, hidden_head=head)
    hidden = pub.points[pub.part("hidden")]
    assert len(hidden) > 150 and torch.allclose(hidden[:, 2], torch.tensor(2.0), atol=1e-4)
    one = publish(
        None, None, depth, K[None], T, RGB, cfg, hidden_head=_split_head((1.0, 1.3, 1.95))
    )
    assert one.stats["hidden_points"] == 0

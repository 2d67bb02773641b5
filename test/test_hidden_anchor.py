"""Anchored depth modes of the hidden-surface head: anchors, growing, files, options.

Torch on the CPU, a tiny head on a hand-made view (identity pose, f = 100 px at 160x120):
a wall at 2 m, a box face at 1 m in front of it, a hole in the wall's depth.
"""

import json
import math
from dataclasses import replace

import pytest
import torch
from test_hidden_head import CFG, H, K, W  # the same tiny head and view geometry

from nova3r_ros.model.hidden_anchor import anchor_log_ratio
from nova3r_ros.model.hidden_head import (
    HiddenHead,
    HiddenHeadConfig,
    features,
    head_layers,
    resample_view,
)
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.train.hidden_grow import (
    ANCHOR_START,
    FIRST_MODE_LOGIT,
    with_anchor,
    with_anchored_mode,
)

RGB = torch.full((1, H, W, 3), 90, dtype=torch.uint8)
BOX = (slice(40, 80), slice(60, 100))
HOLE = (slice(4, 20), slice(4, 20))  # in the wall's depth, away from the box


def _depth() -> torch.Tensor:
    d = torch.full((1, H, W), 2.0)
    d[0][BOX] = 1.0
    d[0][HOLE] = 0.0
    return d


def _x(depth: torch.Tensor) -> torch.Tensor:
    return features(*resample_view(depth, RGB, K[None], H, W))[0]


def _trained_like() -> HiddenHead:
    """Return a one-mode head whose outputs are not all alike (as a trained one's)."""
    torch.manual_seed(0)
    head = HiddenHead(CFG).eval()
    with torch.no_grad():
        head.out.weight.normal_(0.0, 0.3)
        head.out.bias.normal_(0.0, 0.5)
    return head


def test_anchor_is_the_cells_farthest_depth_and_holes_take_their_surroundings():
    """Cells of 2 px: the box's cells anchor at 1 m, a cell on its edge at the wall's 2 m.

    A hole takes the mean anchor of the nearest block that has depth (the wall's 2 m
    here); a view with no depth at all anchors at its scale (log ratio 0).
    """
    depth = _depth()
    depth[0, 40, 59] = 1.0  # a box pixel in a cell (20, 29) that also holds the wall
    scale = 2.0  # the view's median depth
    a = anchor_log_ratio(depth / scale, 2)
    assert a.shape == (1, 60, 80)
    z = scale * torch.exp(a[0])
    assert torch.allclose(z[20:40, 30:50], torch.tensor(1.0))
    assert math.isclose(float(z[20, 29]), 2.0, rel_tol=1e-6)
    assert torch.allclose(z[2:10, 2:10], torch.tensor(2.0), rtol=1e-5)  # the hole
    assert torch.allclose(z[0, 50:], torch.tensor(2.0))
    near_box_hole = torch.full((1, H, W), 2.0)
    near_box_hole[0][BOX] = 1.0
    near_box_hole[0, 50:70, 70:90] = 0.0  # a hole inside the box face: filled near 1 m
    zb = torch.exp(anchor_log_ratio(near_box_hole, 2)[0])
    assert 0.99 < float(zb[30, 40]) < 1.2
    assert torch.equal(anchor_log_ratio(torch.zeros(2, H, W), 2), torch.zeros(2, 60, 80))


def test_an_anchored_mode_starts_behind_the_measured_depth_and_keeps_the_heads_own():
    """with_anchored_mode: mode 0 is the head's own, mode 1 the anchor x exp(ANCHOR_START).

    Mode 0 keeps the head's depth and uncertainty; the existence is unchanged, split
    0.88 / 0.12 between the modes.

    The grown head's files keep the anchored mode; it grows only from a one-mode head.
    """
    head = _trained_like()
    depth = _depth()
    logits, ratio, log_b, _ = head(_x(depth))
    grown = with_anchored_mode(head).eval()
    assert grown.config.modes == 2 and grown.config.anchored_modes == 1
    g_logits, g_ratio, g_log_b, g_weight = grown(_x(depth))
    assert torch.allclose(g_logits, logits, atol=1e-5)
    assert torch.allclose(g_ratio[:, :, 0], ratio[:, :, 0], atol=1e-5)
    assert torch.allclose(g_log_b, log_b.expand_as(g_log_b), atol=1e-5)
    anchor = anchor_log_ratio(depth / 2.0, 2)
    for layer, start in enumerate(ANCHOR_START):
        assert torch.allclose(g_ratio[:, layer, 1], anchor + start, atol=1e-5)
    share = torch.softmax(g_weight, dim=2)
    assert torch.allclose(share[:, :, 0], torch.tensor(1 / (1 + math.exp(-FIRST_MODE_LOGIT))))
    _, z, exist, _ = head_layers(grown, depth, RGB, K[None])
    box = z.unflatten(1, (2, 2))[0, 0, 1, 20:40, 30:50]  # layer 0's anchored mode on the box
    assert torch.allclose(box, torch.tensor(math.exp(ANCHOR_START[0])), atol=1e-5)
    assert torch.allclose(exist.unflatten(1, (2, 2)).sum(2), torch.sigmoid(logits), atol=1e-5)
    with pytest.raises(ValueError, match="one-mode head"):
        with_anchored_mode(grown)
    with pytest.raises(ValueError, match="one-mode head"):
        with_anchored_mode(HiddenHead(replace(CFG, modes=2)))


def test_an_anchored_mode_follows_the_measured_depth():
    """Moving the box 30 cm nearer moves the anchored mode's depth there by the same factor.

    A head without anchors would have to learn that from its input.
    """
    head = with_anchored_mode(_trained_like()).eval()
    near = _depth()
    near[0][BOX] = 0.7
    z_far = head_layers(head, _depth(), RGB, K[None])[1].unflatten(1, (2, 2))[0, 0, 1]
    z_near = head_layers(head, near, RGB, K[None])[1].unflatten(1, (2, 2))[0, 0, 1]
    ratio = z_near[22:38, 32:48] / z_far[22:38, 32:48]
    # the U-Net's own offset moves a little with its input; the anchor carries the 0.7
    assert float(ratio.mean()) == pytest.approx(0.7, abs=0.05)


def test_every_mode_anchored_and_files_round_trip(tmp_path):
    """with_anchor anchors every mode; files round-trip; bad anchored_modes are refused.

    The depth rows restart at ANCHOR_START; saved and loaded, the head gives the same
    outputs; a head written before anchors existed loads with none.
    """
    head = _trained_like()
    anchored = with_anchor(head).eval()
    assert anchored.config.anchored_modes == 1
    depth = _depth()
    logits, ratio, _, _ = anchored(_x(depth))
    assert torch.allclose(logits, head(_x(depth))[0], atol=1e-5)
    anchor = anchor_log_ratio(depth / 2.0, 2)
    assert torch.allclose(ratio[:, 1, 0], anchor + ANCHOR_START[1], atol=1e-5)
    with pytest.raises(ValueError, match="anchored modes already"):
        with_anchor(anchored)
    save_head(tmp_path / "a", anchored)
    again = load_head(tmp_path / "a")
    assert again.config.anchored_modes == 1
    assert all(torch.allclose(a, b, atol=1e-6)
               for a, b in zip(anchored(_x(depth)), again(_x(depth)), strict=True))  # fmt: skip
    save_head(tmp_path / "old", head)
    doc = json.loads((tmp_path / "old" / "hidden_head.json").read_text())
    del doc["config"]["anchored_modes"]  # as written before anchors existed
    (tmp_path / "old" / "hidden_head.json").write_text(json.dumps(doc))
    assert load_head(tmp_path / "old").config.anchored_modes == 0
    for bad in ({"anchored_modes": 2}, {"anchored_modes": -1}, {"anchored_modes": True},
                {"anchored_modes": 3, "modes": 2}):  # fmt: skip
        with pytest.raises(ValueError, match="anchored_modes"):
            HiddenHeadConfig(**{"channels": (8, 16, 16, 16), **bad})


def test_training_moves_weight_to_the_anchored_mode_where_it_is_right():
    """Training moves the weight to the anchored mode where the targets follow the depth.

    On a batch whose targets lie 5 % behind the measured box (2 cm past the anchored
    mode's start), the grown head's anchored mode takes most of the weight there within
    60 steps, from 0.12.
    """
    from nova3r_ros.train.hidden_train import batch_loss

    torch.manual_seed(0)
    depth = torch.full((1, H, W), 2.0)
    depth[0][BOX] = 1.0
    u, v = torch.meshgrid(torch.arange(60, 100, 0.5), torch.arange(40, 80, 0.5), indexing="xy")
    z = 1.0 * math.exp(ANCHOR_START[0]) + 0.02  # the box's back, just behind its front
    back = torch.stack([(u.flatten() - K[0, 2]) / K[0, 0] * z, (v.flatten() - K[1, 2]) / K[1, 1]
                        * z, torch.full((u.numel(),), z)], 1)  # fmt: skip
    batch = {"depth": depth[None], "images": RGB.permute(0, 3, 1, 2)[None], "K": K[None, None],
             "points": back[None], "visible": torch.ones(1, len(back), dtype=torch.bool),
             "T_world_cam": torch.eye(4)[None, None]}  # fmt: skip
    head = with_anchored_mode(_trained_like())
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(60):
        loss = batch_loss(head, batch)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        share = torch.softmax(head(_x(depth))[3], dim=2)[0, 0, 1, 22:38, 32:48]
    assert float(share.mean()) > 0.5


def test_anchor_option_errors_exit_2(tmp_path, capsys):
    """Bad ``--anchor`` uses exit 2 with one line and write nothing.

    An unknown value, an --init head that has anchors already, or ``mode`` on a head of
    several modes (or with --modes).
    """
    from nova3r_ros.train.hidden_train import main

    save_head(tmp_path / "anch", with_anchor(_trained_like()))
    save_head(tmp_path / "m2", HiddenHead(replace(CFG, modes=2)))
    save_head(tmp_path / "one", _trained_like())
    for extra in (["--anchor", "some"],
                  ["--anchor", "mode", "--init", str(tmp_path / "anch")],
                  ["--anchor", "all", "--init", str(tmp_path / "anch")],
                  ["--anchor", "mode", "--init", str(tmp_path / "m2")],
                  ["--anchor", "mode", "--modes", "3", "--init",
                   str(tmp_path / "one")]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["--out", str(tmp_path / "never"), *extra])
        assert exc.value.code == 2
        assert "--anchor" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()

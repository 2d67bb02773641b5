"""The picked depth mode of the hidden-surface head: a measured depth from around the cell.

Torch on the CPU, the tiny head and hand-made view of test_hidden_anchor (a wall at 2 m,
a box face at 1 m in front of it, a hole in the wall's depth).
"""

import math
from dataclasses import replace

import pytest
import torch
from test_hidden_anchor import BOX, RGB, _depth, _trained_like, _x
from test_hidden_head import CFG, H, K, W

from nova3r_ros.model.hidden_anchor import (
    PICK_RADIUS,
    anchor_log_ratio,
    neighbour_log_ratios,
    picked_log_ratio,
)
from nova3r_ros.model.hidden_head import HiddenHead, HiddenHeadConfig
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.train.hidden_grow import FIRST_MODE_LOGIT, with_anchored_mode, with_picked_mode


def test_neighbours_are_indexed_row_major_and_repeat_the_border():
    a = torch.arange(30.0).reshape(1, 5, 6)
    n = neighbour_log_ratios(a, 1)  # (1, 9, 5, 6)
    assert n.shape == (1, 9, 5, 6)
    assert float(n[0, 4, 2, 3]) == float(a[0, 2, 3])  # the centre is the cell itself
    assert float(n[0, 0, 2, 3]) == float(a[0, 1, 2])  # up-left
    assert float(n[0, 5, 2, 3]) == float(a[0, 2, 4])  # right
    assert float(n[0, 0, 0, 0]) == float(a[0, 0, 0])  # past the corner: the corner's
    one_hot = torch.full((1, 1, 1, 9, 5, 6), -30.0)
    one_hot[:, :, :, 5] = 30.0  # everyone picks the neighbour to the right
    picked = picked_log_ratio(one_hot, n)[0, 0, 0]
    assert torch.allclose(picked[:, :5], a[0, :, 1:], atol=1e-4)
    uniform = picked_log_ratio(torch.zeros(1, 1, 1, 9, 5, 6), n)[0, 0, 0]
    assert torch.allclose(uniform, n[0].mean(0), atol=1e-5)


def test_a_picked_mode_keeps_the_heads_modes_and_starts_from_the_neighbourhood_mean(tmp_path):
    """with_picked_mode on a two-mode anchored head keeps what it had.

    Its modes, existence and uncertainties are unchanged and their relative weights kept;
    the new mode is the mean of the neighbourhood's anchors, with a weight logit
    FIRST_MODE_LOGIT below the others' mean. Files round-trip.
    """
    head = with_anchored_mode(_trained_like()).eval()
    x = _x(_depth())
    logits, ratio, log_b, weight = head(x)
    grown = with_picked_mode(head).eval()
    cfg = grown.config
    assert (cfg.modes, cfg.anchored_modes, cfg.neighbour_modes) == (3, 1, 1)
    g_logits, g_ratio, g_log_b, g_weight = grown(x)
    assert torch.allclose(g_logits, logits, atol=1e-5)
    assert torch.allclose(g_ratio[:, :, :2], ratio, atol=1e-5)
    assert torch.allclose(g_log_b[:, :, :2], log_b, atol=1e-5)
    assert torch.allclose(g_log_b[:, :, 2], log_b[:, :, 1], atol=1e-5)
    assert torch.allclose(g_weight[:, :, :2], weight, atol=1e-5)
    assert torch.allclose(g_weight[:, :, 2], weight.mean(2) - FIRST_MODE_LOGIT, atol=1e-5)
    anchor = anchor_log_ratio(x[:, 0], CFG.cell_px)
    mean = neighbour_log_ratios(anchor, PICK_RADIUS).mean(1)
    assert torch.allclose(g_ratio[:, 0, 2], mean, atol=1e-5)
    save_head(tmp_path / "p", grown, half=True)
    back = load_head(tmp_path / "p")
    assert back.config == cfg
    assert torch.allclose(back(x)[1], g_ratio, atol=2e-2)
    with pytest.raises(ValueError, match="picked mode already"):
        with_picked_mode(grown)
    for bad in (
        {"modes": 2, "anchored_modes": 1, "neighbour_modes": 2},
        {"modes": 1, "neighbour_modes": -1},
        {"modes": 2, "neighbour_modes": 1.0},
    ):
        with pytest.raises(ValueError, match="neighbour_modes"):
            HiddenHeadConfig(**bad)
    one = with_picked_mode(_trained_like())  # a one-mode head: its mode keeps most weight
    share = torch.softmax(one(x)[3], dim=2)
    assert torch.allclose(share[:, :, 0], torch.tensor(1 / (1 + math.exp(-FIRST_MODE_LOGIT))))


def test_training_makes_the_picked_mode_copy_the_wall_behind_the_box():
    """The pick is learnt through the training loss.

    Targets: the wall (2 m) behind the box's border band, which continues the wall measured
    around the box. A head whose only mode is a picked one, its own depth offset held at
    zero (so that only the choice of neighbour moves the depth), learns to pick the wall
    in the band: every band cell within 5 cm of it after 80 steps, where the start
    averaged box and wall.
    """
    from nova3r_ros.train.hidden_train import batch_loss

    torch.manual_seed(0)
    depth = torch.full((1, H, W), 2.0)
    depth[0][BOX] = 1.0
    band = torch.zeros(H, W, dtype=torch.bool)
    band[BOX] = True
    band[46:74, 66:94] = False  # the box's border band, 6 px (3 cells) wide
    v, u = torch.nonzero(band, as_tuple=True)
    z = torch.full((len(u),), 2.0)
    wall = torch.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
    batch = {"depth": depth[None], "images": RGB.permute(0, 3, 1, 2)[None], "K": K[None, None],
             "points": wall[None].float(), "visible": torch.ones(1, len(wall), dtype=torch.bool),
             "T_world_cam": torch.eye(4)[None, None]}  # fmt: skip
    head = HiddenHead(replace(CFG, modes=1, neighbour_modes=1))
    offset = slice(CFG.layers, 2 * CFG.layers)  # the mode's own depth rows
    with torch.no_grad():
        head.out.weight[offset] = 0.0
        head.out.bias[offset] = 0.0
    cells = band.unflatten(0, (H // 2, 2)).unflatten(2, (W // 2, 2)).all(3).all(1)

    def hits() -> float:
        with torch.no_grad():
            ratio = head.eval()(_x(depth))[1]
        head.train()
        picked = 2.0 * torch.exp(ratio[0, 0, 0][cells])  # scale = the median depth, 2 m
        return float(((picked - 2.0).abs() < 0.05).float().mean())

    assert hits() < 0.2
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(80):
        loss = batch_loss(head, batch)["total"]
        opt.zero_grad()
        loss.backward()
        head.out.weight.grad[offset] = 0.0
        head.out.bias.grad[offset] = 0.0
        opt.step()
    assert hits() > 0.9


def test_pick_mode_option_grows_the_init_head_and_bad_uses_exit_2(tmp_path, capsys):
    """``--pick-mode`` with ``--init`` trains a head with a picked mode.

    Without --init, with --resume, or on a head that has one already: exit 2 before
    anything is written.
    """
    from nova3r_ros.train.hidden_train import main

    save_head(tmp_path / "am", with_anchored_mode(_trained_like()))
    save_head(tmp_path / "picked", with_picked_mode(with_anchored_mode(_trained_like())))
    tiny = ["--device", "cpu", "--batch", "1", "--views", "2", "--gt-points", "5000",
            "--val-batches", "1", "--val-rooms", "0", "--minutes", "0.03"]  # fmt: skip
    for extra in (["--pick-mode"], ["--pick-mode", "--init", str(tmp_path / "picked")],
                  ["--pick-mode", "--resume", str(tmp_path / "am")]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main([*tiny, "--out", str(tmp_path / "never"), *extra])
        assert exc.value.code == 2
        assert "--pick-mode" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
    out = tmp_path / "run"
    assert main([*tiny, "--init", str(tmp_path / "am"), "--pick-mode", "--out", str(out)]) == 0
    cfg = load_head(out).config
    assert (cfg.modes, cfg.anchored_modes, cfg.neighbour_modes) == (3, 1, 1)

"""The hidden-surface head's two thresholds: one for windows of one view, one for several.

A real (untrained, seeded) head on the hand-made view of ``test_hidden_head``: the
published cloud (``publish``) and the files (``save_head`` / ``load_head``,
``ship_head``), no mocks.
"""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from test_hidden_head import CFG, H, K, W, scene

from nova3r_ros.model.hidden_head import HiddenHead
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.model.hidden_published import threshold
from nova3r_ros.model.published_cloud import PublishConfig, publish

RGB = torch.full((1, H, W, 3), 100, dtype=torch.uint8)


def _head(tmp_path, **thresholds) -> HiddenHead:
    torch.manual_seed(0)
    save_head(tmp_path / "h", HiddenHead(CFG).eval(), half=True, **thresholds)
    return load_head(tmp_path / "h")


def _count(head, cfg: PublishConfig, views: int = 1) -> int:
    _, depth = scene()
    T = torch.eye(4)[None].repeat(views, 1, 1)
    T[1:, 0, 3] = 0.05  # a second camera 5 cm to the side
    pub = publish(None, None, depth.repeat(views, 1, 1), K[None].repeat(views, 1, 1), T,
                  RGB.repeat(views, 1, 1, 1), cfg, hidden_head=head)  # fmt: skip
    return pub.stats["hidden_points"]


def test_one_view_uses_the_single_view_threshold_and_several_the_other(tmp_path):
    head = _head(tmp_path, min_probability=0.45, single_view_min_probability=0.0)
    assert (head.min_probability, head.single_view_min_probability) == (0.45, 0.0)
    one, two = PublishConfig(), PublishConfig(hidden_consensus=0.0)
    assert threshold(head, one, 1) == 0.0 and threshold(head, one, 2) == 0.45
    assert _count(head, one) == _count(head, PublishConfig(hidden_min_probability=0.0))
    assert _count(head, one) > _count(head, PublishConfig(hidden_min_probability=0.45)) > 0
    fixed = PublishConfig(hidden_consensus=0.0, hidden_min_probability=0.45)
    assert _count(head, two, 2) == _count(head, fixed, 2)
    assert _count(head, two, 2) < _count(head, replace(two, hidden_min_probability=0.0), 2)
    # an explicit threshold holds for every window unless a single-view one is given too
    told = PublishConfig(hidden_min_probability=0.45)
    assert threshold(head, told, 1) == 0.45
    both = PublishConfig(hidden_min_probability=0.45, hidden_single_view_min_probability=0.0)
    assert threshold(head, both, 1) == 0.0 and threshold(head, both, 3) == 0.45
    assert _count(head, both) == _count(head, one)


def test_a_head_without_a_single_view_threshold_uses_its_own_everywhere(tmp_path):
    head = _head(tmp_path, min_probability=0.4)
    assert head.single_view_min_probability is None
    assert "single_view_min_probability" not in (tmp_path / "h" / "hidden_head.json").read_text()
    assert threshold(head, PublishConfig(), 1) == threshold(head, PublishConfig(), 4) == 0.4


def test_bad_single_view_thresholds_are_refused(tmp_path):
    with pytest.raises(ValueError, match="single_view_min_probability"):
        save_head(tmp_path / "bad", HiddenHead(CFG), single_view_min_probability=1.5)
    with pytest.raises(ValueError, match="hidden_single_view_min_probability"):
        PublishConfig(hidden_single_view_min_probability=-0.1)
    _head(tmp_path, min_probability=0.4, single_view_min_probability=0.3)
    path = tmp_path / "h" / "hidden_head.json"
    for bad in (2.0, "0.3", True):
        doc = json.loads(path.read_text())
        doc["single_view_min_probability"] = bad
        path.write_text(json.dumps(doc))
        with pytest.raises(ValueError, match="single_view_min_probability"):
            load_head(tmp_path / "h")


def test_ship_head_stores_the_single_view_threshold(tmp_path):
    from nova3r_ros.train.ship_head import main

    save_head(tmp_path / "trained", HiddenHead(CFG), {"step": 3})
    assert main([str(tmp_path / "trained"), str(tmp_path / "ship"), "--min-probability",
                 "0.35", "--single-view-min-probability", "0.25"]) == 0  # fmt: skip
    head = load_head(tmp_path / "ship")
    assert (head.min_probability, head.single_view_min_probability) == (0.35, 0.25)
    cmd = [sys.executable, "-m", "nova3r_ros.train.ship_head", str(tmp_path / "trained"),
           str(tmp_path / "x"), "--min-probability", "0.35",
           "--single-view-min-probability", "-0.5"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "single_view_min_probability" in proc.stderr and not (tmp_path / "x").exists()

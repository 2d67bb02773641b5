"""Cross-view consensus of the hidden-surface head (model.hidden_consensus), real tensors."""

import numpy as np
import pytest
import torch

from nova3r_ros.model.hidden_consensus import consensus
from nova3r_ros.model.hidden_head import HiddenHead, HiddenHeadConfig
from nova3r_ros.model.published_cloud import PublishConfig, publish

CFG = HiddenHeadConfig(height=32, width=32, cell_px=2, layers=1, channels=(8, 8, 8, 8))
H = W = 32


def rig():
    """Two views 0.1 m apart along x, both facing +z, a wall measured 1 m away.

    The rightmost 6 columns see a wall 3 m away (so the regions reach 3.15 m). Returns
    Ks (2, 3, 3), T_ref_cam (2, 4, 4) and depth (2, H, W) at the head's input size.
    """
    K = torch.tensor([[16.0, 0.0, 15.5], [0.0, 16.0, 15.5], [0.0, 0.0, 1.0]])
    T = torch.eye(4).repeat(2, 1, 1)
    T[1, 0, 3] = 0.1
    depth = torch.ones(2, H, W)
    depth[:, :, -6:] = 3.0
    return K.repeat(2, 1, 1), T, depth


def layers(z0: float, z1: float, p0: float = 0.4, p1: float = 0.8):
    """One mode per cell: view 0 predicts a surface at z0 (confidence p0), view 1 at z1."""
    h, w = CFG.grid
    z = torch.tensor([z0, z1]).view(2, 1, 1, 1).expand(2, 1, h, w).clone()
    prob = torch.tensor([p0, p1]).view(2, 1, 1, 1).expand(2, 1, h, w).clone()
    return z, prob


def centre(x: torch.Tensor, view: int) -> float:
    """Return view's central cell's value (its point projects well inside the other view)."""
    h, w = CFG.grid
    return float(x[view, 0, h // 2, w // 2 - 2])


def test_a_surface_both_views_predict_gains_and_one_the_other_denies_loses():
    Ks, T, depth = rig()
    z, prob = layers(2.0, 2.0)  # the same plane 2 m away, behind the 1 m wall in both views
    fused = consensus(prob, z, Ks, T, depth, CFG)
    assert centre(fused, 0) == pytest.approx((0.4 + 0.8) / 2, abs=1e-6)
    assert centre(fused, 1) == pytest.approx((0.8 + 0.4) / 2, abs=1e-6)
    z, prob = layers(2.0, 2.5)  # view 1 puts its surface 0.5 m farther: no support
    fused = consensus(prob, z, Ks, T, depth, CFG)
    assert centre(fused, 0) == pytest.approx(0.4 / 2, abs=1e-6)
    z_near, p_near = layers(2.0, 2.025)  # 2.5 cm apart: within the 3 cm tolerance
    near = consensus(p_near, z_near, Ks, T, depth, CFG)
    assert centre(near, 0) == pytest.approx(0.6, abs=1e-6)
    half = consensus(prob, z, Ks, T, depth, CFG, weight=0.5)
    assert centre(half, 0) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2, abs=1e-6)


def test_views_that_cannot_judge_do_not_vote_and_one_view_is_unchanged():
    Ks, T, depth = rig()
    z, prob = layers(2.0, 2.5)
    depth[1, :, :] = 3.0  # view 1 measured a wall at 3 m: the point at 2 m is in its free space
    fused = consensus(prob, z, Ks, T, depth, CFG)
    assert centre(fused, 0) == pytest.approx(0.4, abs=1e-6)
    Ks, T, depth = rig()
    z, prob = layers(3.5, 2.0)  # beyond view 1's region (3.15 m): view 1 does not vote
    assert centre(consensus(prob, z, Ks, T, depth, CFG), 0) == pytest.approx(0.4, abs=1e-6)
    z, prob = layers(2.0, 2.5)
    depth[1] = 0.0  # a view with no depth at all has no region
    assert centre(consensus(prob, z, Ks, T, depth, CFG), 0) == pytest.approx(0.4, abs=1e-6)
    one = consensus(prob[:1], z[:1], Ks[:1], T[:1], depth[:1], CFG)
    assert torch.equal(one, prob[:1])
    assert torch.equal(consensus(prob, z, Ks, T, depth, CFG, weight=0.0), prob)


def test_the_published_cloud_uses_it_only_with_several_views():
    """Same views, same untrained head: consensus changes the multi-view cloud, not one view."""
    torch.manual_seed(0)
    head = HiddenHead(HiddenHeadConfig(height=48, width=64, layers=2)).eval()
    K = torch.tensor([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])
    depth = torch.full((2, 48, 64), 1.0)
    depth[:, 20:30, 25:40] = 0.6  # a box in front of the wall
    depth[:, :, -8:] = 2.0
    T = torch.eye(4).repeat(2, 1, 1)
    T[1, 0, 3] = 0.05
    rgb = torch.full((2, 48, 64, 3), 90, dtype=torch.uint8)
    off = PublishConfig(hidden_min_probability=0.0, hidden_consensus=0.0)  # every cell
    on = PublishConfig(hidden_min_probability=0.0, hidden_consensus=1.0)
    Ks = K.repeat(2, 1, 1)
    a = publish(None, None, depth, Ks, T, rgb, off, hidden_head=head)
    b = publish(None, None, depth, Ks, T, rgb, on, hidden_head=head)
    assert a.stats["hidden_points"] == b.stats["hidden_points"] > 50
    assert np.array_equal(a.points.numpy(), b.points.numpy())  # same points ...
    conf_a, conf_b = a.confidence[a.part("hidden")], b.confidence[b.part("hidden")]
    assert int((conf_a - conf_b).abs().gt(1e-4).sum()) > 10  # ... other confidences
    a1 = publish(None, None, depth[:1], Ks[:1], T[:1], rgb[:1], off, hidden_head=head)
    b1 = publish(None, None, depth[:1], Ks[:1], T[:1], rgb[:1], on, hidden_head=head)
    assert np.array_equal(a1.points.numpy(), b1.points.numpy())
    assert torch.equal(a1.confidence, b1.confidence)
    with pytest.raises(ValueError, match="hidden_consensus"):
        PublishConfig(hidden_consensus=1.5)

"""Sides of occluders: a box's hidden sides continued behind its silhouette, never into free space.

Torch on the CPU. One 160x120 view, identity pose, f = 200 px: a box 30 x 30 cm wide and
30 cm deep whose front face is at z = 1 m, centred on the optical axis (so its four side
faces are hidden from the camera), in front of a wall at z = 2 m.
"""

import pytest
import torch

from nova3r_ros.model.published_cloud import PublishConfig, publish
from nova3r_ros.model.silhouette_sides import (
    SilhouetteConfig,
    silhouette_pixels,
    silhouette_side_points,
)

H, W, F = 120, 160, 200.0
K = torch.tensor([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])[None]
T = torch.eye(4)[None]
HALF, FRONT, BACK = 0.15, 1.0, 1.3


def box_scene(wall_m: float = 2.0, with_box: bool = True):
    """Depth (1, H, W) and colours (1, H, W, 3) of the box in front of the wall."""
    v, u = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    a, b = (u - K[0, 0, 2]) / F, (v - K[0, 1, 2]) / F
    on_box = (a.abs() * FRONT <= HALF) & (b.abs() * FRONT <= HALF) & with_box
    depth = torch.where(on_box, torch.tensor(FRONT), torch.tensor(wall_m))[None]
    rgb = torch.full((1, H, W, 3), 120, dtype=torch.uint8)
    return depth, rgb


def box_distance(p: torch.Tensor) -> torch.Tensor:
    """Distance (N,) of points to the solid box (0 inside)."""
    lo = torch.tensor([-HALF, -HALF, FRONT])
    hi = torch.tensor([HALF, HALF, BACK])
    return (torch.clamp(lo - p, min=0) + torch.clamp(p - hi, min=0)).norm(dim=1)


def test_the_sides_start_at_the_silhouette_and_stay_on_the_box():
    depth, _ = box_scene()
    cfg = SilhouetteConfig(depth_m=0.08, step_m=0.01, stride_px=1)
    v, _, _, z, far = silhouette_pixels(depth, cfg)
    assert v.numel() > 0 and torch.all(z == FRONT) and torch.all(far == 2.0)
    pts, conf = silhouette_side_points(depth, K, T, cfg)
    assert pts.shape[0] == 8 * v.numel()  # 8 steps of 1 cm, all short of the wall
    behind = pts[:, 2] - FRONT
    assert behind.min() > 0.009 and behind.max() < 0.081
    # the box's hidden sides run along the silhouette rays: within 2 cm of the box
    assert box_distance(pts).max() < 0.02
    # every side face gets points
    assert (pts[:, 0] > 0.14).any() and (pts[:, 0] < -0.14).any()
    assert (pts[:, 1] > 0.14).any() and (pts[:, 1] < -0.14).any()
    # confidence falls with the distance behind the silhouette
    near, deep = conf[behind < 0.015], conf[behind > 0.075]
    assert torch.all(near == 1.0) and torch.allclose(deep, torch.tensor(2 * 0.01 / 0.09))


def test_no_sides_behind_a_small_step_or_near_the_far_surface():
    depth, _ = box_scene(wall_m=1.05)  # the wall 5 cm behind the front face: no silhouette
    assert silhouette_side_points(depth, K, T, SilhouetteConfig())[0].shape[0] == 0
    depth, _ = box_scene(wall_m=1.09)  # a 9 cm step: sides stop 3 cm short of the wall
    pts, _ = silhouette_side_points(depth, K, T, SilhouetteConfig(min_gap_m=0.05))
    assert pts.shape[0] > 0 and pts[:, 2].max() < 1.09 - 0.03 + 1e-5
    depth, _ = box_scene()
    assert silhouette_side_points(depth, K, T, SilhouetteConfig(depth_m=0.0))[0].shape[0] == 0


def test_published_in_a_gated_window_unless_another_view_saw_through():
    depth, rgb = box_scene()
    on = PublishConfig(silhouette_depth_m=0.08)
    pub = publish(None, None, depth, K, T, rgb, on)
    n = pub.stats["side_points"]
    assert n > 100
    sides = pub.points[~pub.observed][-n:]
    assert box_distance(sides).max() < 0.02
    assert pub.confidence[-n:].min() > 0 and pub.confidence[-n:].max() <= 1
    assert torch.equal(pub.points[pub.part("sides")], sides)
    off = publish(None, None, depth, K, T, rgb, PublishConfig())  # off by default
    assert off.stats["side_points"] == 0 and off.points.shape[0] == pub.points.shape[0] - n
    forced_cfg = PublishConfig(force_gate=True, silhouette_depth_m=0.08)
    forced = publish(None, None, depth, K, T, rgb, forced_cfg)
    assert forced.stats["side_points"] == 0
    # a second view from the same place sees the wall where the box was (it moved): the
    # space behind the silhouette is seen free there, so no side point is published
    empty, _ = box_scene(with_box=False)
    two = publish(None, None, torch.cat([depth, empty]), torch.cat([K, K]),
                  torch.cat([T, T]), torch.cat([rgb, rgb]), on)  # fmt: skip
    assert two.stats["side_points"] == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"depth_m": -0.1}, {"depth_m": 1.5}, {"step_m": 0.0}, {"min_gap_m": 0.0},
     {"window_px": 4}, {"window_px": 1}, {"stride_px": 0}],
)  # fmt: skip
def test_bad_silhouette_options_are_refused(kwargs):
    with pytest.raises(ValueError, match="silhouette"):
        SilhouetteConfig(**kwargs)


def test_a_cloud_has_no_part_of_another_name():
    depth, rgb = box_scene()
    with pytest.raises(ValueError, match="no part 'edges'"):
        publish(None, None, depth, K, T, rgb, PublishConfig()).part("edges")


def test_any_valid_output_spacing_gives_valid_side_options():
    for spacing in (0.001, 0.01, 0.5, 1.0):  # the node's output_spacing range
        cfg = PublishConfig(spacing_m=spacing, silhouette_depth_m=0.08).silhouette_config()
        assert cfg.step_m == min(spacing, 0.5) and cfg.depth_m == 0.08


@pytest.mark.parametrize("value", [-0.01, 1.01])
def test_publish_config_refuses_a_bad_silhouette_depth(value):
    with pytest.raises(ValueError, match="silhouette_depth_m"):
        PublishConfig(silhouette_depth_m=value)

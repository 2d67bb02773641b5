"""Completed points inside what the window measured: the band behind its observed surfaces.

Torch on the CPU (and CUDA where there is one). The wall scene of ``test_plane_completion``
(one 160 x 120 view, identity pose, f = 200 px, a wall at z = 2 m) with a 60 x 60 cm box
in front of it at z = ``box_z``: the plane completion continues the wall behind the box,
2 - ``box_z`` behind the box's measured front.
"""

import math

import pytest
import torch
from test_plane_completion import BLOCK, K, T, pixels, wall

from nova3r_ros.model.behind_cut import behind_measured, in_band
from nova3r_ros.model.published_cloud import PublishConfig, publish

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]  # fmt: skip


def boxed(box_z: float) -> tuple[torch.Tensor, torch.Tensor]:
    depth, rgb = wall("plain")
    depth[0][BLOCK] = box_z
    return depth, rgb


def ray(u: float, v: float) -> torch.Tensor:
    f, cx, cy = float(K[0, 0, 0]), float(K[0, 0, 2]), float(K[0, 1, 2])
    return torch.tensor([(u - cx) / f, (v - cy) / f, 1.0])


def test_how_far_behind_the_measured_surface_a_point_lies():
    depth, _ = boxed(1.0)
    depth[0, 0:10, 0:10] = 0.0  # a hole in a corner
    pts = torch.stack([
        ray(80, 60) * 1.25,  # behind the box (z = 1 m): 0.25 m
        ray(20, 60) * 1.5,  # in front of the wall (z = 2 m): -0.5 m
        ray(5, 5) * 2.5,  # at the hole: nothing measured
        torch.tensor([5.0, 0.0, 1.0]),  # outside the image
        -ray(80, 60),  # behind the camera
    ])  # fmt: skip
    got = behind_measured(pts, depth, K, T)
    assert torch.allclose(got[:2], torch.tensor([0.25, -0.5]), atol=1e-5)
    assert got[2:].tolist() == [-math.inf] * 3


def test_the_largest_over_the_views_counts():
    """Of several views, the one the point lies farthest behind decides.

    A second view 1 m to the right looks at the wall alone: the point lies 0.3 m behind
    the box in view 0 and in front of the wall in view 1.
    """
    depth, _ = boxed(1.0)
    T2 = torch.eye(4).repeat(2, 1, 1)
    T2[1, 0, 3] = 1.0
    two = torch.cat([depth, torch.full_like(depth, 2.0)])
    p = ray(80, 60) * 1.3
    assert float(behind_measured(p[None], two, K.expand(2, 3, 3), T2)[0]) == pytest.approx(0.3)
    assert in_band(p[None], two, K.expand(2, 3, 3), T2, 0.1, 0.4).tolist() == [True]
    assert in_band(p[None], two, K.expand(2, 3, 3), T2, 0.4, 0.8).tolist() == [False]
    assert in_band(p[None], two, K.expand(2, 3, 3), T2, 0.4, 0.1).tolist() == [False]  # off


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("box_z,band,cut", [
    (1.8, (0.0, 0.0), False),  # off: the wall is continued 0.2 m behind the box
    (1.8, (0.1, 0.4), True),  # 0.2 m behind its front: inside the box, left out
    (1.0, (0.1, 0.4), False),  # 1 m behind a thin occluder: the wall stays
    (1.0, (0.5, 1.5), True),
])  # fmt: skip
def test_published_plane_points_in_the_band_are_left_out(box_z, band, cut, device):
    depth, rgb = boxed(box_z)
    config = PublishConfig(behind_cut_from_m=band[0], behind_cut_to_m=band[1])
    pub = publish(None, None, *(x.to(device) for x in (depth, K, T, rgb)), config)
    u, v = pixels(pub.points[pub.part("planes")].cpu())
    rows, cols = BLOCK
    in_shadow = (u >= cols.start) & (u < cols.stop) & (v >= rows.start) & (v < rows.stop)
    assert (in_shadow.sum() > 100) != cut
    assert (~in_shadow).sum() == 0 or not cut  # only the shadow's points were completed
    assert (pub.stats["behind_cut"] > 100) == cut
    assert pub.observed.sum() > 5000  # the observed points are never cut


def test_observed_only_and_the_decoders_completion_are_not_cut():
    """The band is a rule for a gated window's completion only.

    ``force_gate`` publishes the depth as it is; an ungated window's decoder points stay.
    """
    depth, rgb = boxed(1.8)
    band = PublishConfig(behind_cut_from_m=0.1, behind_cut_to_m=0.4)
    gated = publish(None, None, depth, K, T, rgb, PublishConfig(force_gate=True))
    both = PublishConfig(force_gate=True, behind_cut_from_m=0.1, behind_cut_to_m=0.4)
    assert publish(None, None, depth, K, T, rgb, both).points.shape == gated.points.shape
    us, vs = torch.meshgrid(torch.arange(10, 150, 4.0), torch.arange(10, 110, 4.0), indexing="xy")
    rays = torch.stack([ray(u, v) for u, v in zip(us.flatten(), vs.flatten(), strict=True)])
    on_wall = rays[(us.flatten() < 60) | (us.flatten() > 100)] * 2.0  # the gate's points
    inside = torch.stack([ray(80, 60), ray(76, 56), ray(84, 64)]) * 2.0  # 0.2 m behind box
    pub = publish(on_wall, inside, depth, K, T, rgb, band)
    assert pub.stats["gated"] == 0 and pub.stats["behind_cut"] == 0
    assert pub.stats["completed"] == 3  # the decoder's three points inside the box stay


def test_the_band_is_validated():
    with pytest.raises(ValueError, match="behind_cut_to_m"):
        PublishConfig(behind_cut_to_m=-0.1)
    with pytest.raises(ValueError, match="behind_cut_from_m"):
        PublishConfig(behind_cut_from_m=11.0)

"""The views' measurements of one surface fused into the observed points.

Torch on the CPU (and CUDA where present). Two cameras 160 x 120, f = 200 px, 20 cm apart
along x, both looking down +z at a wall 2 m away; the depth gets independent Gaussian
noise per view (sigma 1 cm, about twice a Kinect's at 2 m), so each view's points scatter
about the wall and fused points must scatter less.
"""

import pytest
import torch

from nova3r_ros.model.observed_fusion import fused_points
from nova3r_ros.model.observed_points import observed_cloud
from nova3r_ros.model.published_cloud import PublishConfig, publish

H, W, F = 120, 160, 200.0
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]  # fmt: skip


def rig(device="cpu", views=2):
    K = torch.tensor([[F, 0.0, W / 2], [0.0, F, H / 2], [0.0, 0.0, 1.0]], device=device)
    T = torch.eye(4, device=device).repeat(views, 1, 1)
    T[:, 0, 3] = torch.arange(views, device=device) * 0.2
    return K.expand(views, 3, 3).clone(), T


def noisy_wall(device="cpu", views=2, sigma=0.01, z=2.0):
    gen = torch.Generator().manual_seed(0)
    depth = z + sigma * torch.randn(views, H, W, generator=gen)
    return depth.to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_two_views_of_one_wall_fuse_into_a_less_noisy_wall(device):
    K, T = rig(device)
    depth = noisy_wall(device)
    raw = fused_points(depth, K, T, 0.0)
    fused = fused_points(depth, K, T, 6.0)
    overlap = raw[0, :, 40:, 2]  # view 0's pixels that view 1 sees too (x >= 0.2 m - ...)
    rms_raw = (overlap - 2.0).pow(2).mean().sqrt()
    rms_fused = (fused[0, :, 40:, 2] - 2.0).pow(2).mean().sqrt()
    assert 0.0095 < rms_raw < 0.0105
    assert rms_fused < 0.8 * rms_raw  # two equal measurements: about 1 / sqrt(2)
    # where the other view does not look, the point stays where its own view put it
    assert torch.equal(fused[0, :, :20], raw[0, :, :20])
    assert fused.device.type == device


def test_no_fusion_with_one_view_or_zero_margins_and_holes_stay_holes():
    K, T = rig()
    depth = noisy_wall()
    depth[1, 30:60, 30:60] = 0.0
    raw = fused_points(depth, K, T, 0.0)
    assert torch.equal(fused_points(depth[:1], K[:1], T[:1], 6.0), raw[:1])
    fused = fused_points(depth, K, T, 6.0)
    assert torch.equal(fused[1, 30:60, 30:60], raw[1, 30:60, 30:60])  # no depth: no point
    assert torch.isfinite(fused).all()


def test_a_view_that_sees_another_surface_there_does_not_move_the_point():
    K, T = rig()
    depth = torch.full((2, H, W), 2.0)
    depth[1] += 0.004  # view 1 measures the wall 4 mm farther: within the tolerance, fused
    depth[1, :, 60:100] = 1.0  # ... except where a box stands in front of it
    fused = fused_points(depth, K, T, 6.0)
    # view 0's pixels whose wall point view 1 sees through the box keep their depth
    behind_box = fused[0, 55:65, 90:110, 2]
    assert torch.allclose(behind_box, torch.full_like(behind_box, 2.0))
    # elsewhere both measurements count, equally (same depth, same weight)
    assert torch.allclose(fused[0, 55:65, 140:150, 2], torch.tensor(2.002), atol=2e-4)


def test_the_published_observed_points_are_fused_and_the_baseline_is_not():
    K, T = rig()
    depth = noisy_wall()
    rgb = torch.full((2, H, W, 3), 128, dtype=torch.uint8)
    pub = publish(None, None, depth, K, T, rgb, PublishConfig())
    base = publish(None, None, depth, K, T, rgb, PublishConfig(fusion_sigmas=0.0))
    fused_obs = pub.points[pub.part("observed")]
    base_obs = base.points[base.part("observed")]
    rms = [(p[:, 2] - 2.0).pow(2).mean().sqrt() for p in (fused_obs, base_obs)]
    assert rms[0] < 0.85 * rms[1]
    raw_cloud = observed_cloud(depth, K, T, rgb, 0.01)[0]
    assert torch.equal(base_obs, raw_cloud)  # fusion off: the views' depth as it is


def test_bad_fusion_sigmas_are_rejected():
    for bad in (-0.5, 20.5):
        with pytest.raises(ValueError, match="fusion_sigmas"):
            PublishConfig(fusion_sigmas=bad)

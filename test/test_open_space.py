"""Open space: a large no-return region at the image border is not filled by completion.

Torch on the CPU. The wall scene of ``test_plane_completion`` (one 160 x 120 view, identity
pose, f = 200 px, a wall at z = 2 m with a box in front of it) with a band of columns at
the right border returning nothing: wide (60 columns, 37.5 % of the image: open space at
a share of 0.3) or narrow (30 columns, 19 %: a dropout).
"""

import pytest
import torch
from test_plane_completion import K, T, pixels, wall

from nova3r_ros.model.open_space import BLOCK_PX, in_open_space, open_pixels
from nova3r_ros.model.published_cloud import PublishConfig, publish

H, W = 120, 160


def band_depth(first_col: int) -> torch.Tensor:
    depth = torch.full((1, H, W), 2.0)
    depth[0, :, first_col:] = 0.0
    return depth


def test_a_large_border_hole_is_open_a_small_or_enclosed_one_is_not():
    wide = open_pixels(band_depth(100), 0.3)
    assert wide[0, :, 100:].all() and not wide[0, :, :100].any()
    assert not open_pixels(band_depth(130), 0.3).any()  # 19 % of the image: a dropout
    assert open_pixels(band_depth(130), 0.15)[0, :, 132:].all()  # whole blocks only
    enclosed = torch.full((1, H, W), 2.0)
    enclosed[0, 10:110, 20:140] = 0.0  # 62 % of the image, not at the border
    assert not open_pixels(enclosed, 0.3).any()
    assert not open_pixels(band_depth(100), 0.0).any()  # off


def test_components_are_judged_by_their_own_size_and_only_holes_are_open():
    depth = band_depth(100)
    depth[0, ::BLOCK_PX, 121] = 2.0  # one return per block row: the band splits in two
    mask = open_pixels(depth, 0.2)
    assert not mask[depth > 0].any()
    assert mask[0, :, 124:].all()  # 36 columns: 22.5 % of the image
    assert not mask[0, :, :120].any()  # 20 columns: 12.5 %


def test_points_along_open_rays_in_front_of_the_region_end_are_in_open_space():
    depth = band_depth(100)
    mask = open_pixels(depth, 0.3)
    f, cx, cy = float(K[0, 0, 0]), float(K[0, 0, 2]), float(K[0, 1, 2])
    ray = torch.tensor([(130 - cx) / f, (60 - cy) / f, 1.0])
    pts = torch.stack([ray * 1.5, ray * 3.0, torch.tensor([0.0, 0.0, 1.5]), -ray])
    got = in_open_space(pts, mask, K, T, torch.tensor([2.15])).tolist()
    assert got == [True, False, False, False]  # open; past the region; measured ray; behind
    assert not in_open_space(pts, torch.zeros_like(mask), K, T, torch.tensor([2.15])).any()


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("first_col,share,kept", [(100, 0.3, False), (130, 0.3, True),
                                                  (100, 0.0, True)])  # fmt: skip
def test_published_completion_stays_out_of_open_space(first_col, share, kept, device):
    depth, rgb = wall("box")
    depth[0, :, first_col:] = 0.0
    pub = publish(None, None, *(x.to(device) for x in (depth, K, T, rgb)),
                  PublishConfig(open_hole_share=share))  # fmt: skip
    u, _ = pixels(pub.points[pub.part("planes")].cpu())
    assert ((u >= first_col).sum() > 100) == kept  # the wall continued into the band
    assert (u < first_col).sum() > 100  # behind the box: completed either way
    assert pub.observed.sum() > 5000
    assert pub.stats.get("open_pixels", 0) == (0 if kept else H * (W - first_col))


def test_the_share_is_validated():
    with pytest.raises(ValueError, match="open_hole_share"):
        PublishConfig(open_hole_share=1.5)


def test_the_decoders_candidates_are_cut_too():
    """An ungated window: the decoder's completion along the open band's rays is cut.

    Its points on the observed wall pass the gate; of its completion candidates, those
    behind the wall stay and those in front of the region's end in the band go.
    """
    depth, rgb = wall("plain")
    depth[0, :, 100:] = 0.0
    f, cx, cy = float(K[0, 0, 0]), float(K[0, 0, 2]), float(K[0, 1, 2])
    us, vs = torch.meshgrid(torch.arange(10, 90, 4.0), torch.arange(10, 110, 4.0), indexing="xy")
    rays = torch.stack([(us - cx) / f, (vs - cy) / f, torch.ones_like(us)], -1).reshape(-1, 3)
    raw = rays * 2.0  # on the observed wall
    ub, vb = torch.meshgrid(torch.arange(110, 158, 4.0), torch.arange(10, 110, 4.0), indexing="xy")
    band = torch.stack([(ub - cx) / f, (vb - cy) / f, torch.ones_like(ub)], -1).reshape(-1, 3)
    behind, into_band = rays[::3] * 2.1, band * 1.5
    candidates = torch.cat([behind, into_band])
    for share, n_band in ((0.0, into_band.shape[0]), (0.3, 0)):
        pub = publish(raw, candidates, depth, K, T, rgb, PublishConfig(open_hole_share=share))
        assert pub.stats["gated"] == 0
        u, _ = pixels(pub.points[pub.part("completed")])
        assert (u >= 100).sum() == n_band and (u < 100).sum() == behind.shape[0]


def test_a_view_without_any_depth_carves_nothing():
    """A dead depth stream (every pixel 0) is all hole, but its region is empty: no cut."""
    depth, rgb = wall("box")
    dead = torch.zeros_like(depth)
    rgb2 = rgb.expand(2, -1, -1, -1)
    pair = torch.cat([depth, dead]), K.expand(2, 3, 3), T.expand(2, 4, 4), rgb2
    with_dead = publish(None, None, *pair, PublishConfig(open_hole_share=0.25))
    alone = publish(None, None, depth, K, T, rgb, PublishConfig(open_hole_share=0.25))
    assert with_dead.stats["open_pixels"] == H * W  # the dead view is one open component
    assert with_dead.stats["plane_points"] == alone.stats["plane_points"] > 100


def test_open_space_reads_the_pixel_measure_reads():
    """At a hole's edge both rules look at one pixel: the nearest, with K's skew.

    Points projecting 0.3 px left of column 100 (the band's first) belong to column 100,
    an open pixel; with a skewed K the column moves with the row, and the open-space
    test follows the same projection as :func:`~nova3r_ros.model.measurement.measure`.
    """
    from nova3r_ros.model.measurement import measure, nearest_pixel, prepared_depth

    depth = band_depth(100)
    mask = open_pixels(depth, 0.3)
    f, cx, cy = float(K[0, 0, 0]), float(K[0, 0, 2]), float(K[0, 1, 2])
    rows = torch.arange(10.0, 110.0, 10.0)
    for skew in (0.0, 3.0):
        Ks = K.clone()
        Ks[0, 0, 1] = skew
        y = (rows - cy) / f
        x = (99.7 - cx - skew * y) / f  # u = 99.7: column 100 when rounded, 99 when floored
        pts = torch.stack([x, y, torch.ones_like(x)], -1) * 1.5
        u, v = nearest_pixel(pts, Ks[0])
        assert (u == 100).all() and torch.equal(v, rows)
        assert in_open_space(pts, mask, Ks, T, torch.tensor([2.15])).all()
        d, clean, z_far = prepared_depth(depth, 0)
        m = measure(pts, d, Ks, T, clean, z_far)
        assert not m.free.any() and not m.surface.any()  # measure sees the hole there too

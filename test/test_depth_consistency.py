"""Depth consistency of decoded points: snapping, free-space drop, plane extension (analytic)."""

import numpy as np
import pytest
import torch

from nova3r_ros.model import depth_consistency as dc
from nova3r_ros.model.depth_consistency import DepthConsistency

H, W = 48, 64
K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
NO_PLANE = DepthConsistency(snap_m=0.03, free_m=0.02, plane_m=0.0, dedupe_m=0.0)


def apply_depth_consistency(points, depths, Ks, Ts, config):
    """Call the module's function on numpy inputs (lists per view); numpy outputs."""
    t = [torch.from_numpy(np.asarray(a, np.float64)).float() for a in
         (points, np.stack(depths), np.stack(Ks), np.stack(Ts))]  # fmt: skip
    out = dc.apply_depth_consistency(*t, config, torch.Generator().manual_seed(0))
    return tuple(o.numpy() for o in out)


def _wall(z=1.0):
    return np.full((H, W), z, np.float32)


def _pixel_ray(u, v):
    return np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])


def test_points_near_the_observed_surface_land_on_it_along_their_ray():
    ray = _pixel_ray(20.3, 10.7)
    pts = np.stack([ray * 1.015, ray * 0.99])  # 1.5 cm behind, 1 cm in front
    out, keep, snapped = apply_depth_consistency(pts, [_wall()], [K], [np.eye(4)], NO_PLANE)
    assert keep.all() and snapped.all()
    np.testing.assert_allclose(out, np.stack([ray, ray]), atol=1e-6)


def test_points_in_seen_free_space_are_dropped_and_occluded_points_kept():
    ray = _pixel_ray(30.0, 20.0)
    pts = np.stack([ray * 0.9, ray * 1.2, ray * 1.001])  # free, occluded, on the surface
    out, keep, snapped = apply_depth_consistency(pts, [_wall()], [K], [np.eye(4)], NO_PLANE)
    assert keep.tolist() == [False, True, True]
    assert snapped.tolist() == [False, True]
    np.testing.assert_allclose(out[0], ray * 1.2, atol=1e-6)  # no depth says otherwise


def test_points_outside_every_image_or_over_invalid_depth_are_left_alone():
    depth = _wall()
    depth[:, :10] = 0.0  # no return on the left
    left = _pixel_ray(3.0, 20.0) * 0.5  # in front of nothing measured
    outside = np.array([5.0, 0.0, 1.0])  # far right of the image
    behind_camera = np.array([0.0, 0.0, -1.0])
    pts = np.stack([left, outside, behind_camera])
    out, keep, snapped = apply_depth_consistency(pts, [depth], [K], [np.eye(4)], NO_PLANE)
    assert keep.all() and not snapped.any()
    np.testing.assert_allclose(out, pts, atol=1e-6)


def test_non_finite_and_negative_depth_count_as_no_return():
    depth = _wall()
    depth[:, :20] = np.nan
    depth[:, 20:40] = np.inf
    depth[:, 40:] = -1.0
    pts = np.stack([_pixel_ray(u, 20.0) * 0.5 for u in (10.0, 30.0, 50.0)])
    out, keep, snapped = apply_depth_consistency(pts, [depth], [K], [np.eye(4)], NO_PLANE)
    assert keep.all() and not snapped.any() and np.isfinite(out).all()
    cfg = DepthConsistency(plane_m=0.05)  # no valid pixel: no plane, nothing moves
    out, keep, _ = apply_depth_consistency(pts, [depth], [K], [np.eye(4)], cfg)
    np.testing.assert_allclose(out, pts, atol=1e-6)


def test_depth_edges_neither_snap_nor_drop():
    depth = _wall(1.0)
    depth[:, 32:] = 2.0  # a step between u = 31 and 32
    ray = _pixel_ray(31.5, 20.0)
    pts = np.stack([ray * 1.01, ray * 0.5])
    out, keep, snapped = apply_depth_consistency(pts, [depth], [K], [np.eye(4)], NO_PLANE)
    assert keep.all() and not snapped.any()
    np.testing.assert_allclose(out, pts, atol=1e-6)


def test_the_view_whose_surface_is_closest_wins():
    T_side = np.eye(4)
    T_side[:3, 3] = [0.0, 0.0, -0.5]  # second camera 0.5 m behind the first: wall at 1.5 m
    ray = _pixel_ray(30.0, 20.0)
    p = ray * 1.02  # 2 cm behind the wall seen by view 0; view 1 sees a wall 0.5 m further
    out, _, snapped = apply_depth_consistency(
        p[None], [_wall(1.0), _wall(1.5)], [K, K], [np.eye(4), T_side], NO_PLANE
    )
    assert snapped.all()
    np.testing.assert_allclose(out[0], ray, atol=1e-6)


def _table_view():
    """Return depth and pose of a camera 0.8 m above a table z = 0 (world), 45 deg down."""
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    R = np.array([[1, 0, 0], [0, -s, -c], [0, c, -s]])  # columns: cam x, y, z in world
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = [0.0, -0.8, 0.8]
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    world_dir = rays @ R.T
    depth = -T[2, 3] / world_dir[..., 2]  # ray parameter where z_world = 0 (= camera z)
    return np.where(depth > 0, depth, 0).astype(np.float32), T


def test_the_dominant_plane_is_found_and_extended_beyond_the_image():
    depth, T = _table_view()
    g = torch.Generator().manual_seed(0)
    args = [torch.from_numpy(a)[None].float() for a in (depth, K, T)]
    obs, valid = dc.observed_points(*args, generator=g)
    assert valid.float().mean() > 0.5  # most pixels see the table
    plane, found = dc.dominant_plane(obs, valid, 0.005, 0.2, generator=g)
    assert bool(found)
    np.testing.assert_allclose(np.abs(plane[:3].numpy()), [0, 0, 1], atol=1e-4)
    assert abs(float(plane[3])) < 1e-4
    # beside the table (outside the image), 1.5 cm above the plane and 10 cm above it
    pts = np.array([[2.0, 0.5, 0.015], [2.0, 0.6, 0.10]])
    cfg = DepthConsistency(plane_m=0.02, dedupe_m=0.0)
    out, keep, snapped = apply_depth_consistency(pts, [depth], [K], [T], cfg)
    assert keep.all() and not snapped.any()
    np.testing.assert_allclose(out[0], [2.0, 0.5, 0.0], atol=1e-4)
    np.testing.assert_allclose(out[1], pts[1], atol=1e-6)


def test_no_plane_without_a_dominant_one():
    g = torch.Generator().manual_seed(0)
    cloud, ok = torch.randn(2000, 3, generator=g), torch.ones(2000, dtype=torch.bool)
    assert not bool(dc.dominant_plane(cloud, ok, 0.005, 0.2, generator=g)[1])
    flat = cloud * torch.tensor([1.0, 1.0, 0.0])
    assert bool(dc.dominant_plane(flat, ok, 0.005, 0.2, generator=g)[1])
    assert not bool(dc.dominant_plane(flat, ok & False, 0.005, 0.2, generator=g)[1])


@pytest.mark.parametrize(
    "name", ["snap_m", "free_m", "edge_m", "plane_m", "plane_min_share", "dedupe_m"]
)
def test_bad_thresholds_are_rejected(name):
    with pytest.raises(ValueError, match=name):
        DepthConsistency(**{name: -0.01})
    with pytest.raises(ValueError, match=name):
        DepthConsistency(**{name: float("nan")})


def test_a_dropped_point_does_not_hide_a_kept_one_in_its_voxel():
    inside = dc.first_per_voxel(
        torch.tensor([[0.0, 0.0, 0.0], [0.001, 0.0, 0.0], [0.0011, 0.0, 0.0]]), 0.003,
        torch.tensor([False, True, True]),
    )  # fmt: skip
    assert inside.tolist() == [False, True, False]


def test_points_snapped_together_are_deduplicated():
    ray = _pixel_ray(20.0, 10.0)
    far = _pixel_ray(40.0, 30.0)
    pts = np.stack([ray * 1.01, ray * 0.995, far * 1.02])  # the first two meet on the wall
    cfg = DepthConsistency(snap_m=0.03, plane_m=0.0, dedupe_m=0.003)
    out, keep, snapped = apply_depth_consistency(pts, [_wall()], [K], [np.eye(4)], cfg)
    assert keep.tolist() == [True, False, True] and snapped.all()
    np.testing.assert_allclose(out, np.stack([ray, far]), atol=1e-6)
    empty = apply_depth_consistency(np.zeros((0, 3)), [_wall()], [K], [np.eye(4)], cfg)
    assert empty[0].shape == (0, 3)

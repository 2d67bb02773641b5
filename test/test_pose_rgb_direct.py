"""Tests of the direct 6-DoF alignment over the plane and objects (model.pose_rgb_direct)."""

import math

import cv2
import numpy as np
import pytest

from nova3r_ros.model.pose_rgb_align import angle_deg, dominant_plane
from nova3r_ros.model.pose_rgb_direct import DirectConfig, RayCells, align_direct, inverse_depth
from nova3r_ros.synth.config import benchmark_config
from nova3r_ros.synth.generate import generate_window

SEED = 1_500_008  # a validation seed (the benchmark uses 1,000,000-1,000,099)


def rot(axis, deg):
    """Rotation matrix of ``deg`` degrees about ``axis``."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    return cv2.Rodrigues(a * math.radians(deg))[0]


@pytest.fixture(scope="module")
def pair():
    """Return two rendered views' grey images, K, true T_b_a, the plane and the points.

    The plane ``n . X = d`` and the surface points (M, 3) are in camera a's frame.
    """
    window, gt = generate_window(SEED, benchmark_config(2, height=192, width=256))
    greys = [cv2.cvtColor(v.image, cv2.COLOR_RGB2GRAY).astype(np.float32) for v in window.views]
    T_b_a = np.linalg.inv(gt.T_world_cam[1]) @ gt.T_world_cam[0]
    T_a_w = np.linalg.inv(gt.T_world_cam[0])
    pts = gt.points.astype(np.float64) @ T_a_w[:3, :3].T + T_a_w[:3, 3]
    pts = pts[np.random.default_rng(0).choice(len(pts), 2048, replace=False)]
    n, d, _ = dominant_plane(pts)
    K = [np.asarray(v.K, np.float64) for v in window.views]
    return greys, K, T_b_a, (n, d), pts


def perturbed(T, deg, t_frac):
    """Return ``T`` turned by ``deg`` about a tilted axis, its translation off by t_frac."""
    out = T.copy()
    out[:3, :3] = rot([1.0, 0.5, 0.2], deg) @ T[:3, :3]
    out[:3, 3] = T[:3, 3] * (1 + t_frac) + t_frac * np.linalg.norm(T[:3, 3]) * np.array([0, 1, 0])
    return out


@pytest.mark.parametrize("with_points", [False, True])
def test_recovers_the_pose_from_a_wrong_start(pair, with_points):
    greys, K, T_true, plane, pts = pair
    start = perturbed(T_true, 8.0, 0.2)
    T, rho = align_direct(greys[0], greys[1], K[0], K[1], start, plane,
                          pts if with_points else None)  # fmt: skip
    assert angle_deg(start[:3, :3] @ T_true[:3, :3].T) > 7.0
    assert angle_deg(T[:3, :3] @ T_true[:3, :3].T) < 2.0
    t, t_true = T[:3, 3], T_true[:3, 3]
    assert math.degrees(math.acos(t @ t_true / np.linalg.norm(t) / np.linalg.norm(t_true))) < 10
    _, rho_true = align_direct(greys[0], greys[1], K[0], K[1], T_true, plane, None,
                               DirectConfig(iters=(0,)))  # fmt: skip
    assert rho > 0.8 and rho >= rho_true - 0.05


def test_a_start_that_sees_nothing_of_view_a_reports_no_correlation(pair):
    greys, K, T_true, plane, _ = pair
    away = T_true.copy()
    away[:3, :3] = rot([0.0, 1.0, 0.0], 180.0) @ T_true[:3, :3]  # view b looks backwards
    T, rho = align_direct(greys[0], greys[1], K[0], K[1], away, plane)
    assert rho == -1.0
    assert np.allclose(T, away)


def test_inverse_depth_takes_the_objects_nearer_than_the_plane():
    n, d = np.array([0.0, 0.0, 1.0]), 2.0  # the plane z = 2
    rays = np.array([[0.0, 0.0, 1.0], [0.3, 0.0, 1.0], [-0.3, 0.0, 1.0], [0.0, 0.3, 1.0]])
    points = np.array([[0.0, 0.0, 1.0],  # an object at z = 1 on the first ray's cell
                       [0.6, 0.0, 2.0 * 1.01],  # on the plane (within the margin)
                       [-0.9, 0.0, 3.0]])  # behind the plane  # fmt: skip
    q = inverse_depth(rays, n, d, points, cell=0.1, margin=0.05)
    assert q == pytest.approx([1.0, 0.5, 0.5, 0.5])
    assert inverse_depth(rays, n, d, None, 0.1, 0.05) == pytest.approx([0.5] * 4)
    # a floor y = 1 below the camera: a ray upwards misses it ahead and keeps the
    # homography's (negative) value unless an object covers it
    up = np.array([[0.0, -0.3, 1.0], [0.0, 0.2, 1.0]])
    floor = np.array([0.0, 1.0, 0.0]), 1.0
    assert inverse_depth(up, *floor, points, 0.1, 0.05) == pytest.approx([-0.3, 0.2])
    box = np.array([[0.0, -0.6, 2.0]])  # in the first ray's cell, 2 m ahead
    assert inverse_depth(up, *floor, box, 0.1, 0.05) == pytest.approx([0.5, 0.2])


def test_ray_cells_computed_once_give_the_same_inverse_depth():
    """The rays' cells kept between calls (the joint refinement's many planes) change nothing.

    Tilted planes and decoded objects that cover some cells: the values with the kept
    :class:`RayCells` equal those computed afresh, bit for bit; the grid spans the rays'
    cells only (columns, rows) and every ray's flat index lies inside it.
    """
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:36, 0:52]
    rays = np.stack([(xs.ravel() - 25.3) / 40.0, (ys.ravel() - 17.8) / 40.0,
                     np.ones(36 * 52)], 1)  # fmt: skip
    cell = 6 / 40.0
    cells = RayCells(rays, cell)
    k = np.floor(rays[:, :2] / cell).astype(np.int64)
    assert (cells.lo == k.min(0)).all() and (cells.shape == k.max(0) - k.min(0) + 1).all()
    assert cells.flat.min() == 0 and cells.flat.max() < cells.shape.prod()
    for _ in range(5):
        n = np.array([*rng.normal(0, 0.3, 2), 1.0])
        n /= np.linalg.norm(n)
        points = np.column_stack([rng.uniform(-0.4, 0.4, (40, 2)), rng.uniform(0.5, 1.5, 40)])
        fresh = inverse_depth(rays, n, 2.0, points, cell, 0.05)
        kept = inverse_depth(rays, n, 2.0, points, cell, 0.05, cells)
        assert np.array_equal(fresh, kept) and (fresh != rays @ n / 2.0).any()


def test_inverse_depth_ignores_points_off_the_rays_and_non_finite_points():
    """Skip points that project off the rays' cells.

    A decoded point just ahead of the lens projects far outside the image: no grid over its
    projection (a crash by memory before), no effect on the rays.
    """
    n, d = np.array([0.0, 0.0, 1.0]), 2.0
    ys, xs = np.mgrid[0:48, 0:64]
    rays = np.stack([(xs.ravel() - 32) / 50.0, (ys.ravel() - 24) / 50.0, np.ones(48 * 64)], 1)
    points = np.array([[1.0, 0.5, 2e-6], [np.nan, 0.0, 1.0], [0.0, np.inf, 1.0],
                       [0.0, 0.0, np.inf], [0.01, 0.01, 1.0]])  # fmt: skip
    q = inverse_depth(rays, n, d, points, cell=8 / 50.0, margin=0.05)
    assert np.isfinite(q).all()
    changed = q != rays @ n / d
    assert changed.any() and np.allclose(q[changed], 1.0)  # only the point at z = 1

"""Tests for nova3r_ros.core.pointcloud with hand-made inputs and exact answers."""

import numpy as np
import pytest

from nova3r_ros.core.pointcloud import (
    backproject_depth,
    crop_box,
    merge_clouds,
    radius_outlier_removal,
    statistical_outlier_removal,
    voxel_downsample,
)
from nova3r_ros.core.transforms import se3_from_rt

K = np.array([[100.0, 0.0, 3.0], [0.0, 50.0, 2.0], [0.0, 0.0, 1.0]])


def test_backproject_fronto_parallel_plane_exact():
    depth = np.full((5, 7), 2.0, np.float32)
    pts, cols, pix = backproject_depth(depth, K)
    assert pts.dtype == np.float32 and pts.shape == (35, 3) and cols is None
    assert pix.dtype == np.int64
    np.testing.assert_array_equal(pix, np.arange(35))
    np.testing.assert_array_equal(pts[:, 2], 2.0)
    # pixel (u=6, v=4) is flat index 4*7+6 = 34: x = (6-3)/100*2, y = (4-2)/50*2
    np.testing.assert_allclose(pts[34], [0.06, 0.08, 2.0], rtol=1e-6)
    # principal point (u=3, v=2) lies on the optical axis
    np.testing.assert_allclose(pts[2 * 7 + 3], [0.0, 0.0, 2.0], atol=0)


def test_backproject_tilted_plane_lies_on_plane_in_world():
    # plane n.X = d in the camera frame: 0.2 x - 0.1 y + z = 3  ->  z = 3 / (1 + 0.2 xn - 0.1 yn)
    H, W = 20, 30
    Kp = np.array([[40.0, 0.0, 15.0], [0.0, 40.0, 10.0], [0.0, 0.0, 1.0]])
    v, u = np.mgrid[0:H, 0:W]
    xn, yn = (u - 15.0) / 40.0, (v - 10.0) / 40.0
    depth = (3.0 / (1 + 0.2 * xn - 0.1 * yn)).astype(np.float32)
    R = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # optical -> body axes
    T_world_cam = se3_from_rt(R, [1.0, 2.0, 0.5])
    pts, _, _ = backproject_depth(depth, Kp, T_world_cam)
    cam = (pts.astype(np.float64) - [1.0, 2.0, 0.5]) @ R  # back into the camera frame
    np.testing.assert_allclose(cam @ [0.2, -0.1, 1.0], 3.0, rtol=1e-6)


def test_backproject_invalid_stride_and_colors():
    depth = np.ones((4, 4), np.float32)
    depth[0, 0], depth[0, 2], depth[2, 0], depth[2, 2] = 0.0, np.nan, np.inf, -1.0
    depth[1, 1] = 0.0
    rgb = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    pts, cols, pix = backproject_depth(depth, K, stride=2, rgb=rgb)
    assert pts.shape == (0, 3) and cols.shape == (0, 3) and pix.shape == (0,)
    depth[2, 2] = 3.0
    pts, cols, pix = backproject_depth(depth, K, stride=2, rgb=rgb)
    np.testing.assert_array_equal(pix, [10])
    np.testing.assert_array_equal(cols, [rgb[2, 2]])
    pts, _, pix = backproject_depth(depth, K)
    assert pts.shape == (12, 3)  # 16 minus 4 invalid pixels
    assert 0 not in pix and 5 not in pix and 2 not in pix and 8 not in pix


def test_backproject_errors():
    with pytest.raises(ValueError, match="float metres"):
        backproject_depth(np.ones((3, 3), np.uint16), K)
    with pytest.raises(ValueError, match="K must"):
        backproject_depth(np.ones((3, 3), np.float32), np.eye(2))
    with pytest.raises(ValueError, match="stride"):
        backproject_depth(np.ones((3, 3), np.float32), K, stride=0)
    with pytest.raises(ValueError, match="rgb"):
        backproject_depth(np.ones((3, 3), np.float32), K, rgb=np.zeros((3, 4, 3), np.uint8))


def test_voxel_downsample_hand_made_grid():
    pts = np.array(
        [
            [0.1, 0.1, 0.1],
            [0.3, 0.3, 0.3],  # same voxel (0, 0, 0) as above
            [1.5, 0.2, 0.2],  # voxel (1, 0, 0)
            [-0.5, 0.5, 0.5],  # voxel (-1, 0, 0)
            [-0.1, 0.9, 0.9],  # also (-1, 0, 0)
            [-0.7, 0.1, 0.1],  # also (-1, 0, 0)
        ],
        np.float32,
    )
    cols = np.array(
        [[0, 0, 0], [255, 255, 1], [9, 9, 9], [10, 0, 0], [20, 0, 0], [31, 0, 0]], np.uint8
    )
    extra = np.array([1.0, 3.0, 5.0, 0.0, 3.0, 6.0], np.float32)
    p, c, e = voxel_downsample(pts, 1.0, colors=cols, extra=extra)
    assert p.dtype == np.float32 and c.dtype == np.uint8 and e.dtype == np.float32
    assert p.shape == (3, 3)  # ordered by voxel index: (-1,0,0), (0,0,0), (1,0,0)
    np.testing.assert_allclose(
        p, [[-1.3 / 3, 0.5, 0.5], [0.2, 0.2, 0.2], [1.5, 0.2, 0.2]], rtol=1e-6
    )
    np.testing.assert_array_equal(
        c, [[20, 0, 0], [128, 128, 0], [9, 9, 9]]
    )  # 127.5 -> 128, 0.5 -> 0
    np.testing.assert_allclose(e, [3.0, 2.0, 5.0])
    assert voxel_downsample(pts, 100.0)[0].shape == (2, 3)  # x < 0 and x >= 0 split at 0
    assert voxel_downsample(pts, 1e-3)[0].shape == (6, 3)


def test_voxel_downsample_counts_regular_grid():
    g = np.stack(np.meshgrid(*[np.arange(10) * 0.1 + 0.05] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert voxel_downsample(g, 0.2)[0].shape == (125, 3)  # 5 x 5 x 5 voxels of 8 points
    assert voxel_downsample(g, 0.5)[0].shape == (8, 3)
    assert voxel_downsample(np.zeros((0, 3), np.float32), 0.1)[0].shape == (0, 3)


def test_voxel_downsample_errors():
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_downsample(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="non-finite"):
        voxel_downsample(np.array([[0.0, np.nan, 0.0]]), 0.1)
    with pytest.raises(ValueError, match="colors"):
        voxel_downsample(np.zeros((2, 3)), 0.1, colors=np.zeros((3, 3), np.uint8))


def test_merge_clouds():
    a = (np.zeros((2, 3), np.float32), np.full((2, 3), 7, np.uint8))
    b = (np.ones((3, 3), np.float32), np.full((3, 3), 9, np.uint8))
    p, c = merge_clouds([a, b])
    assert p.shape == (5, 3) and p.dtype == np.float32
    np.testing.assert_array_equal(c[:, 0], [7, 7, 9, 9, 9])
    p, c = merge_clouds([(a[0], None), (b[0], None)])
    assert c is None and p.shape == (5, 3)
    assert merge_clouds([])[0].shape == (0, 3)
    with pytest.raises(ValueError, match="some clouds"):
        merge_clouds([a, (b[0], None)])


def test_statistical_outlier_removal_removes_far_point():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(500, 3))
    pts = np.vstack([pts, [[10.0, 10.0, 10.0]]])
    keep = statistical_outlier_removal(pts, k=16, std_ratio=2.0)
    assert keep.dtype == bool and keep.shape == (501,)
    assert not keep[-1]
    assert keep[:-1].mean() > 0.95
    assert statistical_outlier_removal(pts[:1]).tolist() == [True]


def test_radius_outlier_removal_exact():
    pts = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [5.0, 0, 0]])
    keep = radius_outlier_removal(pts, radius=0.15, min_neighbors=1)
    np.testing.assert_array_equal(keep, [True, True, True, False])
    keep = radius_outlier_removal(pts, radius=0.15, min_neighbors=2)
    np.testing.assert_array_equal(keep, [False, True, False, False])


def test_crop_box_inclusive():
    pts = np.array([[0.0, 0, 0], [1.0, 1, 1], [1.0001, 0.5, 0.5], [-1.0, 0.5, 0.5]])
    np.testing.assert_array_equal(crop_box(pts, [0, 0, 0], [1, 1, 1]), [True, True, False, False])
    with pytest.raises(ValueError, match="lo <= hi"):
        crop_box(pts, [1, 0, 0], [0, 1, 1])

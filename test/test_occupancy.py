"""Tests for nova3r_ros.core.occupancy against hand-computed voxel sets and grids."""

import numpy as np
import pytest

from nova3r_ros.core import voxel_traversal
from nova3r_ros.core.occupancy import (
    OccupancyGrid2D,
    OccupancyMap,
    carve_free_space,
    first_in_cell,
    grid_from_voxels,
    occupied_voxels,
    voxel_centres,
)

# Camera in voxel (0, 1, 0) looking along +x at a wall in voxel column x = 4 (voxel size 1).
CAM = np.array([[0.5, 1.5, 0.5]])
WALL = np.array([[4.5, 0.5, 0.5], [4.5, 1.5, 0.5], [4.5, 2.5, 0.5]])
# By hand, truncation 1: the middle ray frees x = 0..3 at y = 1; the ray to y = 0.5 runs
# y = 1.5 - (x - 0.5) / 4, crosses y = 1 at x = 2.5 and stops at x = 3.53 (length sqrt(17) - 1),
# so it frees (0,1) (1,1) (2,1) (2,0) (3,0); the ray to y = 2.5 mirrors it.
WALL_FREE = [
    [0, 1, 0],
    [1, 1, 0],
    [2, 0, 0],
    [2, 1, 0],
    [2, 2, 0],
    [3, 0, 0],
    [3, 1, 0],
    [3, 2, 0],
]
WALL_OCC = [[4, 0, 0], [4, 1, 0], [4, 2, 0]]


def test_occupied_voxels_and_centres():
    pts = np.array([[0.1, 0.1, 0.1], [0.2, 0.3, 0.4], [-0.1, 0.0, 0.0], [1.0, 2.0, 3.0]])
    idx = occupied_voxels(pts, 0.5)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, [[-1, 0, 0], [0, 0, 0], [2, 4, 6]])
    idx = occupied_voxels(pts, 0.5, origin=(-0.25, 0.0, 0.0))
    np.testing.assert_array_equal(idx, [[0, 0, 0], [2, 4, 6]])
    np.testing.assert_allclose(
        voxel_centres([[0, 0, 0], [-1, 2, 3]], 0.5, (1.0, 0.0, -1.0)),
        [[1.25, 0.25, -0.75], [0.75, 1.25, 0.75]],
    )


def test_carve_straight_ray():
    cam, pt = np.array([[0.5, 0.5, 0.5]]), np.array([[5.2, 0.5, 0.5]])
    free = carve_free_space(cam, pt, None, 1.0)  # stops 1 m short: at x = 4.2
    np.testing.assert_array_equal(free, [[i, 0, 0] for i in range(5)])
    free = carve_free_space(cam, pt, None, 1.0, truncation=1.5)  # x = 3.7
    np.testing.assert_array_equal(free, [[i, 0, 0] for i in range(4)])
    free = carve_free_space(
        cam, pt, None, 1.0, truncation=0.0
    )  # to the point: its voxel is not free
    np.testing.assert_array_equal(free, [[i, 0, 0] for i in range(5)])
    # the other way along -x, from voxel 0 to voxel -4
    free = carve_free_space([[0.5, 0.5, 0.5]], [[-3.5, 0.5, 0.5]], None, 1.0)
    np.testing.assert_array_equal(free, [[-3, 0, 0], [-2, 0, 0], [-1, 0, 0], [0, 0, 0]])


def test_carve_diagonal_ray_exact_traversal():
    # Ray (0.5, 0.5) -> (3.5, 2.5): crosses x=1 (y=.83), y=1 (x=1.25), x=2 (y=1.5), y=2 (x=2.75).
    cam, pt = [[0.5, 0.5, 0.5]], [[3.5, 2.5, 0.5]]
    free = carve_free_space(cam, pt, None, 1.0, truncation=1.0)  # ends at (2.67, 1.95)
    np.testing.assert_array_equal(free, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [2, 1, 0]])
    free = carve_free_space(cam, pt, None, 1.0, truncation=0.5)  # ends at (3.08, 2.22): occupied
    np.testing.assert_array_equal(free, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [2, 1, 0], [2, 2, 0]])


@pytest.mark.parametrize("vs, origin", [(1.0, (0.0, 0.0, 0.0)), (0.1, (-1.0, 2.0, 0.3))])
def test_carve_wall_hand_computed(vs, origin):
    o = np.asarray(origin)
    free = carve_free_space(o + CAM * vs, o + WALL * vs, np.zeros(3, int), vs, origin)
    np.testing.assert_array_equal(free, WALL_FREE)
    # the same rays given as one list of points per camera
    free = carve_free_space(o + CAM * vs, [o + WALL * vs], None, vs, origin)
    np.testing.assert_array_equal(free, WALL_FREE)


def test_carve_two_cameras_and_max_range():
    cams = np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 5.5]])
    pts = np.array([[10.5, 0.5, 0.5], [0.5, 0.5, 2.7]])
    free = carve_free_space(cams, pts, np.array([0, 1]), 1.0, max_range=3.0)
    # camera 0: ray longer than 3 m frees x = 0..3 (ends at x = 3.5), no endpoint;
    # camera 1: ray down to z = 2.7 frees z = 5, 4, 3 (ends at z = 3.7), occupies (0, 0, 2).
    np.testing.assert_array_equal(
        free, [[0, 0, 0], [0, 0, 3], [0, 0, 4], [0, 0, 5], [1, 0, 0], [2, 0, 0], [3, 0, 0]]
    )
    # a point closer than the truncation frees nothing
    assert carve_free_space(cams[:1], [[0.9, 0.5, 0.5]], None, 1.0).shape == (0, 3)


def test_carve_matches_dense_sampling():
    rng = np.random.default_rng(4)
    cams = rng.uniform(-2, 2, size=(4, 3))
    pts = rng.uniform(-6, 6, size=(40, 3))
    cam_idx = rng.integers(0, 4, size=40)
    free = carve_free_space(cams, pts, cam_idx, 0.5, truncation=0.25)
    occ = {tuple(v) for v in occupied_voxels(pts, 0.5)}
    u = np.linspace(0, 1, 40001)[:, None, None]
    c = cams[cam_idx]
    ends = c + (pts - c) * (1 - 0.25 / np.linalg.norm(pts - c, axis=1))[:, None]
    samples = (c + u * (ends - c)).reshape(-1, 3)
    sampled = {tuple(v) for v in np.floor(samples / 0.5).astype(int)} - occ
    assert {tuple(v) for v in free} == sampled


def test_dense_and_sparse_voxel_collection_agree(monkeypatch):
    rng = np.random.default_rng(7)
    cams = rng.uniform(-1, 1, size=(3, 3))
    pts = rng.uniform(-4, 4, size=(500, 3))
    cam_idx = rng.integers(0, 3, size=500)
    dense = carve_free_space(cams, pts, cam_idx, 0.1, origin=(0.01, -0.02, 0.03), max_range=3.0)
    monkeypatch.setattr(voxel_traversal, "_DENSE_CELLS", 0)  # force packed keys + sort
    sparse = carve_free_space(cams, pts, cam_idx, 0.1, origin=(0.01, -0.02, 0.03), max_range=3.0)
    assert len(dense) > 1000
    np.testing.assert_array_equal(dense, sparse)
    monkeypatch.setattr(voxel_traversal, "_CHUNK", 7)  # many small chunks: same set
    np.testing.assert_array_equal(
        carve_free_space(cams, pts, cam_idx, 0.1, origin=(0.01, -0.02, 0.03), max_range=3.0),
        dense,
    )


def test_first_in_cell_keeps_one_ray_per_cube_and_frees_a_subset():
    rng = np.random.default_rng(3)
    wall = np.c_[np.full(4000, 3.0), rng.uniform(-1, 1, size=(4000, 2))]  # a surface at x = 3
    pts = np.r_[wall, [[0.01, 0.02, 0.03], [0.04, 0.01, 0.02]]]
    keep = first_in_cell(pts, 0.25)
    cubes = {tuple(c) for c in np.floor(pts / 0.25).astype(int)}
    assert len(keep) == len(cubes) and np.all(np.diff(keep) > 0)  # one per cube, sorted
    assert 4000 in keep and 4001 not in keep  # the first point of a cube is the one kept
    assert first_in_cell(np.zeros((0, 3)), 0.1).shape == (0,)
    cam = np.array([[0.0, 0.0, 0.0]])
    exact = {tuple(v) for v in carve_free_space(cam, pts, None, 0.25)}
    fewer = {tuple(v) for v in carve_free_space(cam, pts[keep], None, 0.25)}
    assert fewer <= exact and len(fewer) > 0.8 * len(exact)  # never more free space


def test_occupancy_map_occupied_only_points_carve_nothing():
    m = OccupancyMap(1.0)
    m.integrate(WALL[1:2], CAM, occupied_only=np.array([[2.5, 1.5, 0.5], [4.5, 0.5, 0.5]]))
    np.testing.assert_array_equal(m.occupied(), [[2, 1, 0], [4, 0, 0], [4, 1, 0]])
    np.testing.assert_array_equal(m.free(), [[0, 1, 0], [1, 1, 0], [3, 1, 0]])  # (2,1) occupied


def test_grid_from_wall_values():
    grid = grid_from_voxels(WALL_OCC + [[2, 2, 3]], WALL_FREE, 1.0, (0, 0, 0), 0.0, 1.0)
    assert isinstance(grid, OccupancyGrid2D)
    assert grid.data.dtype == np.int8 and grid.data.shape == (3, 5)
    assert grid.origin_xy == (0.0, 0.0) and grid.resolution == 1.0 and grid.origin_z == 0.0
    expected = [
        [-1, -1, 0, 0, 100],  # row 0: y in [0, 1)
        [0, 0, 0, 0, 100],
        [-1, -1, 0, 0, 100],  # (2, 2, 3) is occupied but above the band: stays free
    ]
    np.testing.assert_array_equal(grid.data, expected)
    empty_band = grid_from_voxels(WALL_OCC, WALL_FREE, 1.0, (0, 0, 0), 0.6, 2.0)
    np.testing.assert_array_equal(empty_band.data, np.full((3, 5), -1))


def test_grid_from_voxels_negative_indices_origin_and_bounds():
    occ = [[-2, 1, 0]]
    free = [[0, 0, 0], [0, 0, 5], [-2, 1, 1]]  # z centres 0.25, 2.75 (out of band), 0.75
    grid = grid_from_voxels(occ, free, 0.5, (1.0, 1.0, 0.0), 0.0, 1.0)
    assert grid.origin_xy == (0.0, 1.0) and grid.origin_z == 0.0
    np.testing.assert_array_equal(grid.data, [[-1, -1, 0], [100, -1, -1]])  # occupied wins
    grid = grid_from_voxels(occ, free, 0.5, (1.0, 1.0, 0.0), 0.0, 1.0, bounds_xy=(0, 1, 1, 2))
    assert grid.origin_xy == (0.0, 1.0)
    np.testing.assert_array_equal(grid.data, [[-1, -1], [100, -1]])  # (0, 0) column cropped
    none = grid_from_voxels(np.zeros((0, 3), int), [], 0.5, (1.0, 2.0, 0.0), 0.0, 1.0)
    assert none.data.shape == (0, 0) and none.origin_xy == (1.0, 2.0)


def test_occupancy_map_accumulates_occupied_wins():
    m = OccupancyMap(1.0)
    m.integrate(WALL, CAM, np.zeros(3, int))
    np.testing.assert_array_equal(m.occupied(), WALL_OCC)
    np.testing.assert_array_equal(m.free(), WALL_FREE)
    # later: an obstacle appears at (2, 1, 0), formerly free; the old wall stays occupied
    m.integrate(np.array([[2.5, 1.5, 0.5]]), CAM)
    np.testing.assert_array_equal(m.occupied(), [[2, 1, 0]] + WALL_OCC)
    assert [2, 1, 0] not in m.free().tolist()
    # a new ray through the obstacle does not free it (occupied wins)
    m.integrate(np.array([[5.5, 1.5, 0.5]]), CAM)
    assert [2, 1, 0] in m.occupied().tolist() and [2, 1, 0] not in m.free().tolist()
    grid = m.to_grid(0.0, 1.0)
    np.testing.assert_array_equal(grid.data[1], [0, 0, 100, 0, 100, 100])
    m.clear()
    assert m.occupied().shape == (0, 3) and m.free().shape == (0, 3)


def test_occupancy_map_max_range():
    m = OccupancyMap(1.0, max_range=2.0)
    m.integrate(WALL[1:2], CAM)
    assert m.occupied().shape == (0, 3)
    np.testing.assert_array_equal(m.free(), [[0, 1, 0], [1, 1, 0], [2, 1, 0]])  # up to x = 2.5


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="voxel_size"):
        occupied_voxels(np.zeros((1, 3)), -1.0)
    with pytest.raises(ValueError, match="non-finite"):
        occupied_voxels(np.array([[np.nan, 0, 0]]), 1.0)
    with pytest.raises(ValueError, match=r"\[-1048576, 1048576\)"):
        occupied_voxels(np.array([[1e7, 0, 0]]), 1.0)
    with pytest.raises(ValueError, match="point_cam_index is required"):
        carve_free_space(np.zeros((2, 3)), np.ones((3, 3)), None, 1.0)
    with pytest.raises(ValueError, match="out of range"):
        carve_free_space(np.zeros((2, 3)), np.ones((3, 3)), np.array([0, 1, 2]), 1.0)
    with pytest.raises(ValueError, match="point arrays"):
        carve_free_space(np.zeros((2, 3)), [np.ones((3, 3))], None, 1.0)
    with pytest.raises(ValueError, match="z_min <= z_max"):
        grid_from_voxels(WALL_OCC, WALL_FREE, 1.0, (0, 0, 0), 1.0, 0.0)
    with pytest.raises(ValueError, match="integer voxel indices"):
        grid_from_voxels(np.zeros((2, 3)), WALL_FREE, 1.0, (0, 0, 0), 0.0, 1.0)
    with pytest.raises(ValueError, match="-1"):
        OccupancyGrid2D(np.array([[5, -3]], np.int8), 0.1, (0.0, 0.0))
    with pytest.raises(ValueError, match="resolution"):
        OccupancyGrid2D(np.zeros((2, 2), np.int8), 0.0, (0.0, 0.0))

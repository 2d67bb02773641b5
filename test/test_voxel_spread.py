"""Several points per completed voxel cell along the local surface (model.voxel_spread).

Real tensors: cells of a tilted plane spread their points within that plane; a lone cell
keeps its one point; through the head's own path (``window_points``) and the published
cloud, 5 points per cell cover more of what one point leaves uncovered, and every point
still obeys the published cloud's rules. Bad counts are refused everywhere they can be set.
"""

import pytest
import torch
from test_voxel_completion import DOWN, K, room_depth
from test_voxel_published import _publish, saved_all_occupied

from nova3r_ros.model.measurement import measure, region_depth
from nova3r_ros.model.observed_points import nearest
from nova3r_ros.model.published_cloud import PublishConfig
from nova3r_ros.model.voxel_completion import window_points
from nova3r_ros.model.voxel_spread import spread_points

N = 12


def tilted_plane() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cells (in cell units) of the plane y = 0.3 x + 3.2 through an N^3 grid.

    Returns occupied (N, N, N), the mean points' offsets from the cells' centres
    (N, N, N, 3), the plane's unit normal (3,) and the interior occupied cells (M, 3).
    """
    idx = torch.stack(torch.meshgrid(*(torch.arange(N),) * 3, indexing="ij"), -1)
    mean = idx.float() + 0.5
    x, z = mean[..., 0], mean[..., 2]
    y = 0.3 * x + 3.2
    mean = torch.stack([x, y, z], -1)
    occupied = idx[..., 1] == torch.floor(y).long()
    normal = torch.tensor([-0.3, 1.0, 0.0]) / (1.09**0.5)
    cells = occupied.nonzero()
    interior = cells[((cells[:, 0] > 0) & (cells[:, 0] < N - 1) & (cells[:, 2] > 0)
                      & (cells[:, 2] < N - 1))]  # fmt: skip
    return occupied, mean - (idx.float() + 0.5), normal, interior


def mean_points(offset: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """(M, 3) the cells' mean points in cell units: index + 0.5 + offset."""
    return cells.float() + 0.5 + offset[cells[:, 0], cells[:, 1], cells[:, 2]]


@pytest.mark.parametrize("k", [5, 9])
def test_points_spread_within_the_cells_plane(k):
    occupied, offset, normal, cells = tilted_plane()
    pts, row = spread_points(occupied, offset, cells, k)
    assert pts.shape == (k * len(cells), 3) and row.shape == (len(pts),)
    centre = mean_points(offset, cells)
    assert torch.equal(pts[: len(cells)], centre)  # each cell's own point first
    off = pts - centre[row]
    assert off[:, None].matmul(normal[:, None]).abs().max() < 1e-4  # in the plane
    dist = off.norm(dim=-1)[len(cells) :]
    assert dist.min() > 0.24 and dist.max() < 0.25 * 2**0.5 + 1e-4  # a quarter cell out
    assert torch.equal(torch.bincount(row, minlength=len(cells)), torch.full((len(cells),), k))


def test_a_lone_cell_keeps_one_point_and_one_is_the_old_output():
    occupied = torch.zeros(5, 5, 5, dtype=torch.bool)
    occupied[2, 2, 2] = True
    offset = torch.zeros(5, 5, 5, 3)
    cells = torch.tensor([[2, 2, 2]])
    pts, row = spread_points(occupied, offset, cells, 5)
    assert pts.shape == (1, 3) and row.tolist() == [0] and pts.tolist() == [[2.5, 2.5, 2.5]]
    occupied, offset, _, cells = tilted_plane()
    pts, row = spread_points(occupied, offset, cells, 1)
    assert torch.equal(pts, mean_points(offset, cells))
    assert torch.equal(row, torch.arange(len(cells)))
    empty, _ = spread_points(occupied, offset, cells[:0], 5)
    assert empty.shape == (0, 3)


def test_bad_counts_are_refused():
    occupied, offset, _, cells = tilted_plane()
    for bad in (0, 2, 3, 4, 10):
        with pytest.raises(ValueError, match="points_per_cell"):
            spread_points(occupied, offset, cells, bad)
    for bad in (0, 3, 5.0, True):
        with pytest.raises(ValueError, match="voxel_points_per_cell"):
            PublishConfig(voxel_points_per_cell=bad)


def test_window_points_repeat_each_cells_probability(tmp_path):
    head = saved_all_occupied(tmp_path / "v")
    depth = room_depth()[None]
    one, p1 = window_points(head, depth, K[None], torch.eye(4)[None], DOWN, 0.5, 1)
    five, p5 = window_points(head, depth, K[None], torch.eye(4)[None], DOWN, 0.5, 5)
    assert len(one) < len(five) <= 5 * len(one) and len(p5) == len(five)
    assert torch.equal(five[: len(one)], one) and torch.equal(p5[: len(one)], p1)


def test_published_spread_points_obey_the_clouds_rules(tmp_path):
    head = saved_all_occupied(tmp_path / "v")
    one, depth = _publish(head, voxel_points_per_cell=1)
    five, _ = _publish(head)  # the default: 5
    assert five.stats["voxel_points"] > one.stats["voxel_points"] > 50
    vox = five.points[five.part("voxels")]
    m = measure(vox, depth, K[None], torch.eye(4)[None], depth > 0, region_depth(depth))
    assert not m.free.any() and not m.surface.any() and m.region.all()
    rest = torch.cat([five.points[five.part(p)] for p in ("observed", "planes", "hidden",
                                                           "sides")])  # fmt: skip
    assert (nearest(vox, rest)[0][:, 0] > 0.05).all()

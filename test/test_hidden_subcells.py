"""The hidden-surface head's cells subdivided (model.hidden_subcells): real tensors, no mocks.

Depths on a tilted plane interpolate to the plane at the sub-cells' own rays, a depth step
is never bridged, existence and confidence are the parent cell's, the sub-cells' rays
cover the parent's footprint, and the published cloud with ``hidden_subcells`` > 1 holds
more of the head's points, all on the footprints and depths the cells had.
"""

import pytest
import torch
from test_hidden_head import CFG, H, K, W, scene

from nova3r_ros.model.hidden_head import HiddenHead, cell_rays, layer_points
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.model.hidden_subcells import MAX_STEP, SubCellGrid, subdivided
from nova3r_ros.model.published_cloud import PublishConfig, publish

KS = K[None]


def _plane_depth(grid) -> torch.Tensor:
    """(1, 1, h, w) depth where each cell's central ray meets a tilted plane (z = 2 + 0.3 x)."""
    ray = cell_rays(KS, grid)  # (1, h, w, 3): (x/z, y/z, 1)
    return (2.0 / (1.0 - 0.3 * ray[..., 0]))[:, None]


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_a_tilted_plane_is_interpolated_along_the_sub_cells_rays(factor):
    z = _plane_depth(CFG)
    exist = torch.rand_like(z)
    up, up_exist, up_prob, grid = subdivided(z, exist, exist * 0.5, CFG, factor)
    h, w = CFG.grid
    assert grid == SubCellGrid(CFG.cell_px / factor, (h * factor, w * factor), CFG.modes)
    truth = _plane_depth(grid)
    inner = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
    err = (up - truth)[inner].abs().max()
    nearest = torch.nn.functional.interpolate(z, scale_factor=factor, mode="nearest")
    assert err < 2e-3 and err < 0.1 * (nearest - truth)[inner].abs().max()
    parent = up_exist.unflatten(2, (h, factor)).unflatten(4, (w, factor))
    assert torch.equal(parent, exist[:, :, :, None, :, None].expand_as(parent))
    assert torch.equal(up_prob, up_exist * 0.5)


def test_a_depth_step_is_never_bridged():
    z = torch.full((1, 2, *CFG.grid), 1.0)
    z[..., CFG.grid[1] // 2 :] = 2.0  # a step between two columns of cells
    z[:, 1, 10, 10] = 1.0 + MAX_STEP / 2  # a neighbour of the same surface: interpolated
    up, *_ = subdivided(z, torch.ones_like(z), torch.ones_like(z), CFG, 4)
    assert set(up[:, 0].unique().tolist()) == {1.0, 2.0}
    near = up[0, 1, 36:48, 36:48]
    assert near.min() == 1.0 and near.max() < 1.0 + MAX_STEP / 2 and len(near.unique()) > 3


def test_the_sub_cells_rays_cover_their_cells_footprint():
    up = SubCellGrid(CFG.cell_px / 4, (CFG.grid[0] * 4, CFG.grid[1] * 4), CFG.modes)
    fine = cell_rays(KS, up).unflatten(1, (CFG.grid[0], 4)).unflatten(3, (CFG.grid[1], 4))
    assert torch.allclose(fine.mean((2, 4)), cell_rays(KS, CFG), atol=1e-6)
    z = torch.full((1, 1, *CFG.grid), 2.0)
    pts = layer_points(KS, subdivided(z, z, z, CFG, 4)[0], torch.eye(4)[None], up)
    u = pts[..., 0] / pts[..., 2] * K[0, 0] + K[0, 2]
    assert u.min() > -0.5 and u.max() < W - 0.5 and pts.shape[2:4] == (H // 2 * 4, W // 2 * 4)


def test_factor_one_changes_nothing_and_bad_factors_are_refused():
    z = torch.rand(1, 2, *CFG.grid) + 1.0
    out = subdivided(z, z, z, CFG, 1)
    assert all(t is z for t in out[:3]) and out[3].grid == CFG.grid
    with pytest.raises(ValueError, match="factor"):
        subdivided(z, z, z, CFG, 0)
    for bad in (0, 9, 1.5):
        with pytest.raises(ValueError, match="hidden_subcells"):
            PublishConfig(hidden_subcells=bad)


def test_the_published_cloud_holds_more_head_points_on_the_same_surfaces(tmp_path):
    torch.manual_seed(0)
    save_head(tmp_path / "h", HiddenHead(CFG).eval(), min_probability=0.0)
    head = load_head(tmp_path / "h")
    _, depth = scene()
    rgb = torch.full((1, H, W, 3), 100, dtype=torch.uint8)

    def cloud(n: int):
        cfg = PublishConfig(hidden_subcells=n, plane_closing_m=0.0)
        pub = publish(None, None, depth, KS, torch.eye(4)[None], rgb, cfg, hidden_head=head)
        return pub.points[~pub.observed.bool()], pub.stats["hidden_points"]

    one, n_one = cloud(1)
    two, n_two = cloud(2)
    assert n_one > 0 and n_two > 1.5 * n_one
    gap = torch.cdist(two, one).amin(1)  # each new point near an old one of its footprint
    z = two[:, 2]
    assert (gap <= MAX_STEP * z + 2 * CFG.cell_px * z / K[0, 0] + 0.01).all()

"""Sub-cells for the head's layers snapped onto planes (model.hidden_subcells); real tensors.

The sub-cells keep their cell's depths and existence, their rays cover the cell's
footprint, and the published cloud with ``hidden_snap_subcells`` > 1 holds more snapped
points, on the same planes over the same footprints, and the same unsnapped points.
"""

import pytest
import torch
from test_hidden_head import CFG, H, K, W

from nova3r_ros.model.hidden_head import HiddenHead, cell_rays
from nova3r_ros.model.hidden_head_files import load_head, save_head
from nova3r_ros.model.hidden_subcells import SubCellGrid, subdivided
from nova3r_ros.model.published_cloud import PublishConfig, publish

KS = K[None]
HOLE = (slice(70, 80), slice(10, 40))  # floor pixels with no depth


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_sub_cells_keep_their_cells_values_and_cover_their_footprint(factor):
    z, exist = torch.rand(1, 4, *CFG.grid) + 1.0, torch.rand(1, 4, *CFG.grid)
    up_z, up_exist, grid = subdivided(z, exist, CFG, factor)
    h, w = CFG.grid
    assert grid == SubCellGrid(CFG.cell_px / factor, (h * factor, w * factor), CFG.modes)
    for fine, coarse in ((up_z, z), (up_exist, exist)):
        parent = fine.unflatten(2, (h, factor)).unflatten(4, (w, factor))
        assert torch.equal(parent, coarse[:, :, :, None, :, None].expand_as(parent))
    rays = cell_rays(KS, grid).unflatten(1, (h, factor)).unflatten(3, (w, factor))
    assert torch.allclose(rays.mean((2, 4)), cell_rays(KS, CFG), atol=1e-6)
    u = rays[..., 0] * K[0, 0] + K[0, 2]  # every sub-cell's ray inside the image
    assert u.min() > -0.5 and u.max() < W - 0.5


def test_factor_one_changes_nothing_and_bad_factors_are_refused():
    z = torch.rand(1, 2, *CFG.grid) + 1.0
    out = subdivided(z, z, CFG, 1)
    assert out[0] is z and out[1] is z and out[2].grid == CFG.grid
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="factor"):
            subdivided(z, z, CFG, bad)
        with pytest.raises(ValueError, match="hidden_snap_subcells"):
            PublishConfig(hidden_snap_subcells=bad)
    with pytest.raises(ValueError, match="hidden_snap_subcells"):
        PublishConfig(hidden_snap_subcells=9)


def _floor_scene():
    """Return depth (1, H, W): a floor 0.5 m down to 4 m, a box's front at 1 m, a hole."""
    v = torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
    ry = (v - K[1, 2]) / K[1, 1]
    depth = torch.where(ry > 0, 0.5 / ry.clamp_min(1e-6), torch.zeros_like(ry))
    depth[depth > 4.0] = 0.0
    box = (slice(80, 100), slice(60, 100))
    depth[box] = depth[box].clamp(max=1.0)
    depth[HOLE] = 0.0  # the floor unmeasured here (a dark patch)
    return depth[None]


@pytest.fixture
def head(tmp_path):
    """Return an untrained, seeded hidden-surface head, saved and reloaded: threshold 0.99."""
    torch.manual_seed(0)
    save_head(tmp_path / "h", HiddenHead(CFG).eval(), min_probability=0.99)
    return load_head(tmp_path / "h")


def _head_points(head, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the head's part of the floor scene's published cloud: (snapped, its own)."""
    cfg = PublishConfig(hidden_snap_existence=0.0, hidden_snap_bounding_existence=0.0,
                        spacing_m=0.005, **options)  # fmt: skip
    rgb = torch.full((1, H, W, 3), 100, dtype=torch.uint8)
    pub = publish(None, None, _floor_scene(), KS, torch.eye(4)[None], rgb, cfg, hidden_head=head)
    n_snap = pub.stats["hidden_snapped_points"]
    part = pub.points[-pub.stats["hidden_points"] :]  # last: no sides, no decoder
    return part[:n_snap], part[n_snap:]


def test_the_published_cloud_holds_denser_snapped_points_on_the_same_planes(head):
    def in_hole(p):
        u = (p[:, 0] / p[:, 2] * K[0, 0] + K[0, 2]).round().long()
        v = (p[:, 1] / p[:, 2] * K[1, 1] + K[1, 2]).round().long()
        rows, cols = HOLE
        return (v >= rows.start) & (v < rows.stop) & (u >= cols.start) & (u < cols.stop)

    snap1, own1 = _head_points(head, hidden_snap_subcells=1)
    snap3, own3 = _head_points(head, hidden_snap_subcells=3)
    n1, n3 = snap1.shape[0], snap3.shape[0]
    assert n1 > 0 and n3 > 3 * n1
    assert torch.equal(own1, own3)  # the head's own points: one per cell either way
    on_floor, on_box = (snap3[:, 1] - 0.5).abs() < 2e-3, (snap3[:, 2] - 1.0).abs() < 2e-3
    assert (on_floor | on_box).all() and on_floor.any()  # the window's planes, as before
    # the middle of 3 x 3 sub-cells is the cell's own ray: every earlier point is still
    # there (up to the one-per-cube thinning, cubes of 5 mm)
    assert torch.cdist(snap1, snap3).amin(1).max() < 0.01
    # in a hole no view measured in front of: one point per cell, as without sub-cells
    assert in_hole(snap1).sum() > 0 and in_hole(snap3).sum() == in_hole(snap1).sum()


def test_finer_sub_cells_on_bounding_planes_add_points_on_the_floor_only(head):
    """``hidden_snap_bounding_subcells``: the floor (a bounding plane) denser, the box not."""

    def snapped(n: int, bounding: int):
        snap, own = _head_points(head, hidden_snap_subcells=n,
                                 hidden_snap_bounding_subcells=bounding)  # fmt: skip
        return snap, torch.cat([snap, own])

    base, _ = snapped(1, 0)
    _, same_all = snapped(2, 2)  # not more than the others' sub-cells: nothing changes
    assert torch.equal(same_all, snapped(2, 0)[1])
    fine, _ = snapped(1, 3)

    def on_floor(p):
        return (p[:, 1] - 0.5).abs() < 2e-3

    def on_box(p):
        return (p[:, 2] - 1.0).abs() < 2e-3

    def behind_measured(p):  # farther than the floor scene's depth at its pixel
        depth = _floor_scene()[0]
        u = (p[:, 0] / p[:, 2] * K[0, 0] + K[0, 2]).long().clamp(0, W - 1)
        v = (p[:, 1] / p[:, 2] * K[1, 1] + K[1, 2]).long().clamp(0, H - 1)
        d = depth[v, u]
        return (d > 0) & (p[:, 2] > d + 0.05)

    # one point per cell everywhere: the floor keeps its points behind the box (no plane
    # has sub-cells, so none gives way to them)
    assert (on_floor(base) & behind_measured(base)).any()
    assert on_floor(fine).sum() > 3 * on_floor(base).sum() > 0
    assert on_box(base).any() and on_box(fine).sum() == on_box(base).sum()
    assert (on_floor(fine) | on_box(fine)).all()
    assert torch.cdist(base, fine).amin(1).max() < 0.01  # every earlier point still there
    for bad in (-1, 9, 1.5):
        with pytest.raises(ValueError, match="hidden_snap_bounding_subcells"):
            PublishConfig(hidden_snap_bounding_subcells=bad)

"""The voxel completion head's grid, network and points (model.voxel_completion); real tensors.

A camera 1.2 m above a floor looks at a wall 3 m ahead with a box standing in front of
it: the grid marks what the depth measured and the space in front of it, levels itself
by gravity, cuts itself to what the views saw without changing the network's answer
there, and completes only cells no view measured or saw empty.
"""

import math

import pytest
import torch

from nova3r_ros.model.observed_fusion import camera_points
from nova3r_ros.model.voxel_completion import (
    VoxelConfig,
    VoxelHead,
    crop_box,
    grid_inputs,
    grid_poses,
    grid_rotation,
    grid_targets,
    subsampled,
    voxel_loss,
    window_points,
)

H, W, F = 60, 80, 50.0
K = torch.tensor([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
CFG = VoxelConfig(cell_m=0.2, dims=(32, 16, 32), lower_m=(-3.2, -1.6, -0.4), channels=(4, 8),
                  input_width=W, crop_margin_m=0.8)  # fmt: skip
DOWN = torch.tensor([0.0, 1.0, 0.0])  # camera held level


def room_depth(floor_m: float = 1.2, wall_m: float = 3.0, box: bool = True) -> torch.Tensor:
    """(H, W) depth: floor ``floor_m`` below the level camera, a wall at ``wall_m``, a box."""
    v = torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
    ry = (v - K[1, 2]) / K[1, 1]
    floor = torch.where(ry > 0, floor_m / ry.clamp_min(1e-6), torch.full_like(ry, 1e9))
    depth = torch.minimum(floor, torch.full_like(floor, wall_m))
    if box:
        depth[25:45, 30:50] = torch.minimum(depth[25:45, 30:50], torch.tensor(1.6))
    return depth


def level_inputs(depth: torch.Tensor) -> torch.Tensor:
    """(1, 6, X, Y, Z) grid input of one level view."""
    T = grid_poses(torch.eye(4)[None], DOWN)
    return grid_inputs(depth[None, None], K[None, None], T[None], CFG)


def cell_centres(cfg: VoxelConfig = CFG) -> torch.Tensor:
    """(X, Y, Z, 3) the centres of the grid's cells in the grid frame."""
    pairs = zip(cfg.lower_m, cfg.dims, strict=True)
    axes = [lo + (torch.arange(n) + 0.5) * cfg.cell_m for lo, n in pairs]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)


def test_bad_configurations_are_refused():
    for bad in (dict(cell_m=0.0), dict(dims=(31, 16, 32)), dict(channels=(4,)),
                dict(channels=(4, 0)), dict(free_margin_m=-1.0), dict(crop_margin_m=-1.0),
                dict(lower_m=(0.0, math.nan, 0.0)), dict(input_width=True)):  # fmt: skip
        with pytest.raises(ValueError, match="VoxelConfig"):
            VoxelConfig(**{**dict(dims=(32, 16, 32), channels=(4, 8)), **bad})


def test_the_grid_is_levelled_by_gravity():
    assert torch.equal(grid_rotation(DOWN), torch.eye(3))
    assert torch.equal(grid_rotation(torch.zeros(3)), torch.eye(3))  # unknown: optical frame
    for pitch in (30.0, 85.0, -20.0):  # camera pitched down (looking at the floor), up
        a = math.radians(pitch)
        down = torch.tensor([0.1 * math.sin(a), math.cos(a), math.sin(a)])
        down = down / down.norm()
        R = grid_rotation(down)
        assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5)
        assert torch.linalg.det(R) == pytest.approx(1.0, abs=1e-5)
        assert torch.allclose(R @ down, torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)
        if abs(pitch) < 60:  # the grid looks where the camera looks, levelled
            assert R[2, 2] > 0.8


def test_subsampled_pixels_keep_their_rays():
    depth = room_depth()
    for width in (W, W // 2, W // 3):
        d, Ks = subsampled(depth[None], K[None], width)
        step = round(W / width)
        full = camera_points(depth[None], K[None])[0, step // 2 :: step, step // 2 :: step]
        assert torch.allclose(camera_points(d, Ks)[0], full, atol=1e-5)


def test_inputs_mark_measured_cells_and_the_space_in_front_of_them():
    depth = room_depth(box=False)
    x = level_inputs(depth)[0]
    measured, free = x[0] > 0, x[1] > 0
    centres = cell_centres()
    pts = camera_points(depth[None], K[None])[0].reshape(-1, 3)
    cells = ((pts - torch.tensor(CFG.lower_m)) / CFG.cell_m).floor().long()
    inside = ((cells >= 0) & (cells < torch.tensor(CFG.dims))).all(1)  # the wall's top: not
    assert 0.5 < inside.float().mean() < 1
    cells = cells[inside]
    assert measured[cells[:, 0], cells[:, 1], cells[:, 2]].all()  # every point's cell
    assert not (measured & free).any()
    z = centres[..., 2]
    assert z[measured].max() < 3.0 + CFG.cell_m and z[free].max() < 3.0
    assert free.sum() > 3 * measured.sum()  # the room's air between the camera and the wall
    assert not free[(z > 3.1) | (centres[..., 1] > 1.3)].any()  # behind the wall, the floor
    assert x[2:5].abs().max() <= 0.5 + 1e-6
    assert torch.allclose(x[5], centres[..., 1] / 3.0)  # the height channel


def test_a_second_view_is_placed_by_its_pose():
    depth = room_depth(wall_m=2.0, box=False)
    T = torch.eye(4).repeat(2, 1, 1)
    T[1, 0, 3] = 1.0  # one metre to the right, the same wall
    two = grid_inputs(torch.stack([depth, depth])[None], K.expand(1, 2, 3, 3),
                      grid_poses(T, DOWN)[None], CFG)[0]  # fmt: skip
    one = level_inputs(depth)[0]
    x = cell_centres()[..., 0]
    assert (two[0] >= one[0]).all()
    assert x[two[0] > 0].max() == pytest.approx(float(x[one[0] > 0].max()) + 1.0, abs=1e-5)


def test_the_cut_grid_gives_the_whole_grids_answer_where_it_matters():
    torch.manual_seed(0)
    head = VoxelHead(CFG).eval()
    x = level_inputs(room_depth())
    box = crop_box(x[0], CFG)
    for s, n in zip(box, CFG.dims, strict=True):
        assert s.start % CFG.downsampling == 0 and (s.stop - s.start) % CFG.downsampling == 0
        assert 0 <= s.start < s.stop <= n
    seen = (x[0, 0] > 0) | (x[0, 1] > 0)
    inside = torch.zeros_like(seen)
    inside[box] = True
    assert inside[seen].all() and inside.sum() < seen.numel()
    with torch.no_grad():
        whole, _ = head(x)
        cut, _ = head(x[(slice(None), slice(None), *box)])
    assert torch.allclose(whole[0][box][seen[box]], cut[0][seen[box]], atol=1e-4)


def all_occupied(cfg: VoxelConfig = CFG) -> VoxelHead:
    """Return a head that calls every cell occupied (probability 0.99966), offsets zero."""
    head = VoxelHead(cfg).eval()
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.copy_(torch.tensor([8.0, 0.0, 0.0, 0.0]))
    return head


def test_only_cells_no_view_measured_or_saw_empty_are_completed():
    depth = room_depth()
    head = all_occupied()
    pitch = math.radians(20)  # the camera pitched 20 degrees down: its down is tilted
    down = torch.tensor([0.0, math.cos(pitch), math.sin(pitch)])
    pts, prob = window_points(head, depth[None], K[None], torch.eye(4)[None], down, 0.5)
    assert pts.shape[0] > 100 and (prob > 0.99).all()
    x = grid_inputs(depth[None, None], K[None, None], grid_poses(torch.eye(4)[None], down)[None],
                    CFG)[0]  # fmt: skip
    p_grid = pts @ grid_rotation(down).T
    cells = ((p_grid - torch.tensor(CFG.lower_m)) / CFG.cell_m).floor().long()
    assert not (x[0] > 0)[cells[:, 0], cells[:, 1], cells[:, 2]].any()
    assert not (x[1] > 0)[cells[:, 0], cells[:, 1], cells[:, 2]].any()
    pc = pts[pts[:, 2] > 0.3]  # in the camera's frame: nothing between it and what it saw
    u = (pc[:, 0] / pc[:, 2] * F + K[0, 2]).round().long()
    v = (pc[:, 1] / pc[:, 2] * F + K[1, 2]).round().long()
    on_image = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    seen_depth = depth[v[on_image], u[on_image]]
    assert (pc[on_image, 2] > seen_depth - 2 * CFG.cell_m).all()
    assert (pc[on_image, 2] > seen_depth + 0.05).any()  # behind the box and the wall
    none, _ = window_points(head, depth[None], K[None], torch.eye(4)[None], down, 1.1)
    assert none.shape[0] == 0


def test_training_on_one_scene_lowers_the_loss():
    """The loss and its targets are learnable: 60 steps on the box scene.

    The loss falls below 0.4 of its start, and among the cells no view saw, those the
    complete surface passes through (behind the box) come out likelier than the others.
    """
    torch.manual_seed(0)
    x = level_inputs(room_depth())
    full = room_depth(box=False)  # the target: the floor and wall behind the box, and the box
    surface = torch.cat([camera_points(d[None], K[None])[0].reshape(-1, 3)
                         for d in (full, room_depth())])  # fmt: skip
    occ, off = grid_targets(surface[None], CFG)
    head = VoxelHead(CFG).train()
    opt = torch.optim.Adam(head.parameters(), lr=3e-2)
    losses = []
    for _ in range(60):
        loss = voxel_loss(head, x, occ, off)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.4 * losses[0]
    with torch.no_grad():
        prob = torch.sigmoid(head.eval()(x)[0][0])
    unseen = (x[0, 0] == 0) & (x[0, 1] == 0)
    hidden = unseen & (occ[0] > 0)
    assert hidden.sum() > 10
    assert prob[hidden].mean() > prob[unseen & (occ[0] == 0)].mean() + 0.2

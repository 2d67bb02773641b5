"""Plane completion: a wall continued behind a box and across a hole, never into free space.

Torch on the CPU. One 160x120 view, identity pose, f = 200 px (about 1 cm per pixel at
2 m): a wall at z = 2 m; variants put a box face at z = 1 m in front of it, cut a hole
(no depth) into it, or open a window through it onto a far wall at z = 3 m.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from nova3r_ros.model.measurement import measure, region_depth
from nova3r_ros.model.observed_points import observed_cloud
from nova3r_ros.model.plane_completion import (
    PlaneConfig,
    _inliers,
    complete_planes,
    fill_plane,
    fill_planes,
    find_planes,
)
from nova3r_ros.model.published_cloud import PublishConfig, publish

H, W, F = 120, 160, 200.0
K = torch.tensor([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])[None]
T = torch.eye(4)[None]
BLOCK = (slice(45, 75), slice(65, 95))
DEV = (
    Path(__file__).resolve().parents[2] / "shared/data/7scenes-redkitchen-dev"
)  # 30 x 30 px: 30 cm of wall at 2 m


def wall(kind: str):
    """Depth (1, H, W) and colours (1, H, W, 3) of the wall scene variant ``kind``."""
    depth = torch.full((1, H, W), 2.0)
    rgb = torch.zeros(1, H, W, 3, dtype=torch.uint8)
    rgb[..., 1] = 150
    if kind == "box":
        depth[0][BLOCK] = 1.0  # shadow on the wall: 60 x 60 cm
    elif kind == "hole":
        depth[0][BLOCK] = 0.0
    elif kind == "window":
        depth[0][BLOCK] = 3.0
    return depth, rgb


def fill(kind: str, config: PlaneConfig | None = None):
    config = config or PlaneConfig()
    depth, rgb = wall(kind)
    pts, cols, normals = observed_cloud(depth, K, T, rgb, 0.01, with_normals=True)
    planes = complete_planes(pts, cols, normals, depth, K, T, region_depth(depth), config)
    return (*planes, depth, pts)


def pixels(points: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    p = points.numpy()
    u = np.rint(F * p[:, 0] / p[:, 2] + (W - 1) / 2).astype(int)
    v = np.rint(F * p[:, 1] / p[:, 2] + (H - 1) / 2).astype(int)
    return u, v


def test_finds_the_wall_plane():
    depth, rgb = wall("box")
    pts, _ = observed_cloud(depth, K, T, rgb, 0.01)
    planes = find_planes(pts, PlaneConfig())
    normal, offset = planes[0]
    assert abs(abs(float(normal[2])) - 1) < 1e-3
    assert abs(abs(offset) - 2.0) < 2e-3 and float(normal[2]) * -offset > 0  # z = 2 m
    assert find_planes(pts[:2], PlaneConfig()) == []


def _grid(origin, e1, e2, n1: int, n2: int, step: float = 0.01) -> torch.Tensor:
    """Points origin + i e1 + j e2 (metres, ``step`` apart), (n1 * n2, 3)."""
    i, j = torch.meshgrid(torch.arange(n1), torch.arange(n2), indexing="ij")
    o, a, b = (torch.tensor(v, dtype=torch.float32) for v in (origin, e1, e2))
    return o + step * (i.reshape(-1, 1) * a + j.reshape(-1, 1) * b)


def _room_with_ramp() -> torch.Tensor:
    """Return a floor (z = 0, 2 x 2 m), a wall (x = 2 m, 2 x 0.6 m), a larger 30-degree ramp."""
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    return torch.cat([
        _grid((0, 0, 0), (1, 0, 0), (0, 1, 0), 200, 200),
        _grid((2, 0, 0.05), (0, 1, 0), (0, 0, 1), 200, 60),
        _grid((0.3, 0.3, 0.3), (c, 0, s), (0, 1, 0), 140, 140),
    ])  # fmt: skip


def _normals(planes) -> list[list[float]]:
    return [np.abs(n.double().numpy()).round(2).tolist() for n, _ in planes]


RAMP = [0.5, 0.0, 0.87]


def test_planes_oblique_to_the_first_are_dropped():
    """Floor and wall are kept, the ramp (found before the wall) is not, unless allowed."""
    pts = _room_with_ramp()
    assert _normals(find_planes(pts, PlaneConfig())) == [[0, 0, 1], [1, 0, 0]]
    assert _normals(find_planes(pts, PlaneConfig(max_oblique_deg=45.0))) == [
        [0, 0, 1], RAMP, [1, 0, 0]]  # fmt: skip


def test_a_dropped_plane_does_not_use_up_the_planes():
    """With room for two planes the wall is still found after the ramp is dropped."""
    pts = _room_with_ramp()
    assert _normals(find_planes(pts, PlaneConfig(max_planes=2, max_oblique_deg=45.0))) == [
        [0, 0, 1], RAMP]  # fmt: skip
    assert _normals(find_planes(pts, PlaneConfig(max_planes=2))) == [[0, 0, 1], [1, 0, 0]]
    assert _normals(find_planes(pts, PlaneConfig(max_planes=2, max_rounds=2))) == [[0, 0, 1]]


def test_wall_continued_behind_the_box_within_reach_only():
    pts, conf, rgb, planes, depth, _ = fill("box")
    assert len(planes) >= 1 and pts.shape[0] > 100
    on_wall = (pts[:, 2] - 2.0).abs() < 0.011
    assert bool(on_wall.all())  # the box face's own plane is too small to be filled
    u, v = pixels(pts)
    inside = (
        (v >= BLOCK[0].start) & (v < BLOCK[0].stop) & (u >= BLOCK[1].start) & (u < BLOCK[1].stop)
    )
    assert inside.all()  # only in the box's shadow: nothing is filled on the seen wall
    # within reach (10 cm) of the observed wall, but not deeper into the 60 cm shadow
    x, y = pts[:, 0].numpy(), pts[:, 1].numpy()
    half = 0.15  # the shadow's half width on the wall (30 px at 2 m), metres
    depth_in = np.minimum(half - np.abs(x), half - np.abs(y))
    assert depth_in.max() <= 0.1 + 0.03 and depth_in.max() > 0.05
    assert (conf > 0.49).all() and (conf <= 1).all()
    assert conf[depth_in < 0.06].mean() > conf[depth_in > 0.08].mean()  # nearer: surer
    assert bool((rgb == torch.tensor([0, 150, 0], dtype=torch.uint8)).all())  # wall colour
    m = measure(pts, depth, K, T, depth > 0)
    assert not bool(m.free.any()) and not bool(m.surface.any()) and bool(m.region.all())


def test_hole_in_the_wall_filled_at_its_rim():
    pts, conf, _, _, depth, _ = fill("hole")
    assert pts.shape[0] > 100 and bool(((pts[:, 2] - 2.0).abs() < 0.011).all())
    u, v = pixels(pts)
    assert (depth[0].numpy()[v, u] == 0).all()  # only where the sensor gave no depth
    # the 30 cm hole (225 cells of 2 cm) is filled from its rim inwards up to the reach
    # (10 cm): at most the 200 cells of that ring, and not its middle
    x, y = pts[:, 0].numpy(), pts[:, 1].numpy()
    depth_in = np.minimum(0.15 - np.abs(x), 0.15 - np.abs(y))
    assert 100 <= pts.shape[0] <= 200 and depth_in.max() <= 0.1 + 0.03
    assert conf.min() >= 0.5


def test_never_fills_seen_free_space():
    """The window shows the far wall through the plane: the closing spans it, nothing is kept."""
    pts, *_ = fill("window")  # the same 30 cm square as the hole test's, which is filled
    assert not bool(((pts[:, 2] - 2.0).abs() < 0.05).any())


def test_off_and_the_observed_only_baseline_have_no_plane_points():
    pts, _, _, planes, _, _ = fill("box", PlaneConfig(closing_m=0.0))
    assert pts.shape[0] == 0 and planes == []
    depth, rgb = wall("box")
    forced = publish(None, None, depth, K, T, rgb, PublishConfig(force_gate=True))
    assert bool(forced.observed.all()) and forced.stats["plane_points"] == 0


def test_published_cloud_adds_plane_points_once_per_cube():
    depth, rgb = wall("box")
    pub = publish(None, None, depth, K, T, rgb, PublishConfig(silhouette_depth_m=0.0))
    added = pub.points[~pub.observed]
    assert pub.stats["gated"] == 1 and pub.stats["plane_points"] == len(added) > 100
    assert torch.equal(pub.points[pub.part("planes")], added)
    keys = torch.floor(added / 0.01).long()
    assert len(torch.unique(keys, dim=0)) == len(added)
    # a window whose decoding passes the gate publishes the decoder's completion instead
    behind_box = torch.tensor([[0.0, 0.0, 1.6]])
    raw = torch.cat([observed_cloud(depth, K, T, rgb, 0.01)[0], behind_box])
    passed = publish(raw, behind_box, depth, K, T, rgb, PublishConfig())
    assert passed.stats["gated"] == 0 and passed.stats["plane_points"] == 0


def test_deterministic():
    a, b = fill("box"), fill("box")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "kw",
    [
        {"closing_m": -1.0},
        {"reach_m": float("nan")},
        {"cell_m": 0.0},
        {"min_share": 2.0},
        {"max_planes": 0},
        {"max_rounds": 0},
        {"max_oblique_deg": -5.0},
        {"sample": 2.5},
    ],
)
def test_config_is_validated(kw):
    with pytest.raises(ValueError, match="PlaneConfig"):
        PlaneConfig(**kw)
    with pytest.raises(ValueError, match="PublishConfig"):
        PublishConfig(plane_reach_m=-0.1)


def _loop_fill(pts, cols, normals, planes, config):
    """Plane by plane, as ``complete_planes`` does on the CPU."""
    out = []
    for normal, offset in planes:
        on = _inliers(pts, normals, normal, offset, config).nonzero()[:, 0]
        centres, conf = fill_plane(pts[on], normal, offset, config)
        rgb = cols[on].float().mean(0).round().clamp(0, 255).to(torch.uint8)
        out.append((centres, conf, rgb.expand(centres.shape[0], 3)))
    return [torch.cat(x) for x in zip(*out, strict=True)]


def _dev_window(views=4, start=60):
    from nova3r_ros.core.transforms import se3_inverse
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    if not DEV.is_dir():
        pytest.skip(f"no 7-Scenes dev frames at {DEV}")
    seq = SevenScenesSequence(str(DEV))
    idx = [start + 4 * i for i in range(views)]
    vs = [seq.view(i) for i in idx]
    ref = se3_inverse(seq.pose(idx[0]))

    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.stack(a), dtype=dtype)

    T_ref = t([ref @ seq.pose(i) for i in idx])
    return (
        t([v.depth for v in vs]),
        t([v.K for v in vs]),
        T_ref,
        t([v.image for v in vs], torch.uint8),
    )


def _batched_and_one_by_one(scene: str, device: str = "cpu"):
    """Return (planes, fill_planes' output, the plane-by-plane loop's) on ``scene``."""
    config = PlaneConfig()
    if scene == "dev":
        depth, Kd, Td, rgb = _dev_window()
    else:
        (depth, rgb), Kd, Td = wall(scene), K, T
    depth, Kd, Td, rgb = (x.to(device) for x in (depth, Kd, Td, rgb))
    pts, cols, normals = observed_cloud(depth, Kd, Td, rgb, 0.01, with_normals=True)
    planes = find_planes(pts, config)
    batched = fill_planes(pts, normals, cols, planes, config)
    return planes, batched, _loop_fill(pts, cols, normals, planes, config)


@pytest.mark.parametrize("scene", ["box", "window", "dev"])
def test_planes_batched_fill_the_same_cells_as_one_by_one(scene):
    """The GPU path's batch (grids padded to the largest) equals the CPU's plane-by-plane."""
    planes, (centres, conf, colours), ref = _batched_and_one_by_one(scene)
    assert len(planes) >= (3 if scene == "dev" else 1)
    assert centres.shape[0] > 0
    assert torch.equal(centres, ref[0]) and torch.equal(conf, ref[1])
    assert (colours.int() - ref[2].int()).abs().max() <= 1  # a mean summed in another order


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("scene", ["box", "dev"])
def test_planes_batched_on_the_gpu_as_one_by_one(scene):
    _, (centres, conf, colours), ref = _batched_and_one_by_one(scene, "cuda")
    assert centres.shape[0] > 0 and torch.equal(centres, ref[0]) and torch.equal(conf, ref[1])
    assert (colours.int() - ref[2].int()).abs().max() <= 1

"""The published cloud: uniform observed surfaces, gate, free-space rule, confidence, colours.

Torch on the CPU, a scene whose geometry is known. Plane completion and the sides of
occluders are off here (their tests: test_plane_completion.py, test_silhouette_sides.py).

Scene (one 64x48 view, identity pose, f = 100 px): a blue wall at z = 2 m and a red box
face at z = 1 m covering pixels u 20..39, v 15..29.
"""

import numpy as np
import pytest
import torch

from nova3r_ros.model.completed_confidence import Calibration
from nova3r_ros.model.measurement import SIGMA_COEFF, clean_pixels, measure
from nova3r_ros.model.published_cloud import PublishConfig, publish

H, W, F = 48, 64, 100.0
K = torch.tensor([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
BOX = (slice(15, 30), slice(20, 40))


def scene():
    depth = torch.full((1, H, W), 2.0)
    depth[0][BOX] = 1.0
    rgb = torch.zeros(1, H, W, 3, dtype=torch.uint8)
    rgb[..., 2] = 200
    rgb[0][BOX] = torch.tensor([220, 0, 0], dtype=torch.uint8)
    return depth, K[None], torch.eye(4)[None], rgb


def on_pixels(depth, us, vs):
    z = depth[0, vs, us]
    return torch.stack([(us - K[0, 2]) / F * z, (vs - K[1, 2]) / F * z, z], 1)


def surface_points(depth, n=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    us = torch.randint(0, W, (n,), generator=g)
    vs = torch.randint(0, H, (n,), generator=g)
    return on_pixels(depth, us, vs)


def behind_box(n=400, seed=1):
    """Points behind the box face (z 1.3..1.7), projecting well inside the box."""
    g = torch.Generator().manual_seed(seed)
    us = torch.randint(24, 36, (n,), generator=g).float()
    vs = torch.randint(18, 27, (n,), generator=g).float()
    z = 1.3 + 0.4 * torch.rand(n, generator=g)
    return torch.stack([(us - K[0, 2]) / F * z, (vs - K[1, 2]) / F * z, z], 1)


def in_free_space(depth, free):
    """Points in the seen free space of the wall's pixels (z 1.3..1.7 left of the box)."""
    g = torch.Generator().manual_seed(2)
    us = torch.randint(2, 14, (free,), generator=g).float()
    vs = torch.randint(2, 46, (free,), generator=g).float()
    z = 1.3 + 0.4 * torch.rand(free, generator=g)
    return torch.stack([(us - K[0, 2]) / F * z, (vs - K[1, 2]) / F * z, z], 1)


def free_space_violations(points, depth):
    """Count points in seen free space by the rule, recomputed independently with numpy."""
    d = depth[0].numpy()
    valid = d > 0
    pad = np.pad(d, 1, mode="edge")
    win = np.stack([pad[i : i + H, j : j + W] for i in range(3) for j in range(3)])
    margin = np.maximum(0.03, 3 * SIGMA_COEFF * d * d)
    edge = (win.max(0) - win.min(0)) > margin
    near_edge = np.zeros_like(edge)
    for i in range(-2, 3):
        for j in range(-2, 3):
            near_edge |= np.roll(np.roll(edge, i, 0), j, 1)
    clean = valid & ~near_edge
    p = points.numpy().astype(np.float64)
    u = np.rint(F * p[:, 0] / p[:, 2] + K[0, 2].item()).astype(int)
    v = np.rint(F * p[:, 1] / p[:, 2] + K[1, 2].item()).astype(int)
    inside = (u >= 0) & (v >= 0) & (u < W) & (v < H) & (p[:, 2] > 0)
    u, v = np.clip(u, 0, W - 1), np.clip(v, 0, H - 1)
    dd = d[v, u]
    free = inside & clean[v, u] & (p[:, 2] < dd - np.maximum(0.03, 3 * SIGMA_COEFF * dd**2))
    return int(free.sum())


def Config(**kw):
    """Return the published cloud's config without plane completion and sides of occluders."""
    return PublishConfig(**{"plane_closing_m": 0.0, "silhouette_depth_m": 0.0, **kw})


ALWAYS = Calibration(bias=20.0)  # confidence ~1 for every candidate
NEVER = Calibration(bias=-20.0)


def test_observed_points_uniform_spacing_colours_and_gate_forced():
    depth, Kv, T, rgb = scene()
    pub = publish(None, None, depth, Kv, T, rgb, Config(spacing_m=0.02))
    assert pub.stats["gated"] == 1 and bool(pub.observed.all())
    keys = torch.floor(pub.points / 0.02).long()
    assert len(torch.unique(keys, dim=0)) == len(pub.points)  # one point per 2 cm cube
    red = pub.points[:, 2] < 1.5
    assert bool((pub.colors[red] == torch.tensor([220, 0, 0], dtype=torch.uint8)).all())
    assert bool((pub.colors[~red][:, 2] == 200).all())
    assert bool((pub.confidence == 1).all())


def test_gate_rejects_a_decoding_that_contradicts_the_depth():
    depth, Kv, T, rgb = scene()
    good = torch.cat([surface_points(depth), behind_box()])
    bad = torch.cat([surface_points(depth, 200) + torch.tensor([0, 0, 0.06]),
                     in_free_space(depth, 2000)])  # fmt: skip
    cfg = Config()
    ok = publish(good, good, depth, Kv, T, rgb, cfg, ALWAYS)
    assert ok.stats["gated"] == 0 and ok.stats["agreement"] > 0.9
    assert ok.stats["completed"] > 0
    gated = publish(bad, good, depth, Kv, T, rgb, cfg, ALWAYS)
    assert gated.stats["gated"] == 1 and gated.stats["completed"] == 0
    assert bool(gated.observed.all())
    forced = publish(good, good, depth, Kv, T, rgb, Config(force_gate=True), ALWAYS)
    assert forced.stats["gated"] == 1 and len(forced.points) == ok.stats["observed_points"]


def test_no_completed_point_in_seen_free_space_or_outside_the_region():
    depth, Kv, T, rgb = scene()
    raw = torch.cat([surface_points(depth), behind_box()])
    outside = torch.tensor([[5.0, 0.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, -1.0]])
    candidates = torch.cat([raw, in_free_space(depth, 300), outside])
    assert free_space_violations(candidates, depth) >= 250  # the rule sees them
    pub = publish(raw, candidates, depth, Kv, T, rgb, Config(), ALWAYS)
    completed = pub.points[~pub.observed]
    assert len(completed) >= 300  # the points behind the box are the completion
    assert free_space_violations(completed, depth) == 0
    m = measure(completed, depth, Kv, T, clean_pixels(depth))
    assert bool(m.region.all()) and not bool(m.surface.any())
    # colour of the nearest observed point: the box face for points just behind it
    red = torch.tensor([220, 0, 0], dtype=torch.uint8)
    shallow = completed[:, 2] < 1.35
    assert shallow.sum() > 20
    assert bool((pub.colors[~pub.observed][shallow] == red).all())
    blue = torch.tensor([0, 0, 200], dtype=torch.uint8)
    assert bool(((pub.colors[~pub.observed] == red) | (pub.colors[~pub.observed] == blue))
                .all(1).all())  # fmt: skip


def test_confidence_filter_and_calibration_file(tmp_path):
    depth, Kv, T, rgb = scene()
    raw = torch.cat([surface_points(depth), behind_box()])
    half = Config(min_confidence=0.5)
    every = publish(raw, raw, depth, Kv, T, rgb, half, ALWAYS)
    none = publish(raw, raw, depth, Kv, T, rgb, half, NEVER)
    assert every.stats["completed"] == every.stats["completed_candidates"] > 0
    assert none.stats["completed"] == 0 and bool(none.observed.all())
    prior = publish(raw, raw, depth, Kv, T, rgb, Config(min_confidence=0.0),
                    keep_features=True)  # fmt: skip
    conf = prior.confidence[~prior.observed]
    assert bool(((conf >= 0) & (conf <= 1)).all()) and prior.features.shape[1] == 5
    strict = publish(raw, raw, depth, Kv, T, rgb, Config(min_confidence=float(conf.median())))
    assert 0 < strict.stats["completed"] < prior.stats["completed"]
    path = tmp_path / "calibration.json"
    ALWAYS.save(path)
    assert Calibration.load(path) == ALWAYS
    path.write_text('{"weights": [1, 2], "bias": 0, "features": ["x"]}')
    with pytest.raises(ValueError, match="not a confidence calibration"):
        Calibration.load(path)
    with pytest.raises(ValueError, match="min_confidence"):
        Config(min_confidence=1.5)


def test_observed_conflicts_are_counted_not_removed():
    depth, Kv, T, rgb = scene()
    near_wall = torch.full((1, H, W), 1.5)  # a second view seeing a surface in front
    depth2 = torch.cat([depth, near_wall])
    pub = publish(None, None, depth2, torch.cat([Kv, Kv]), torch.cat([T, T]),
                  torch.cat([rgb, rgb]), Config(spacing_m=0.02))  # fmt: skip
    alone = publish(None, None, depth, Kv, T, rgb, Config(spacing_m=0.02))
    assert pub.stats["observed_conflict"] > 0 and alone.stats["observed_conflict"] == 0
    assert pub.stats["observed_points"] > alone.stats["observed_points"]


def test_isotonic_knots_map_scores_monotonically():
    flat = Calibration(weights=(0.0,) * 5, bias=0.0)  # score 0.5 for every point
    feats = torch.zeros(3, 5)
    assert torch.allclose(flat.confidence(feats), torch.full((3,), 0.5))
    mapped = Calibration((0.0,) * 5, 0.0, knots_x=(0.0, 0.4, 1.0), knots_y=(0.0, 0.2, 0.8))
    assert torch.allclose(mapped.confidence(feats), torch.full((3,), 0.3))  # 0.2 + 0.1/0.6*0.6
    low = Calibration((0.0,) * 5, -50.0, knots_x=(0.1, 0.9), knots_y=(0.05, 0.95))
    assert torch.allclose(low.confidence(feats), torch.full((3,), 0.05))  # clamped at the ends
    with pytest.raises(ValueError, match="x increasing"):
        Calibration((0.0,) * 5, 0.0, knots_x=(0.5, 0.4), knots_y=(0.1, 0.2))
    with pytest.raises(ValueError, match="none or at least two"):
        Calibration((0.0,) * 5, 0.0, knots_x=(0.5,), knots_y=(0.1,))


def test_gate_needs_a_share_of_decoded_points_near_observed_surfaces():
    depth, Kv, T, rgb = scene()
    on = surface_points(depth, 100)
    far = torch.tensor([[0.0, 0.0, 5.0]]).repeat(900, 1)  # beyond every surface: near nothing
    pub = publish(torch.cat([on, far]), on, depth, Kv, T, rgb, Config(), ALWAYS)
    assert 0.05 < pub.stats["near_share"] <= 0.1 and pub.stats["agreement"] > 0.9  # clean px
    assert pub.stats["gated"] == 1  # at most 10 % near observed surfaces < 15 %
    loose = Config(gate_min_near_share=0.05)
    assert publish(torch.cat([on, far]), on, depth, Kv, T, rgb, loose, ALWAYS).stats["gated"] == 0
    with pytest.raises(ValueError, match="gate_min_near_share"):
        Config(gate_min_near_share=1.5)

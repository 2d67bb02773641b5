"""Depth-sensor and colour-camera degradation of training batches (nova3r_ros.synth.sensor)."""

import math
from dataclasses import replace

import pytest
import torch

from nova3r_ros.synth.jpeg import jpeg_roundtrip
from nova3r_ros.synth.sensor import SENSOR_PRESETS, SensorModel, apply_sensors, degrade_batch

H, W, F = 96, 128, 110.0
REAL = [k for k in SENSOR_PRESETS if k != "clean"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_batch(depth: torch.Tensor, images=None) -> dict:
    """Return a generate_batch-like dict around ``depth`` (B, V, H, W), focal F px."""
    B, V = depth.shape[:2]
    K = torch.tensor([[F, 0.0, (W - 1) / 2], [0.0, F, (H - 1) / 2], [0.0, 0.0, 1.0]])
    if images is None:
        images = torch.full((B, V, 3, H, W), 128, dtype=torch.uint8)
    return {"images": images, "depth": depth, "K": K.expand(B, V, 3, 3).clone(),
            "T_world_cam": torch.eye(4).expand(B, V, 4, 4).clone(),
            "points": torch.rand(B, 50, 3, generator=gen(9)),
            "visible": torch.ones(B, 50, dtype=torch.bool),
            "seeds": torch.arange(B, dtype=torch.int64)}  # fmt: skip


def textured(B: int, V: int) -> torch.Tensor:
    return torch.randint(50, 250, (B, V, 3, H, W), generator=gen(1), dtype=torch.uint8)


def box_scene(B: int = 1, V: int = 1) -> torch.Tensor:
    depth = torch.full((B, V, H, W), 1.5)
    depth[..., 30:60, 60:81] = 0.8
    return depth


def still(name: str) -> SensorModel:
    """Return a preset without misregistration or jitter (pixels stay put)."""
    return replace(SENSOR_PRESETS[name], shift_px=0.0, jitter_px=0.0)


def test_preset_noise_coefficients_match_the_sources():
    assert SENSOR_PRESETS["kinect_v1"].sigma_z2 == pytest.approx(1.425e-3, rel=0.01)
    step = SENSOR_PRESETS["kinect_v1"].row()[1]  # inverse-depth step: 2.85e-3 z^2 m
    assert step == pytest.approx(2.85e-3, rel=0.01)
    assert SENSOR_PRESETS["realsense_d435"].sigma_z2 == pytest.approx(3.6e-3, rel=0.01)
    assert SENSOR_PRESETS["clean"].is_identity
    assert not any(SENSOR_PRESETS[k].is_identity for k in REAL)


def test_kinect_noise_grows_with_z_squared():
    m = replace(still("kinect_v1"), smooth_noise_m=0.0, scale_error=0.0, blob_fraction=0.0)
    depth = torch.ones(2, 1, H, W)
    depth[1] = 3.0
    out = apply_sensors(make_batch(depth), [m, m], gen(0))["depth"]
    std = [float(out[i][out[i] > 0].std()) for i in range(2)]
    assert std[0] == pytest.approx(1.425e-3, rel=0.15)
    assert std[1] == pytest.approx(1.425e-3 * 9, rel=0.15)
    assert std[1] / std[0] == pytest.approx(9.0, rel=0.15)
    assert float(out[1][out[1] > 0].mean()) == pytest.approx(3.0, abs=0.003)


def test_invalid_depth_stays_zero():
    depth = box_scene(len(REAL), 2)
    depth[:, :, :20] = 0.0  # no hit
    depth[:, 1, 70:] = 0.0
    out = apply_sensors(make_batch(depth, textured(len(REAL), 2)), [still(k) for k in REAL],
                        gen(1))["depth"]  # fmt: skip
    assert (out[depth == 0] == 0).all()
    assert ((out > 0).flatten(1).float().mean(1) > 0.3).all()
    empty = torch.zeros(2, 2, H, W)
    out = degrade_batch(make_batch(empty), gen(2), p_clean=0.0)["depth"]
    assert (out == 0).all()


def test_holes_on_dark_pixels():
    images = torch.full((1, 1, 3, H, W), 128, dtype=torch.uint8)
    images[..., 10:30, 20:50] = 5
    m = SensorModel("dark", "tof", dark_grey=15.0)
    out = apply_sensors(make_batch(torch.ones(1, 1, H, W), images), [m], gen(0))["depth"]
    dark = torch.zeros(H, W, dtype=torch.bool)
    dark[10:30, 20:50] = True
    assert torch.equal(out[0, 0] == 0, dark)


def test_holes_inside_textureless_areas():
    images = textured(1, 1)
    images[..., 20:70, 30:100] = 128  # flat: the 5x5 std is 0 inside rows 22-67, cols 32-97
    m = SensorModel("texture", "passive_stereo", texture_grey=1.0)
    out = apply_sensors(make_batch(torch.ones(1, 1, H, W), images), [m], gen(0))["depth"]
    expect = torch.zeros(H, W, dtype=torch.bool)
    expect[26:64, 36:94] = True  # eroded by 4 px (9x9)
    assert torch.equal(out[0, 0] == 0, expect)


def test_holes_and_flying_pixels_at_discontinuities():
    depth = box_scene()
    d = depth[0, 0]
    pad = torch.nn.functional.pad(d[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    hi = torch.stack([pad[i : i + H, j : j + W] for i in range(3) for j in range(3)]).amax(0)
    lo = torch.stack([pad[i : i + H, j : j + W] for i in range(3) for j in range(3)]).amin(0)
    edge = hi - lo > 0.05 * d
    out = apply_sensors(make_batch(depth), [SensorModel("e", "tof", p_edge_drop=1.0)], gen(0))
    assert torch.equal(out["depth"][0, 0] == 0, edge)
    fly = apply_sensors(make_batch(depth), [SensorModel("f", "tof", p_flying=1.0)], gen(0))
    z = fly["depth"][0, 0]
    assert torch.equal(z[~edge], d[~edge])
    assert ((z[edge] >= 0.8) & (z[edge] <= 1.5)).all()
    mixed = (z[edge] > 0.81) & (z[edge] < 1.49)
    assert mixed.float().mean() > 0.9


def test_shadow_left_of_foreground_and_stereo_band():
    depth = box_scene()
    m = SensorModel("sl", "structured_light", baseline_m=0.075)
    holes = apply_sensors(make_batch(depth), [m], gen(0))["depth"][0, 0] == 0
    # band width f * B * (1/0.8 - 1/1.5) = 4.81 px: columns 56-59 beside the box
    expect = torch.zeros(H, W, dtype=torch.bool)
    expect[30:60, 56:60] = True
    assert torch.equal(holes, expect)
    st = replace(m, name="st", kind="active_stereo")
    holes = apply_sensors(make_batch(depth), [st], gen(0))["depth"][0, 0] == 0
    expect[:, :6] = True  # no match in the right image: u < f * B / 1.5 = 5.5 px
    assert torch.equal(holes, expect)


def test_holes_at_grazing_incidence():
    tan = math.tan(math.radians(70.0))  # plane z - tan * x = 1, 70 deg at the centre
    xn = (torch.arange(W) - (W - 1) / 2) / F
    yn = (torch.arange(H) - (H - 1) / 2) / F
    denom = (1 - tan * xn).expand(H, W)
    depth = torch.where(denom > 0.25, 1 / denom.clamp(min=1e-3), 0.0)[None, None]
    out = apply_sensors(make_batch(depth), [SensorModel("g", "tof", grazing_deg=75.0)], gen(0))
    r2 = xn[None, :] ** 2 + yn[:, None] ** 2 + 1
    angle = torch.rad2deg(torch.acos(denom / math.sqrt(1 + tan**2) / r2.sqrt()))
    held = out["depth"][0, 0] > 0
    valid = depth[0, 0] > 0
    assert not held[valid & (angle > 75.5)].any()
    assert held[valid & (angle < 74.5)].all()
    assert (valid & (angle > 75.5)).sum() > 100 and (valid & (angle < 74.5)).sum() > 100


def test_random_blobs_cover_the_expected_fraction():
    m = SensorModel("blobs", "tof", blob_fraction=0.05)
    out = apply_sensors(make_batch(torch.ones(4, 4, H, W)), [m] * 4, gen(0))["depth"]
    assert float((out == 0).float().mean()) == pytest.approx(0.05, abs=0.02)


def test_range_limits():
    planes = (0.1, 0.2, 0.35, 0.45, 1.0, 4.2, 8.0, 25.0)
    depth = torch.tensor(planes).view(1, -1, 1, 1).expand(len(REAL), -1, H, W).clone()
    batch = make_batch(depth, textured(len(REAL), len(planes)))
    models = [SENSOR_PRESETS[k] for k in REAL]
    out = apply_sensors(batch, models, gen(3))["depth"]
    for i, m in enumerate(models):
        z = out[i]
        assert ((z == 0) | ((z >= m.min_range_m) & (z <= m.max_range_m))).all(), m.name
        for j, p in enumerate(planes):
            inside = (z[j] > 0).float().mean()
            if 1.1 * m.min_range_m < p < 0.9 * m.max_range_m:
                assert inside > 0.5, (m.name, p)
            elif p < 0.9 * m.min_range_m or p > 1.1 * m.max_range_m:
                assert inside == 0, (m.name, p)


def test_misregistration_shifts_depth_against_colour():
    B, V = 8, 2
    base = 1 + torch.arange(H * W, dtype=torch.float32).view(H, W) * 1e-4  # unique values
    m = SensorModel("shift", "tof", shift_px=3.0)
    out = apply_sensors(make_batch(base.expand(B, V, H, W).clone()), [m] * B, gen(4))
    assert torch.equal(out["images"], make_batch(base[None, None])["images"].expand_as(
        out["images"]))  # fmt: skip
    shifts = set()
    for b in range(B):
        src = round((float(out["depth"][b, 0, H // 2, W // 2]) - 1) / 1e-4)
        dy, dx = src // W - H // 2, src % W - W // 2  # depth(u, v) = input(u + dx, v + dy)
        assert dx * dx + dy * dy <= 3.75**2
        expect = torch.zeros(H, W)
        ys, xs = slice(max(0, -dy), H - max(0, dy)), slice(max(0, -dx), W - max(0, dx))
        yt, xt = slice(max(0, dy), H - max(0, -dy)), slice(max(0, dx), W - max(0, -dx))
        expect[ys, xs] = base[yt, xt]
        for v in range(V):  # one registration error per window
            assert torch.equal(out["depth"][b, v], expect)
        shifts.add((dx, dy))
    assert len(shifts) > 2


def test_deterministic_for_a_fixed_generator():
    batch = make_batch(box_scene(4, 2), textured(4, 2))
    a = degrade_batch(batch, gen(5))
    b = degrade_batch(batch, gen(5))
    c = degrade_batch(batch, gen(6))
    assert torch.equal(a["depth"], b["depth"]) and torch.equal(a["images"], b["images"])
    assert not torch.equal(a["depth"], c["depth"])


def test_clean_returns_identical_tensors():
    batch = make_batch(box_scene(3, 2), textured(3, 2))
    for out in (degrade_batch(batch, gen(0), presets=["clean"]),
                degrade_batch(batch, gen(0), p_clean=1.0)):  # fmt: skip
        assert out is not batch
        assert torch.equal(out["depth"], batch["depth"])
        assert torch.equal(out["images"], batch["images"])
    mixed = degrade_batch(make_batch(box_scene(40, 1), textured(40, 1)), gen(1), p_clean=0.5)
    same = [torch.equal(mixed["depth"][i], box_scene()[0]) for i in range(40)]
    assert 8 < sum(same) < 32


def test_images_keep_dtype_and_range():
    batch = make_batch(box_scene(4, 2), textured(4, 2))
    out = degrade_batch(batch, gen(0), p_clean=0.0)
    assert out["images"].dtype == torch.uint8 and out["images"].shape == batch["images"].shape
    assert not torch.equal(out["images"], batch["images"])
    batch["images"] = batch["images"].float() / 255
    out = degrade_batch(batch, gen(0), p_clean=0.0)
    x = out["images"]
    assert x.dtype == torch.float32 and float(x.min()) >= 0 and float(x.max()) <= 1
    assert out["depth"].dtype == torch.float32 and out["depth"].shape == batch["depth"].shape


def test_jpeg_makes_8x8_blocks():
    ramp = torch.linspace(0, 1, W)[None, :] * 0.6 + torch.linspace(0, 1, H)[:, None] * 0.3
    img = (ramp * 255).round().to(torch.uint8).expand(1, 1, 3, H, W).clone()
    depth = torch.ones(1, 1, H, W)
    err = {}
    for q in (10.0, 95.0):
        m = SensorModel("jpeg", "tof", p_jpeg=1.0, jpeg_quality=(q, q))
        y = apply_sensors(make_batch(depth, img), [m], gen(0))["images"].float()[0, 0, 0]
        err[q] = float((y - img[0, 0, 0].float()).abs().mean())
        step = (y[:, 1:] - y[:, :-1]).abs().mean(0)  # horizontal steps per column gap
        at_blocks = step[7::8].mean()
        if q == 10.0:
            assert at_blocks > 2 * step[[i for i in range(W - 1) if i % 8 != 7]].mean()
    assert err[95.0] < 1.5 < err[10.0]


def test_input_is_not_mutated():
    batch = make_batch(box_scene(3, 2), textured(3, 2))
    before = {k: v.clone() for k, v in batch.items()}
    out = degrade_batch(batch, gen(0), p_clean=0.0)
    for k, v in batch.items():
        assert torch.equal(v, before[k]), k
    for k in ("points", "visible", "K", "T_world_cam", "seeds"):
        assert out[k] is batch[k]


def test_on_generated_windows():
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch

    cfg = benchmark_config(2, height=48, width=64, n_gt_points=200)
    batch = generate_batch(7, 3, cfg)
    out = degrade_batch(batch, gen(0), p_clean=0.0)
    assert set(out) == set(batch)
    valid_in, valid_out = (batch["depth"] > 0).sum(), (out["depth"] > 0).sum()
    assert 0.3 * valid_in < valid_out < valid_in


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(noise_const_m=-0.001), "noise_const_m"),
        (dict(smooth_noise_m=float("nan")), "smooth_noise_m"),
        (dict(kind="lidar"), "kind"),
        (dict(min_range_m=2.0, max_range_m=1.0), "min_range_m"),
        (dict(p_edge_drop=0.8, p_flying=0.5), "p_edge_drop"),
        (dict(grazing_deg=0.0), "grazing_deg"),
        (dict(jpeg_quality=(90, 10)), "jpeg_quality"),
        (dict(disp_noise_px=0.1), "baseline_m"),
        (dict(scale_error=0.5), "scale_error"),
        (dict(shift_px=True), "shift_px"),
    ],
)
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        SensorModel("bad", **{"kind": "tof", **changes})


def test_degrade_batch_argument_checks():
    batch = make_batch(box_scene())
    with pytest.raises(ValueError, match="p_clean"):
        degrade_batch(batch, gen(0), p_clean=1.5)
    with pytest.raises(ValueError, match="kinect_v1"):
        degrade_batch(batch, gen(0), presets=["kinect"])
    with pytest.raises(ValueError, match="one model per window"):
        apply_sensors(batch, [SENSOR_PRESETS["zed"]] * 2)


def test_jpeg_roundtrip_matches_libjpeg():
    pil = pytest.importorskip("PIL.Image")
    import io

    import numpy as np

    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    rgb = torch.stack([xx / W, yy / H, 0.5 + 0.3 * torch.sin(xx / 5.0) * torch.cos(yy / 7.0)])
    img = (rgb * 200 + 20 + 15 * torch.rand(3, H, W, generator=gen(0))).round().to(torch.uint8)
    arr = img.permute(1, 2, 0).numpy()
    for q in (20, 75):
        buf = io.BytesIO()
        pil.fromarray(arr).save(buf, "JPEG", quality=q, subsampling=2)
        ref = torch.from_numpy(np.asarray(pil.open(buf)).astype(np.float32)).permute(2, 0, 1)
        ours = jpeg_roundtrip(img[None].float() / 255, torch.tensor([float(q)]))[0] * 255
        err_ref, err_ours = ((x - img.float()).abs().mean() for x in (ref, ours))
        assert float(err_ours) == pytest.approx(float(err_ref), rel=0.25), q
        assert float((ours - ref).abs().mean()) < 0.6 * float(err_ref), q

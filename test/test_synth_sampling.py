"""Ground-truth surface sampling (area-uniform), visibility labels and rendered depth."""

import math

import numpy as np
import pytest
import torch

from nova3r_ros.synth.primitives import surface_area
from nova3r_ros.synth.render import render
from nova3r_ros.synth.rigs import intrinsics, look_at
from nova3r_ros.synth.sampling import (
    hash_uniform,
    sample_primitive,
    sample_surface,
    scene_key,
    visibility,
)
from nova3r_ros.synth.scenes import collate, make_spec

N = 200_000


def test_hash_uniform_is_uniform_and_device_independent():
    u = hash_uniform(torch.tensor([scene_key(5)]), 3, torch.arange(N)).numpy()
    assert u.min() > 0 and u.max() < 1
    hist = np.histogram(u, bins=20, range=(0, 1))[0] / N
    assert np.abs(hist - 0.05).max() < 0.003
    v = hash_uniform(torch.tensor([scene_key(6)]), 3, torch.arange(N)).numpy()
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01


def test_box_faces_by_area():
    h = np.array([0.5, 1.0, 1.5])
    p = sample_primitive("box", h, N).numpy()
    on = np.isclose(np.abs(p), h, atol=1e-6)
    assert np.all(on.sum(1) >= 1)
    face_area = np.array([h[1] * h[2], h[0] * h[2], h[0] * h[1]])
    expected = face_area / face_area.sum()
    got = on.mean(0) / on.sum(1).mean()
    np.testing.assert_allclose(got, expected, atol=0.005)
    # each face uniform: positive/negative sides balanced, coordinates uniform on the face
    xs = p[on[:, 2], 0]
    assert np.abs(np.histogram(xs, bins=10, range=(-h[0], h[0]))[0] / len(xs) - 0.1).max() < 0.01


def test_sphere_cylinder_capsule_cone_area_splits():
    p = sample_primitive("sphere", [0.3], N).numpy()
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 0.3, rtol=1e-5)
    hist = np.histogram(p[:, 2], bins=10, range=(-0.3, 0.3))[0] / N  # Archimedes: uniform z
    assert np.abs(hist - 0.1).max() < 0.005
    r, h = 0.2, 0.5
    p = sample_primitive("cylinder", [r, h], N).numpy()
    cap = np.isclose(np.abs(p[:, 2]), h, atol=1e-6)
    assert cap.mean() == pytest.approx(
        2 * math.pi * r * r / surface_area("cylinder", np.array([r, h])), abs=0.005
    )
    rr = np.hypot(p[cap, 0], p[cap, 1])
    assert np.mean(rr < r / 2) == pytest.approx(0.25, abs=0.01)  # uniform disc
    p = sample_primitive("capsule", [r, h], N).numpy()
    side = np.abs(p[:, 2]) < h
    assert side.mean() == pytest.approx(
        4 * math.pi * r * h / surface_area("capsule", np.array([r, h])), abs=0.005
    )
    rb, H = 0.3, 0.8
    p = sample_primitive("cone", [rb, H], N).numpy()
    base = np.abs(p[:, 2]) < 1e-7
    lat = math.pi * rb * math.hypot(rb, H)
    assert base.mean() == pytest.approx(math.pi * rb * rb / (lat + math.pi * rb * rb), abs=0.005)
    z = p[~base, 2]
    rho = np.hypot(p[~base, 0], p[~base, 1])
    np.testing.assert_allclose(rho, rb * (H - z) / H, atol=1e-5)
    # the lower half (by height) of the slant holds 3/4 of the lateral area
    assert np.mean(z < H / 2) == pytest.approx(0.75, abs=0.005)


def test_torus_density_uniform_over_area():
    R, r = 0.6, 0.25
    p = sample_primitive("torus", [R, r], N).numpy()
    rho = np.hypot(p[:, 0], p[:, 1])
    np.testing.assert_allclose(np.hypot(rho - R, p[:, 2]), r, atol=1e-5)
    phi = np.arctan2(p[:, 2], rho - R)  # tube angle
    edges = np.linspace(-math.pi, math.pi, 13)
    hist = np.histogram(phi, bins=edges)[0] / N
    # area of a tube-angle band: r * (R (b - a) + r (sin b - sin a)) * 2 pi / (4 pi^2 R r)
    expected = (R * np.diff(edges) + r * np.diff(np.sin(edges))) / (2 * math.pi * R)
    np.testing.assert_allclose(hist, expected, atol=0.004)
    theta = np.arctan2(p[:, 1], p[:, 0])
    assert np.abs(np.histogram(theta, bins=12)[0] / N - 1 / 12).max() < 0.004


def test_scene_samples_split_by_area_and_rect_uniform():
    spec = make_spec([
        dict(kind="rect", pos=(0, 0, 0), params=[1, 0, 0, 0, 1, 0, 0.5, 0.25], obj_id=1),
        dict(kind="sphere", pos=(2, 0, 0.1), params=[0.1]),
        dict(kind="torus", pos=(-2, 0, 0.05), yaw=0.7, params=[0.2, 0.05]),
    ])  # fmt: skip
    pts = sample_surface(collate([spec]), N, torch.tensor([scene_key(1)]))[0].numpy()
    areas = np.array([0.5, 4 * math.pi * 0.01, 4 * math.pi**2 * 0.2 * 0.05])
    got = np.array(
        [np.mean(np.abs(pts[:, 0]) < 1), np.mean(pts[:, 0] > 1), np.mean(pts[:, 0] < -1)]
    )
    np.testing.assert_allclose(got, areas / areas.sum(), atol=0.005)
    table = pts[np.abs(pts[:, 0]) < 1]
    assert np.all(np.abs(table[:, 2]) < 1e-7)
    assert np.abs(table[:, 0]).max() <= 0.5 and np.abs(table[:, 1]).max() <= 0.25
    ball = pts[pts[:, 0] > 1] - [2, 0, 0.1]
    np.testing.assert_allclose(np.linalg.norm(ball, axis=1), 0.1, rtol=1e-4)


def _camera(eye, target, W=160, H=120, fov=60.0):
    K = intrinsics([fov], W, H)
    T = look_at(np.array([eye], float), np.array([target], float))
    return K, T


def test_visibility_sphere_in_front_of_box():
    spec = make_spec([
        dict(kind="box", pos=(2.0, 0, 0), params=[0.1, 0.5, 0.5]),
        dict(kind="sphere", pos=(1.0, 0, 0), params=[0.2]),
    ])  # fmt: skip
    K, T = _camera((0, 0, 0), (2, 0, 0), W=320, H=240, fov=50.0)
    scenes = collate([spec])
    Kt, Tt = torch.tensor(K[None]), torch.tensor(T[None])
    out = render(scenes, Kt, Tt, 240, 320)
    pts = sample_surface(scenes, 50_000, torch.tensor([scene_key(0)]))
    vis = visibility(pts, out["depth"], Kt, Tt)[0].numpy()
    p = pts[0].numpy()
    front = np.abs(p[:, 0] - 1.9) < 1e-6
    radial = np.hypot(p[:, 1], p[:, 2])
    shadow = 0.2 / math.sqrt(1 - 0.04) * 1.9  # tangent cone of the sphere at x = 1.9
    assert not vis[front & (radial < shadow - 0.03)].any()
    inner = np.maximum(np.abs(p[:, 1]), np.abs(p[:, 2])) < 0.49  # off the face's edge pixels
    lit = front & inner & (radial > shadow + 0.03)
    assert lit.sum() > 1000 and vis[lit].mean() > 0.99
    assert not vis[np.abs(p[:, 0] - 2.1) < 1e-6].any()  # back face
    ball = np.linalg.norm(p - [1, 0, 0], axis=1) < 0.2 + 1e-4
    facing = ball & (p[:, 0] < 0.9)  # away from the grazing silhouette (x = 0.96)
    assert vis[facing].mean() > 0.99 and not vis[ball & (p[:, 0] > 1.05)].any()


def test_rendered_table_depth_matches_analytic_z_depth():
    spec = make_spec([dict(kind="rect", pos=(0.1, -0.05, 0), params=[1, 0, 0, 0, 1, 0, 0.8, 0.5],
                           obj_id=1)])  # fmt: skip
    W, H = 128, 96
    K, T = _camera((0.9, 0.4, 0.7), (0.0, 0.0, 0.0), W=W, H=H, fov=70.0)
    out = render(collate([spec]), torch.tensor(K[None]), torch.tensor(T[None]), H, W)
    depth, ids = out["depth"][0, 0].numpy(), out["ids"][0, 0].numpy()
    # plane z = 0 in camera coordinates: n_c . X = c; X = z (x, y, 1) for pixel rays
    R, t = T[0, :3, :3], T[0, :3, 3]
    n_c, c = R.T @ [0.0, 0.0, 1.0], -t[2]
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    ray = np.stack(
        [(u - K[0, 0, 2]) / K[0, 0, 0], (v - K[0, 1, 2]) / K[0, 1, 1], np.ones_like(u, float)], -1
    )
    z = c / (ray @ n_c)
    world = t + z[..., None] * (ray @ R.T)
    on = (
        (np.abs(world[..., 0] - 0.1) < 0.8 - 1e-3)
        & (np.abs(world[..., 1] + 0.05) < 0.5 - 1e-3)
        & (z > 0)
    )
    assert on.sum() > 1000
    assert np.all(ids[on] == 1)
    np.testing.assert_allclose(depth[on], z[on], rtol=2e-6)
    off = (
        (np.abs(world[..., 0] - 0.1) > 0.8 + 1e-3)
        | (np.abs(world[..., 1] + 0.05) > 0.5 + 1e-3)
        | (z < 0)
    )
    assert np.all(depth[off] == 0) and np.all(ids[off] == 0)

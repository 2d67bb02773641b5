"""Analytic ray-primitive intersections against hand-computed hits and a brute-force march."""

import math

import numpy as np
import pytest
import torch

from nova3r_ros.synth.intersect import normals, ray_intersect
from nova3r_ros.synth.primitives import contains


def hit(kind, params, origin, direction):
    return float(ray_intersect(kind, params, [origin], [direction])[0])


@pytest.mark.parametrize(
    ("kind", "params", "origin", "direction", "t"),
    [
        ("sphere", [1.0], (0, 0, -5), (0, 0, 1), 4.0),
        ("sphere", [1.0], (0.6, 0, -5), (0, 0, 1), 5.0 - 0.8),
        ("sphere", [1.0], (1.1, 0, -5), (0, 0, 1), math.inf),
        ("box", [1.0, 2.0, 3.0], (5, 0.5, 0.5), (-1, 0, 0), 4.0),
        ("box", [1.0, 2.0, 3.0], (0.5, 0.5, 10), (0, 0, -1), 7.0),
        ("box", [1.0, 2.0, 3.0], (5, 5, 0), (-1, -1, 0), math.sqrt(2) * 4.0),
        ("box", [1.0, 2.0, 3.0], (5, 2.5, 0), (-1, 0, 0), math.inf),
        ("cylinder", [1.0, 2.0], (5, 0, 0), (-1, 0, 0), 4.0),
        ("cylinder", [1.0, 2.0], (0.5, 0, 10), (0, 0, -1), 8.0),
        ("cylinder", [1.0, 2.0], (5, 0, 2.5), (-1, 0, 0), math.inf),
        ("cylinder", [1.0, 2.0], (0, 0, -10), (0, 0, 1), 8.0),
        ("capsule", [1.0, 2.0], (0, 0, 10), (0, 0, -1), 7.0),
        ("capsule", [1.0, 2.0], (0.6, 0, 10), (0, 0, -1), 10.0 - 2.8),
        ("capsule", [1.0, 2.0], (5, 0, 1), (-1, 0, 0), 4.0),
        ("capsule", [1.0, 2.0], (5, 0, 2.6), (-1, 0, 0), 5.0 - 0.8),
        ("cone", [1.0, 2.0], (5, 0, 1), (-1, 0, 0), 4.5),
        ("cone", [1.0, 2.0], (0, 0, -5), (0, 0, 1), 5.0),
        ("cone", [1.0, 2.0], (0, 0, 10), (0, 0, -1), 8.0),
        ("cone", [1.0, 2.0], (0.5, 0, 10), (0, 0, -1), 9.0),
        ("cone", [1.0, 2.0], (5, 0, 2.1), (-1, 0, 0), math.inf),
        ("torus", [2.0, 0.5], (10, 0, 0), (-1, 0, 0), 7.5),
        ("torus", [2.0, 0.5], (0, 0, 0), (1, 0, 0), 1.5),
        ("torus", [2.0, 0.5], (2, 0, 5), (0, 0, -1), 4.5),
        ("torus", [2.0, 0.5], (0, 0, 5), (0, 0, -1), math.inf),
        ("torus", [2.0, 0.5], (0, -10, 0.3), (0, 1, 0), 10.0 - 2.0 - 0.4),
        ("torus", [2.0, 0.5], (10, 0, 0.51), (-1, 0, 0), math.inf),
        ("rect", [1, 0, 0, 0, 1, 0, 0.5, 0.3], (0.2, 0.1, 2), (0, 0, -1), 2.0),
        ("rect", [1, 0, 0, 0, 1, 0, 0.5, 0.3], (0.2, 0.1, -2), (0, 0, 1), 2.0),
        ("rect", [1, 0, 0, 0, 1, 0, 0.5, 0.3], (0.2, 0.4, 2), (0, 0, -1), math.inf),
    ],
)
def test_hand_computed_hits(kind, params, origin, direction, t):
    got = hit(kind, params, origin, direction)
    if math.isinf(t):
        assert math.isinf(got)
    else:
        assert got == pytest.approx(t, abs=1e-7)


def test_torus_oblique_hit_matches_closed_form():
    # ray in the plane y = 0 from above the tube centre, 45 degrees down towards +x
    R, r = 2.0, 0.5
    d = np.array([1.0, 0.0, -1.0]) / math.sqrt(2)
    o = np.array([2.0, 0.0, 0.0]) - 3.0 * d  # passes through the tube centre (2, 0, 0)
    assert hit("torus", [R, r], o, d) == pytest.approx(3.0 - r, abs=1e-9)


def sdf(kind, p, q):
    """Exact signed distances (test-only reference)."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    rho = np.hypot(x, y)
    if kind == "box":
        d = np.abs(p) - q
        return np.linalg.norm(np.maximum(d, 0), axis=-1) + np.minimum(d.max(-1), 0)
    if kind == "sphere":
        return np.linalg.norm(p, axis=-1) - q[0]
    if kind == "cylinder":
        d = np.stack([rho - q[0], np.abs(z) - q[1]], -1)
        return np.linalg.norm(np.maximum(d, 0), axis=-1) + np.minimum(d.max(-1), 0)
    if kind == "capsule":
        return np.sqrt(rho**2 + (z - np.clip(z, -q[1], q[1])) ** 2) - q[0]
    if kind == "torus":
        return np.hypot(rho - q[0], z) - q[1]
    if kind == "cone":  # sign only is used by the march: inside <=> below slant and above base
        inside = (z >= 0) & (rho <= q[0] * (q[1] - z) / q[1])
        return np.where(inside, -1.0, 1.0)
    raise AssertionError(kind)


def march(kind, q, o, d, t_max=6.0, n=6000):
    """First inside-crossing along each ray by dense sampling and bisection."""
    ts = np.linspace(0.0, t_max, n)
    s = sdf(kind, o[:, None, :] + ts[None, :, None] * d[:, None, :], q)
    inside = s < 0
    first = np.where(inside.any(1), inside.argmax(1), -1)
    out = np.full(len(o), np.inf)
    for i in np.nonzero(first > 0)[0]:
        a, b = ts[first[i] - 1], ts[first[i]]
        for _ in range(50):
            m = 0.5 * (a + b)
            if sdf(kind, (o[i] + m * d[i])[None], q)[0] < 0:
                b = m
            else:
                a = m
        out[i] = b
    return out


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("box", [0.3, 0.5, 0.2]),
        ("sphere", [0.4]),
        ("cylinder", [0.3, 0.5]),
        ("capsule", [0.25, 0.4]),
        ("cone", [0.4, 0.9]),
        ("torus", [0.6, 0.2]),
        ("torus", [0.35, 0.3]),
    ],
)
def test_random_rays_match_brute_force(kind, params):
    rng = np.random.default_rng(1)
    n = 400
    # origins on a sphere of radius 2.5 aimed at jittered points near the primitive
    o = rng.normal(size=(n, 3))
    o = 2.5 * o / np.linalg.norm(o, axis=1, keepdims=True)
    aim = rng.uniform(-0.8, 0.8, (n, 3))
    d = aim - o
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    got = ray_intersect(kind, params, o, d).numpy()
    ref = march(kind, np.asarray(params, float), o, d)
    both = np.isfinite(got) & np.isfinite(ref)
    assert both.sum() > 60
    assert np.abs(got[both] - ref[both]).max() < 2e-6
    # hits/misses disagree only for grazing rays that the march's step can skip
    assert (np.isfinite(got) != np.isfinite(ref)).mean() < 0.01
    assert (np.isinf(got) & np.isfinite(ref)).sum() == 0
    # the analytic normal at each hit is the outward gradient of the signed distance
    p = o[both] + got[both, None] * d[both]
    if kind != "cone":
        eps = 1e-5
        grad = np.stack(
            [
                (sdf(kind, p + eps * e, params) - sdf(kind, p - eps * e, params)) / (2 * eps)
                for e in np.eye(3)
            ],
            1,
        )
        pt = torch.as_tensor(p)
        nrm = normals(
            kind, *pt.unbind(1), tuple(torch.tensor(params).double().expand(len(p), -1).unbind(1))
        )
        cos = (nrm.numpy() * grad / np.linalg.norm(grad, axis=1, keepdims=True)).sum(1)
        assert np.quantile(cos, 0.98) > 0.999


def test_float32_torus_rendering_path_agrees_with_float64():
    rng = np.random.default_rng(2)
    o = np.tile([0.0, -1.0, 0.5], (2000, 1))
    d = rng.uniform(-0.15, 0.15, (2000, 3)) + [0.0, 1.0, -0.5]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    params = torch.tensor([0.06, 0.02])
    t64 = ray_intersect("torus", params, o, d).numpy()
    comps = [torch.tensor(o[:, i], dtype=torch.float32) for i in range(3)]
    comps += [torch.tensor(d[:, i], dtype=torch.float32) for i in range(3)]
    from nova3r_ros.synth.intersect import hit_torus

    t32 = hit_torus(*comps, (params[0].expand(2000), params[1].expand(2000))).numpy()
    assert np.isfinite(t64).sum() > 50
    np.testing.assert_array_equal(np.isfinite(t32), np.isfinite(t64))
    fin = np.isfinite(t64)
    assert np.abs(t32[fin] - t64[fin]).max() < 1e-5


def test_contains_matches_signed_distance():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-1, 1, (5000, 3))
    for kind, q in [("box", [0.3, 0.5, 0.2]), ("sphere", [0.4]), ("cylinder", [0.3, 0.5]),
                    ("capsule", [0.25, 0.4]), ("torus", [0.6, 0.2])]:  # fmt: skip
        np.testing.assert_array_equal(contains(kind, q, pts), sdf(kind, pts, np.array(q)) < 0)
    cone_in = contains("cone", [0.4, 0.9], pts)
    np.testing.assert_array_equal(cone_in, sdf("cone", pts, np.array([0.4, 0.9])) < 0)

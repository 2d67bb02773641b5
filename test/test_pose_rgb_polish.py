"""The placed views' poses polished on matches through the plane (pose_rgb_polish)."""

from __future__ import annotations

import cv2
import numpy as np

from nova3r_ros.model.pose_rgb_polish import PairMatches, PolishConfig, polish_on_matches

FOCAL = 250.0


def _look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world pose (x right, y down, z forward) at ``centre`` facing ``target``."""
    z = target - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, -1.0, 0.0])
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = np.stack([x, np.cross(z, x), z], 1), centre
    return T


def _scene(V: int = 4, seed: int = 0):
    """Return true camera-to-view-0 poses over a tilted plane, the plane, exact matches."""
    rng = np.random.default_rng(seed)
    target = np.array([0.0, 0.4, 1.5])
    world = [_look_at(np.array([0.5 * np.sin(a), -0.4, 0.8 * (1 - np.cos(a))]), target)
             for a in np.linspace(0.0, 0.9, V)]  # fmt: skip
    T = np.stack([np.linalg.inv(world[0]) @ w for w in world])
    n = np.array([0.0, -1.0, -0.3])
    n /= np.linalg.norm(n)
    # plane through the target (view 0's frame): points spread over it
    tgt0 = np.linalg.inv(world[0]) @ np.append(target, 1.0)
    d = float(n @ tgt0[:3])
    u = np.cross(n, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    X = tgt0[:3] + rng.uniform(-0.6, 0.6, (400, 1)) * u + rng.uniform(-0.6, 0.6, (400, 1)) * v
    pairs = []
    for a in range(V):
        for b in range(a + 1, V):
            xs = []
            for i in (a, b):
                Ti = np.linalg.inv(T[i])
                Xi = X @ Ti[:3, :3].T + Ti[:3, 3]
                xs.append(Xi[:, :2] / Xi[:, 2:])
            pairs.append(PairMatches(a, b, xs[0], xs[1], FOCAL))
    return T, (n, d), pairs


def _rot_err(A: np.ndarray, B: np.ndarray) -> float:
    R = A[:3, :3] @ B[:3, :3].T
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def _perturbed(T: np.ndarray, deg: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = T.copy()
    for v in range(1, len(T)):
        axis = rng.normal(size=3)
        E = np.eye(4)
        E[:3, :3] = cv2.Rodrigues(axis / np.linalg.norm(axis) * np.radians(deg))[0]
        out[v] = T[v] @ E
    return out


def _tilted(n: np.ndarray, deg: float) -> np.ndarray:
    R = cv2.Rodrigues(np.array([np.radians(deg), 0.0, 0.0]))[0]
    return R @ n


def test_views_several_degrees_off_and_a_tilted_normal_are_brought_back_by_the_matches():
    T, (n, d), pairs = _scene()
    start = _perturbed(T, 6.0)
    ok = np.ones(4, bool)
    out, kept, before, after, normal = polish_on_matches(start, ok, pairs, (_tilted(n, 4.0), d))
    assert kept and after > 2 * before
    assert np.degrees(np.arccos(min(1.0, float(normal @ n)))) < 0.3  # the tilt is undone
    for a in range(4):
        for b in range(a + 1, 4):
            truth = np.linalg.inv(T[b]) @ T[a]
            assert _rot_err(np.linalg.inv(out[b]) @ out[a], truth) < 0.3
    assert np.array_equal(out[0], start[0])
    # the matches fix no scale: the damping keeps the views' distances from view 0
    for v in range(1, 4):
        ratio = np.linalg.norm(out[v][:3, 3]) / np.linalg.norm(T[v][:3, 3])
        assert 0.9 < ratio < 1.1


def test_wrong_matches_leave_the_poses_as_they_were():
    T, plane, pairs = _scene()
    rng = np.random.default_rng(3)
    wrong = [PairMatches(p.a, p.b, p.x_a, rng.permutation(p.x_b), p.focal) for p in pairs]
    start = _perturbed(T, 6.0)
    out, kept, *_ = polish_on_matches(start, np.ones(4, bool), wrong, plane)
    assert not kept and np.array_equal(out, start)


def test_unplaced_views_and_view_0_stay_and_their_pairs_are_not_used():
    T, (n, d), pairs = _scene()
    start = _perturbed(T, 6.0)
    ok = np.array([True, True, False, True])
    out, kept, *_ = polish_on_matches(start, ok, pairs, (n, d))
    assert kept
    assert np.array_equal(out[2], start[2]) and np.array_equal(out[0], start[0])
    assert _rot_err(np.linalg.inv(out[1]) @ out[0], np.linalg.inv(T[1]) @ T[0]) < 0.3


def test_no_scales_or_no_placed_pair_is_no_polish():
    T, plane, pairs = _scene(V=2)
    start = _perturbed(T, 6.0)
    off = polish_on_matches(start, np.ones(2, bool), pairs, plane, PolishConfig(scales_px=()))
    assert not off[1] and np.array_equal(off[0], start) and np.array_equal(off[4], plane[0])
    alone = polish_on_matches(start, np.array([True, False]), pairs, plane)
    assert not alone[1] and np.array_equal(alone[0], start)

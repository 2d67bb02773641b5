"""Plane-homography alignment and the decoded points' geometry for :mod:`.pose_rgb`.

The dominant plane of the decoded points, its homography between two views aligned by ECC
and decomposed into a pose; guided matches; the decoded points' depth at pixels; and the
wider search's starting poses for a view whose head guess is far off
(:func:`orbit_hypotheses`).
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np

from nova3r_ros.model.cpu_threads import thread_map
from nova3r_ros.model.pose_rgb_direct import DirectConfig, align_direct, direct_levels


def angle_deg(R: np.ndarray) -> float:
    """Return the angle (deg) of rotation matrix ``R``."""
    return math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(R)) - 1) / 2))))


def axis_rotation(axis: np.ndarray, deg: float) -> np.ndarray:
    """Return the rotation of ``deg`` degrees about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, np.float64)
    return cv2.Rodrigues(a / np.linalg.norm(a) * math.radians(deg))[0]


def orbit_hypotheses(T_b_a: np.ndarray, n: np.ndarray, d: float, orbit_deg, roll_deg):
    """Return starting poses ``T_b_a`` (4x4) about a guess for the wider search.

    ``n . X = d``: the plane in camera a's frame. Each orbit angle turns camera b about the
    plane's normal through the point where b's optical axis meets the plane (a view
    circling the scene, as the head's azimuth errors do); each roll angle turns it about
    its optical axis. Orbits are left out when b's axis does not meet the plane ahead.
    """
    T_a_b = np.linalg.inv(T_b_a)
    c, z = T_a_b[:3, 3], T_a_b[:3, 2]
    out = []
    s = (d - n @ c) / (n @ z) if abs(n @ z) > 1e-3 else -1.0
    if s > 0:
        p = c + s * z
        for deg in orbit_deg:
            Q = axis_rotation(n, deg)
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = Q @ T_a_b[:3, :3], Q @ (c - p) + p
            out.append(np.linalg.inv(T))
    for deg in roll_deg:
        T = np.eye(4)
        T[:3, :3] = axis_rotation([0.0, 0.0, 1.0], deg)
        out.append(T @ T_b_a)
    return out


def point_depth(points: np.ndarray, T_ref_cam: np.ndarray, K: np.ndarray, px: np.ndarray,
                cell: float) -> np.ndarray:  # fmt: skip
    """Return the depth (N,) of the nearest of ``points`` (M, 3, view 0's frame) at ``px``.

    Points are projected into the camera at ``T_ref_cam`` and z-buffered on a grid of
    ``cell`` px; NaN where no point falls in a pixel's cell.
    """
    T = np.linalg.inv(T_ref_cam)
    P = points @ T[:3, :3].T + T[:3, 3]
    P = P[P[:, 2] > 1e-6]
    key_q = np.floor(px / cell).astype(np.int64)
    lo, hi = key_q.min(0, initial=0), key_q.max(0, initial=0) + 1  # the pixels' cells only
    key_p = np.floor((P[:, :2] / P[:, 2:] * np.diag(K)[:2] + K[:2, 2]) / cell)
    inside = np.all((key_p >= lo) & (key_p < hi), axis=1)
    key_p, z_p = key_p[inside].astype(np.int64) - lo, P[inside, 2]
    width = int(hi[0] - lo[0])
    zbuf = np.full(width * int(hi[1] - lo[1]), np.inf)
    np.minimum.at(zbuf, key_p[:, 1] * width + key_p[:, 0], z_p)
    z = zbuf[(key_q[:, 1] - lo[1]) * width + (key_q[:, 0] - lo[0])]
    return np.where(np.isfinite(z), z, np.nan)


def dominant_plane(points: np.ndarray, tol: float = 0.02, iters: int = 200):
    """Return (n, d, share): the plane ``n . X = d`` (d > 0) with the most of ``points``.

    RANSAC with inlier distance ``tol`` times the points' median distance to the origin,
    then a least-squares refit; ``share`` is the inliers' share. None for < 3 points.
    """
    P = np.asarray(points, np.float64)
    if len(P) < 3:
        return None
    rng = np.random.default_rng(0)
    tol = tol * float(np.median(np.linalg.norm(P, axis=1)))
    tri = P[rng.integers(0, len(P), (iters, 3))]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1)
    n, tri = n[norm > 1e-12] / norm[norm > 1e-12, None], tri[norm > 1e-12]
    if not len(n):
        return None
    d = np.einsum("ij,ij->i", n, tri[:, 0])
    count = (np.abs(P @ n.T - d) < tol).sum(0)
    k = int(np.argmax(count))
    Q = P[np.abs(P @ n[k] - d[k]) < tol]
    m = Q.mean(0)
    n = np.linalg.svd(Q - m, full_matrices=False)[2][2]
    d = float(n @ m)
    n, d = (-n, -d) if d < 0 else (n, d)
    return n, d, float(np.mean(np.abs(P @ n - d) < tol))


def align_homography(grey_a: np.ndarray, grey_b: np.ndarray, H: np.ndarray, levels: int):
    """Refine ``H`` (x_b ~ H x_a, px) by ECC alignment, coarse to fine; (H, rho) or None.

    A level whose alignment fails keeps the previous level's ``H``; ``rho`` is the
    correlation of ``grey_a`` and ``grey_b`` warped by the final ``H`` (full size).
    """
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-5)
    for lvl in range(levels - 1, -1, -1):
        f = 0.5**lvl
        S = np.diag([f, f, 1.0])
        a = cv2.resize(grey_a, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if lvl else grey_a
        b = cv2.resize(grey_b, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if lvl else grey_b
        Hs = (S @ H @ np.linalg.inv(S)).astype(np.float32)
        try:
            _, Hs = cv2.findTransformECC(a, b, Hs, cv2.MOTION_HOMOGRAPHY, crit, None, 5)
        except cv2.error:
            continue
        if np.isfinite(Hs).all():
            H = np.linalg.inv(S) @ Hs.astype(np.float64) @ S
    h, w = grey_a.shape
    warped = cv2.warpPerspective(grey_b, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    inside = cv2.warpPerspective(np.ones_like(grey_b), H, (w, h),
                                 flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0  # fmt: skip
    if inside.sum() < 0.1 * h * w:
        return None
    x, y = grey_a[inside] - grey_a[inside].mean(), warped[inside] - warped[inside].mean()
    rho = float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))
    return H, rho


def pose_from_homography(H, K_a, K_b, n, d, R_prior):
    """Return the pose ``x_b = R x_a + t`` from a plane homography and the plane ``n . X = d``.

    Of the decompositions the one whose normal is nearest ``n`` (then whose rotation is
    nearest ``R_prior``) is taken; t is scaled by ``d``. Returns (R, t, normal agreement).
    """
    Hn = np.linalg.inv(K_b) @ H @ K_a
    Hn /= np.linalg.svd(Hn, compute_uv=False)[1]  # an exact plane homography has sigma_2 = 1
    _, Rs, ts, ns = cv2.decomposeHomographyMat(Hn, np.eye(3))
    # H = R + t n^T / d holds for the normal with n . X = d > 0 on the plane (pointing away
    # from the camera, as ``n``); (-t, -n) gives the same H: taking that one reverses t
    best = max(range(len(Rs)), key=lambda k: (round(float(ns[k].ravel() @ n), 1),
                                              -angle_deg(Rs[k] @ R_prior.T)))  # fmt: skip
    return Rs[best], ts[best].ravel() * d, float(ns[best].ravel() @ n)


def guided_matches(px_a, d_a, px_b, d_b, H, radius: float) -> np.ndarray:
    """Return mutual nearest descriptors among keypoints near ``H``'s prediction (px)."""
    if d_a is None or d_b is None or not len(px_a) or not len(px_b):
        return np.zeros((0, 2), np.int64)
    q = np.column_stack([px_a, np.ones(len(px_a))]) @ H.T
    q = q[:, :2] / q[:, 2:]
    near = np.sum((q[:, None] - px_b[None]) ** 2, -1) < radius**2
    a2, b2 = np.sum(d_a.astype(np.float64) ** 2, 1), np.sum(d_b.astype(np.float64) ** 2, 1)
    dist = a2[:, None] + b2[None] - 2.0 * d_a.astype(np.float64) @ d_b.T.astype(np.float64)
    dist[~near] = np.inf
    ia = np.arange(len(px_a))
    jb = np.argmin(dist, 1)
    keep = np.isfinite(dist[ia, jb]) & (np.argmin(dist, 0)[jb] == ia)
    return np.column_stack([ia[keep], jb[keep]])


def direct_inputs(cfg, T_ref_a: np.ndarray, points: np.ndarray | None):
    """Return (ECC levels, decoded points in camera a or None, DirectConfig or None).

    What :func:`align_plane` takes from a :class:`.pose_rgb_config.RgbPoseConfig`: without
    ``direct_iters`` no direct step and ``ecc_levels``; with it ``polish_levels`` and the
    decoded points (M, 3, view 0's frame) moved into camera a (``T_ref_a``: its
    camera-to-view-0 pose).
    """
    if not cfg.direct_iters:
        return cfg.ecc_levels, None, None
    direct = DirectConfig(tuple(cfg.direct_iters), cfg.object_cells, cfg.object_margin)
    pts_a = None
    if points is not None:
        T_a_ref = np.linalg.inv(T_ref_a)
        pts_a = points @ T_a_ref[:3, :3].T + T_a_ref[:3, 3]
    return cfg.polish_levels, pts_a, direct


def align_plane(a, b, inits, n_a, d_a, T_head, greys, S, K, min_ecc, max_deg, levels,
                points_a=None, direct=None, direct_min_ecc=0.0):  # fmt: skip
    """Return (R, t, rho, H) of the best aligned plane homography from ``inits``, or None.

    The one of :func:`plane_alignments` (same arguments) with the highest correlation.
    """
    best = None
    for found in plane_alignments(a, b, inits, n_a, d_a, T_head, greys, S, K, min_ecc,
                                  max_deg, levels, points_a, direct, direct_min_ecc):  # fmt: skip
        if found is not None and (best is None or found[2] > best[2]):
            best = found
    return best


def plane_alignments(a, b, inits, n_a, d_a, T_head, greys, S, K, min_ecc, max_deg, levels,
                     points_a=None, direct=None, direct_min_ecc=0.0):  # fmt: skip
    """Yield, for each start in ``inits``, its aligned (R, t, rho, H), or None where it fails.

    ``inits``: starting poses ``T_b_a`` (4x4). Each is first aligned with its 6 degrees of
    freedom over the plane ``n_a . X = d_a`` and ``points_a`` (camera a's decoded points,
    or None) by :func:`.pose_rgb_direct.align_direct` (``direct``: its config; None skips
    this step), then its homography by ECC on the finest ``levels`` pyramid levels; the
    ECC result is decomposed and replaces the direct one where it correlates at least as
    well and its normal agrees with ``n_a``; where its normal does not agree, the direct
    one counts only with a correlation of ``direct_min_ecc`` (without the direct step
    only an agreeing ECC result counts). A result counts when its correlation is at least
    ``min_ecc`` and its rotation is within ``max_deg`` of the head's (``T_head``). Nothing
    is yielded where ``d_a <= 0`` (camera a behind the plane).
    """
    if d_a <= 0:
        return
    S_inv = np.linalg.inv(S)
    args = (greys[a], greys[b], S @ K[a], S @ K[b])
    pyramid = None if direct is None else direct_levels(*args, (n_a, d_a), points_a, direct)

    def one(T0):
        R, t, rho = T0[:3, :3], T0[:3, 3], -1.0
        if direct is not None:
            T, rho = align_direct(*args, T0, (n_a, d_a), points_a, direct, pyramid)
            R, t = T[:3, :3], T[:3, 3]
        H = K[b] @ (R + np.outer(t, n_a) / d_a) @ np.linalg.inv(K[a])
        al = align_homography(greys[a], greys[b], S @ H @ S_inv, levels)
        agree = 0.0
        if al is not None:
            H_ecc = S_inv @ al[0] @ S
            R_h, t_h, agree = pose_from_homography(H_ecc, K[a], K[b], n_a, d_a, R)
            if agree > 0.9 and al[1] >= rho:
                R, t, rho, H = R_h, t_h, al[1], H_ecc
        counts = (agree > 0.9 or rho >= direct_min_ecc) and rho >= min_ecc
        return (R, t, rho, H) if counts and angle_deg(R @ T_head[:3, :3].T) <= max_deg else None

    yield from thread_map(one, inits)  # the starts side by side on a multi-core CPU


def pair_placements(edges: dict) -> dict[int, list[tuple[int, np.ndarray, float]]]:
    """Return {view: [(other view, T_view_other, score), ...]}: each aligned pair both ways.

    ``edges``: {(a, b): (score, T_b_a)} (``x_b = T_b_a x_a``); a view ``v`` is placed
    through an entry as ``T_ref_v = T_ref_other @ inv(T_view_other)``. Entries keep the
    edges' order.
    """
    out: dict[int, list] = {}
    for (a, b), (s, T) in edges.items():
        out.setdefault(b, []).append((a, T, s))
        out.setdefault(a, []).append((b, np.linalg.inv(T), s))
    return out


def consistent_tree(
    edges: dict, P: np.ndarray, anchor: np.ndarray, max_deg: float, max_trees: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Re-place views by the spanning tree of pairs most consistent with the other pairs.

    ``edges``: {(a, b): (score, T_b_a)}, every pair that aligned (``x_b = T_b_a x_a``; the
    score is at least 1 where the pair is fully supported: a plane alignment, 1 + its
    correlation, or an essential matrix with 5 x ``min_inliers`` inliers or more);
    ``P``: (V, 4, 4) camera-to-view-0 poses placed along ``anchor`` (-1: not placed). Each
    tree from view 0 through the pairs places the views; a pair is consistent with them
    when its rotation is within ``max_deg`` of theirs (chained translations carry each
    pair's own scale error, so their directions are not compared). The tree with the most
    consistent pairs wins. Ties go to the tree with the most views placed by fully
    supported pairs (a small rotation error can hide a reversed translation in a weakly
    supported essential matrix of a near-planar pair), then to the shallower tree (errors
    add up along chains), then to the given placement, then to the higher score. Returns
    the poses and the anchors.
    """
    V = len(P)
    placed = {0} | {v for v in range(1, V) if anchor[v] >= 0}
    both_ways = pair_placements(edges)
    opts = {v: [o for o in both_ways.get(v, []) if o[0] in placed]
            for v in range(1, V) if anchor[v] >= 0}  # fmt: skip
    views = sorted(opts)
    if not views or int(np.prod([len(opts[v]) for v in views])) > max_trees:
        return P, anchor
    best = None
    for choice in itertools.product(*[opts[v] for v in views]):
        parent = dict(zip(views, choice, strict=True))
        Q, depth = P.copy(), {0: 0}
        for _ in views:  # place the views whose parent is placed
            for v in views:
                if v not in depth and parent[v][0] in depth:
                    Q[v] = Q[parent[v][0]] @ np.linalg.inv(parent[v][1])
                    depth[v] = depth[parent[v][0]] + 1
        if len(depth) <= len(views):
            continue  # a cycle
        good = sum(angle_deg((np.linalg.inv(Q[b]) @ Q[a])[:3, :3] @ T[:3, :3].T) <= max_deg
                   for (a, b), (_, T) in edges.items())  # fmt: skip
        n_full = sum(parent[v][2] >= 1.0 for v in views)
        key = (good, n_full, -sum(depth.values()), all(parent[v][0] == anchor[v] for v in views),
               sum(parent[v][2] for v in views))  # fmt: skip
        if best is None or key > best[0]:
            best = key, Q, parent
    _, Q, parent = best
    new_anchor = anchor.copy()
    for v in views:
        new_anchor[v] = parent[v][0]
    return Q, new_anchor

"""A last placement for views no pair placed, from the learned matches over the decoded plane.

Used by :func:`.pose_rgb.refine_rgb_views` with a learned matcher
(:mod:`.pose_rgb_learned`). A view whose pairs all failed their checks keeps the head's
guess, which is 15-40 degrees off in such windows. The learned matches are few there (15-60
per pair on 256x192 synthetic views) but mostly right, and mostly on the table: too few
and too planar for an essential matrix, enough for two plane poses:

1. the homography of the pair's learned matches (RANSAC; ``learned_plane_min_fit`` of them
   fit it), decomposed, the decomposition whose plane normal is nearest the decoded
   plane's (within ``twin_max_normal_deg``), its translation scaled by the decoded plane's
   distance from camera a;
2. the photometric alignment over the decoded plane from the head's guess
   (:func:`.pose_rgb_align.align_plane`), counted at the plain ``min_ecc`` whatever the
   normal of its ECC homography (the placement's first pass asks ``direct_min_ecc`` of
   a direct alignment whose homography disagrees with the decoded normal).

The candidate explaining the most learned matches (Sampson distance under the matcher's
threshold) places the view where it explains ``learned_plane_min_share`` of them and at
least ``learned_plane_min_matches``.

Frames: poses ``T_b_a`` map camera a's points into camera b (``x_b = R x_a + t``, the
model's scale); the plane is ``n . X = d`` in view 0's frame (``d > 0``).
"""

from __future__ import annotations

import numpy as np

from nova3r_ros.model.pose_rgb_align import align_plane, direct_inputs
from nova3r_ros.model.pose_rgb_epipolar import (
    explained,
    nearest_normal,
    plane_decompositions,
    se3,
)


def homography_pose(x_a, x_b, thr: float, n_a: np.ndarray, d_a: float, cfg) -> np.ndarray | None:
    """Return ``T_b_a`` (4, 4) from the homography of normalised matches (N, 2), or None.

    RANSAC with threshold ``thr`` (normalised units); None where under
    ``cfg.learned_plane_min_fit`` of the matches fit it, or no decomposition's normal lies
    within ``cfg.twin_max_normal_deg`` of ``n_a`` (camera a, ``n_a . X = d_a``).
    """
    if len(x_a) < 8:
        return None
    sols = plane_decompositions(x_a, x_b, thr, cfg.learned_plane_min_fit)
    if sols is None:
        return None
    (R, t, _), deg = nearest_normal(sols, n_a)
    if deg > cfg.twin_max_normal_deg:
        return None
    return se3(R, t * d_a)  # H = R + t n^T / d: t is over the distance


def place_by_learned_plane(b, ok, out, head, learned, plane, points, greys, S, K, cfg):
    """Return (a, T_b_a, explained, share) placing view ``b`` from a placed view, or None.

    ``ok``: (V,) placed views; ``out`` / ``head``: (V, 4, 4) camera-to-view-0 poses
    (placed; the head's); ``learned``: the window's :class:`.pose_rgb_learned.
    LearnedMatches`; ``plane``: the decoded (normal, offset, share) in view 0's frame;
    ``points``: decoded points (M, 3) in view 0's frame or None; ``greys``, ``S``, ``K``:
    as the placement aligns them. Of every placed view's two candidates (module
    docstring), the one explaining the most learned matches.
    """
    best = None
    for a in np.flatnonzero(ok):
        _, x_a, x_b, thr = learned(int(a), int(b))
        if len(x_a) < cfg.learned_plane_min_matches:
            continue
        n_a = out[a][:3, :3].T @ plane[0]
        d_a = float(plane[1] - plane[0] @ out[a][:3, 3])
        if d_a <= 0:
            continue
        T_head = np.linalg.inv(head[b]) @ head[a]
        cands = [homography_pose(x_a, x_b, thr, n_a, d_a, cfg)]
        if cfg.direct_iters:
            found = align_plane(a, b, [T_head], n_a, d_a, T_head, greys, S, K, cfg.min_ecc,
                                cfg.max_disagree_deg, *direct_inputs(cfg, out[a], points),
                                cfg.min_ecc)  # fmt: skip
            cands.append(None if found is None else se3(found[0], found[1]))
        for T in cands:
            if T is None:
                continue
            k = explained(T[:3, :3], T[:3, 3], x_a, x_b, thr)
            need = max(cfg.learned_plane_min_matches, cfg.learned_plane_min_share * len(x_a))
            if k >= need and (best is None or k > best[2]):
                best = int(a), T, k, k / len(x_a)
    return best

"""Refine a window's camera-head poses from its images alone (RGB-only windows, no depth).

Poses are ``T_ref_cam`` (V, 4, 4) float64, camera-to-view-0, OpenCV optical frames, in the
model's normalised scale (the scale of the camera head's translations and of the decoded
points). Without depth the point-to-plane refinement of :mod:`.pose_views` has nothing to
align, so each view ``b`` > 0 is placed from a view ``a`` already placed (view 0 always;
the anchor with the best support wins; a view that fails is tried again, in a second pass,
from the views placed after it) by :func:`refine_rgb_views`:

1. The dominant plane of the decoded points (RANSAC; the table or floor) gives, with the
   head's relative pose, a plane homography between the two images. From the head's guess
   and from the essential matrix's pose (step 2) when there is one, the pose is first
   aligned with its 6 degrees of freedom over that plane and the decoded points nearer
   than it (the objects; :mod:`.pose_rgb_direct`; with 2 views from one pyramid level
   coarser, ``pair_direct_iters``), then the homography by ECC (OpenCV, the
   finest ``polish_levels`` levels of grey images at most ``ecc_width`` wide), decomposed
   (the decomposition whose normal matches the decoded plane's), its translation scaled by
   the decoded plane's distance: the model's own geometry fixes the scale, alike for every
   view. The ECC pose replaces the direct one where its normal agrees with the decoded
   plane's and it correlates at least as well (where it does not agree, the direct pose
   needs a correlation of ``direct_min_ecc``); the best start counts where its
   correlation is >= ``min_ecc`` and, where the pair has an essential matrix, the pose
   explains at least ``min_match_share`` as many matches as its inliers (real images,
   where the decoded plane can be wrong and the matches are many).
   Where no start aligns (and the pair has no essential matrix with ``wide_skip_inliers``
   inliers), a wider search starts from the head's guess orbited about the plane's normal
   (``wide_orbit_deg``) and rolled about the optical axis
   (``wide_roll_deg``; :func:`.pose_rgb_align.orbit_hypotheses`), with a stricter
   correlation (``wide_min_ecc``) and a looser head check (``wide_max_disagree_deg``).
   Where the best start aligned but explains few of the pair's feature matches
   (``recheck_share``) and correlates below ``recheck_below_ecc``, the head's guess
   orbited by ``recheck_orbit_deg`` is aligned too under the wider search's checks, and
   the one explaining clearly more matches replaces it (``recheck_gain``,
   ``recheck_margin``): a start can end in a poor minimum that still passes ``min_ecc``.
   Synthetic scenes (checkerboard tables, little texture) have too few correct feature
   matches for the essential matrix; the plane's image alignment does not need them.
2. Otherwise SIFT matches (ratio test) give the essential matrix (MAGSAC++); of its four
   decompositions those with nearly the most points in front are eligible and the one
   nearest the head's rotation is taken, refined by Gauss-Newton on Sampson errors and
   compared, by inlier count, with the head's own pose refined on the same matches. Its
   translation length is the median ratio of the decoded points' depth (z-buffered per
   ``grid_px`` cell) to the inliers' triangulated depth; with too few, the head's length.
   With a learned matcher (``matcher``, :mod:`.pose_rgb_learned`), its matches fit an
   essential matrix the same way; where that has ``learned_min_inliers`` or more inliers
   and more than SIFT's, and SIFT's has fewer than ``learned_max_sift_inliers``, its
   matches stand for the pair's (start, checks, scale).
3. Checks: a candidate more than ``max_disagree_deg`` from the head's rotation is
   rejected (unless its E inliers are at least ``min_share_disagree`` of the matches); a
   view with no candidate keeps the head's guess and is not ``ok``. Confidence: ``share *
   min(1, matches / (5 * min_inliers))``, with the homography's correlation and its
   guided matches, or the E inlier share and inliers; 0 where not ok, 1 for view 0.
   :meth:`RgbViewPoses.stats` writes ``pose_ok_<i>`` and ``pose_confidence_<i>`` as
   :mod:`.pose_views` does (the node withholds views that are not ok).
4. With 3 or more views, every pair that aligned votes
   (:func:`.pose_rgb_align.consistent_tree`): the views are re-placed along the tree of
   pairs from view 0 with the most pairs within ``consistency_deg`` of its rotations; on
   a tie, the one with the most views placed by fully supported pairs (score >= 1: a
   plane alignment, or an essential matrix with ``5 * min_inliers`` inliers), then the
   shallowest (errors add up along chains of pairs).
5. The placed views' poses and the decoded plane's normal are refined together against
   every pair's image alignment (:mod:`.pose_rgb_joint`; the decoded normal is a few
   degrees off and tilts every pair placed over it; with 2 views under a weaker prior on
   the normal, ``pair_joint_prior_weight``; with 3 or more on one more, coarser pyramid
   level, ``multi_joint_iters``), kept only where every pair of placed views still
   explains ``joint_min_match_ratio`` of the feature matches its earlier poses explained
   (on real images the decoded plane can be far off, and the matches are many); with 2
   views placed and a learned matcher, also of its matches (``pair_learned_check_min``:
   on small views the joint step can slide a right pair along the table). With 2 views
   it is skipped where their matches fix the pair.
6. Descending coarse to fine, step 5 can carry a view into a worse minimum of its own
   loss; a view is put back at its pose from steps 1-4, or at its placement through
   another aligned pair, where that lowers the loss at full size (``reseat_rounds``),
   and step 5 runs again from there on its finest levels (``reseat_polish_iters``).
7. With a learned matcher, the placed views are polished on its matches
   (:mod:`.pose_rgb_polish`); in a window of 3 or more views, the poses from before step 5
   are polished too, and replace its result where they explain clearly more of the learned
   and SIFT matches (``joint_undo_gain``) and some view's rotation differs between the two
   by ``joint_undo_min_deg`` or more (:func:`.pose_rgb_polish.undo_joint`): step 5 can
   carry views placed within a few degrees 15-25 degrees off and still pass its check;
   between close views the matches alone cannot fix the translation's direction.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np

from nova3r_ros.model.cpu_threads import one_blas_thread, thread_map
from nova3r_ros.model.pose_rgb_align import (
    align_plane,
    consistent_tree,
    direct_inputs,
    dominant_plane,
    guided_matches,
    orbit_hypotheses,
    pair_placements,
    plane_alignments,
    point_depth,
)
from nova3r_ros.model.pose_rgb_config import ECC_ONLY, PAIRS_ONLY, RgbPoseConfig
from nova3r_ros.model.pose_rgb_epipolar import (
    explained,
    match,
    normalise,
    planar_twin,
    relative_pose,
    se3,
    sift_features,
    supported_pair_pose,
    triangulate,
)
from nova3r_ros.model.pose_rgb_fallback import place_by_learned_plane
from nova3r_ros.model.pose_rgb_joint import JointConfig, WindowLoss, refine_joint
from nova3r_ros.model.pose_rgb_learned import LearnedMatches
from nova3r_ros.model.pose_rgb_polish import PairMatches, polish_window, undo_joint

__all__ = ["ECC_ONLY", "PAIRS_ONLY", "RgbPoseConfig", "RgbViewPoses", "dominant_plane",
           "point_depth", "refine_rgb_views"]  # fmt: skip


@dataclass
class RgbViewPoses:
    """Refined poses of an RGB-only window and their checks (arrays have V entries).

    Attributes:
        T_ref_cam: (V, 4, 4) float64 camera-to-view-0 poses (the head's guess where not ok).
        ok: bool, the pose passed its checks (view 0 always).
        confidence: float in [0, 1]; 0 where not ok.
        inliers: E inliers of the pair that placed the view (0 where none).
        inlier_share: their share of that pair's matches.
        anchor: the view it was placed from (-1: none; view 0 itself: 0).
        scale_from_points: its translation length came from the decoded points.
        time_s: seconds spent.
        joint_kept: the joint refinement (step 5) ran and passed its check.
        views_put_back: views put back after it (step 6) in the kept result.
        learned_pairs: view pairs tried whose learned matches stood in for SIFT's (-1: no
            matcher given).
        polished: the poses were polished on the learned matches and kept
            (:mod:`.pose_rgb_polish`).
        planar_twins: pairs tried whose essential-matrix pose gave way to its planar twin
            (:func:`.pose_rgb_epipolar.planar_twin`).
        learned_plane_views: views no pair placed that a plane pose of their learned
            matches placed last (:mod:`.pose_rgb_fallback`).
        joint_undone: the joint step's result gave way to the poses before it, polished
            alike, which explain clearly more matches (step 7).

    """

    T_ref_cam: np.ndarray
    ok: np.ndarray
    confidence: np.ndarray
    inliers: np.ndarray
    inlier_share: np.ndarray
    anchor: np.ndarray
    scale_from_points: np.ndarray
    time_s: float = 0.0
    joint_kept: bool = False
    views_put_back: int = 0
    learned_pairs: int = -1
    polished: bool = False
    planar_twins: int = 0
    learned_plane_views: int = 0
    joint_undone: bool = False

    def stats(self) -> dict[str, float]:
        """Return flat numbers for ``Reconstruction.stats`` (keys as :mod:`.pose_views`)."""
        out = {"views_refined": float(self.ok[1:].sum()),
               "views_pose_failed": float((~self.ok).sum()), "pose_refine_s": self.time_s,
               "pose_rgb": 1.0, "pose_joint_kept": float(self.joint_kept),
               "pose_views_put_back": float(self.views_put_back),
               "pose_planar_twins": float(self.planar_twins),
               "pose_learned_plane_views": float(self.learned_plane_views)}  # fmt: skip
        if self.learned_pairs >= 0:
            out["pose_learned_pairs"] = float(self.learned_pairs)
            out["pose_polished"] = float(self.polished)
            out["pose_joint_undone"] = float(self.joint_undone)
        for name in ("confidence", "ok", "inlier_share", "inliers"):
            for i, x in enumerate(getattr(self, name)):
                out[f"pose_{name}_{i}"] = float(x)
        return out


@one_blas_thread
def refine_rgb_views(
    T_ref_head: np.ndarray,
    images: list[np.ndarray],
    K: np.ndarray,
    points: np.ndarray | None = None,
    config: RgbPoseConfig | None = None,
    matcher=None,
) -> RgbViewPoses:
    """Place each view by feature matches, scaled by the decoded points (module docstring).

    Args:
        T_ref_head: (V, 4, 4) camera head's camera-to-view-0 poses, normalised scale.
        images: V HxWx3 uint8 RGB images.
        K: (V, 3, 3) intrinsics at the images' size.
        points: (M, 3) decoded points in view 0's frame, same scale (None: head lengths).
        config: :class:`RgbPoseConfig` (defaults if None).
        matcher: a learned :class:`~nova3r_ros.model.matcher.MatchNet`, or None: each
            pair's essential matrix is also fitted to its matches, and where that has more
            inliers than SIFT's it stands for the pair's matches (start, checks, scale).

    Returns:
        :class:`RgbViewPoses`.

    """
    t0 = time.perf_counter()
    cfg = config or RgbPoseConfig()
    V = len(T_ref_head)
    if V == 2 and cfg.direct_iters and cfg.pair_direct_iters:
        cfg = replace(cfg, direct_iters=cfg.pair_direct_iters)
    if V == 2 and cfg.pair_joint_prior_weight is not None:
        cfg = replace(cfg, joint_prior_weight=cfg.pair_joint_prior_weight)
    if V >= 3 and cfg.joint_iters and cfg.multi_joint_iters:
        cfg = replace(cfg, joint_iters=cfg.multi_joint_iters)
    K = np.asarray(K, np.float64)
    head = np.asarray(T_ref_head, np.float64)
    out = head.copy()
    ok = np.zeros(V, bool)
    ok[0] = True
    n_in, share = np.zeros(V), np.zeros(V)
    anchor, from_pts = np.full(V, -1), np.zeros(V, bool)
    n_in[0], share[0], anchor[0] = np.inf, 1.0, 0
    learned = None if matcher is None else LearnedMatches(matcher, images, K)
    if learned is not None:
        learned.describe_all()  # first: torch's threads run alone
    feats = thread_map(lambda im: sift_features(im, cfg.max_width, cfg.min_width,
                                                cfg.n_features, cfg.contrast), images)  # fmt: skip
    f_ecc = min(1.0, cfg.ecc_width / images[0].shape[1])
    S = np.diag([f_ecc, f_ecc, 1.0])
    greys = [cv2.resize(cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY), None,
                        fx=f_ecc, fy=f_ecc, interpolation=cv2.INTER_AREA).astype(np.float32)
             for im in images]  # fmt: skip
    plane = None if points is None else dominant_plane(points)
    cache: dict[tuple[int, int], np.ndarray] = {}

    def sift_matches(a: int, b: int) -> np.ndarray:
        """Return the ordered pair's ratio-test matches (:func:`match`), computed once."""
        if (a, b) not in cache:
            cache[(a, b)] = match(feats[a][1], feats[b][1], cfg.ratio)
        return cache[(a, b)]

    tried = np.zeros((V, V), bool)  # (b, a): the pair was tried with a placed
    edges = {}  # (a, b): (score, T_b_a) of every pair that aligned
    kept, put_back = False, 0
    twins = [0]  # pairs whose E pose gave way to its planar twin (_place_pair counts)
    passes = [(b, cfg) for b in [*range(1, V), *range(1, V)]]  # 2nd: from later views too
    if learned is not None and cfg.learned_fallback_min_inliers:  # 3rd: weaker learned E
        weak = replace(cfg, learned_min_inliers=cfg.learned_fallback_min_inliers)
        passes += [(b, weak) for b in range(1, V)]

    def place(b, a, T_b_a, k, s, by_plane) -> None:
        """Place view b from view a (``T_b_a``: b in a), with its support."""
        out[b] = out[a] @ np.linalg.inv(T_b_a)
        ok[b], n_in[b], share[b], anchor[b], from_pts[b] = True, k, s, a, by_plane

    for b, pass_cfg in passes:
        best = None
        fallback = pass_cfg is not cfg  # tries the pairs tried before again
        for a in np.flatnonzero(ok & (~tried[b] | fallback)) if not ok[b] else []:
            tried[b, a] = True
            cand = _place_pair(a, b, head, out, feats, greys, S, K, plane, points, pass_cfg,
                               learned, sift_matches, twins)  # fmt: skip
            if cand is not None:
                edges[(int(a), b)] = cand[0], cand[2]
                best = cand if best is None or cand[0] > best[0] else best
        if best is None:
            continue
        place(b, *best[1:])
    by_learned_plane = 0  # last: views no pair placed, by a plane pose of learned matches
    if learned is not None and cfg.learned_plane_min_share and plane is not None:
        for b in np.flatnonzero(~ok):
            found = place_by_learned_plane(b, ok, out, head, learned, plane, points, greys, S,
                                           K, cfg)  # fmt: skip
            if found is not None:
                a, T_b_a, k, s = found
                edges[(a, int(b))] = min(1.0, k / (5 * cfg.min_inliers)), T_b_a
                place(b, a, T_b_a, k, s, True)
                by_learned_plane += 1
    if V >= 3 and cfg.consistency_deg > 0:
        out, anchor = consistent_tree(edges, out, anchor, cfg.consistency_deg)
    placed = ok.sum() >= max(2, cfg.joint_min_views)
    before_joint = out
    if cfg.joint_iters and placed and plane is not None and plane[2] >= cfg.min_plane_share:
        out, kept, put_back = _joint(out, ok, feats, greys, S, K, plane, points, edges, cfg,
                                     sift_matches, learned)  # fmt: skip
    polished = undone = False
    if learned is not None and cfg.polish_scales_px and ok.sum() >= 2 and plane is not None:
        Ks = np.array([S @ k for k in K])
        out, polished = polish_window(out, ok, learned, plane, greys, Ks, points, cfg)
        if kept and V >= 3 and cfg.joint_undo_gain > 0:  # step 7
            sift = [PairMatches(a, b, normalise(feats[a][0][m[:, 0]], K[a]),
                                normalise(feats[b][0][m[:, 1]], K[b]),
                                float(np.mean([K[a][0, 0], K[a][1, 1]])))
                    for a, b in itertools.combinations(np.flatnonzero(ok).tolist(), 2)
                    if len(m := sift_matches(a, b))]  # fmt: skip
            out, polished, undone = undo_joint((out, polished), before_joint, ok, learned, sift,
                                               plane, greys, Ks, points, cfg)  # fmt: skip
    conf = np.where(ok, share * np.minimum(1.0, n_in / (5 * cfg.min_inliers)), 0.0)
    conf[0] = 1.0
    n_in[0] = 0.0
    return RgbViewPoses(out, ok, conf, n_in, share, anchor, from_pts, time.perf_counter() - t0,
                        kept, put_back, -1 if learned is None else learned.stood_in,
                        polished, twins[0], by_learned_plane, undone)  # fmt: skip


def _place_pair(a, b, head, out, feats, greys, S, K, plane, points, cfg, learned, sift_matches,
                twins):  # fmt: skip
    """Pose of view b in view a (``x_b = R x_a + t``, model scale) and its support, or None.

    Returns (score, a, T_b_a, inliers, inlier share, placed by the plane homography).
    ``twins``: a one-item list, raised by one where the E pose gives way to its twin.
    """
    T_head = np.linalg.inv(head[b]) @ head[a]
    length = float(np.linalg.norm(T_head[:3, 3]))
    focal = float(np.mean([K[a][0, 0], K[a][1, 1]]))  # px per normalised unit
    thr = cfg.threshold_px / focal
    m = sift_matches(int(a), int(b))
    px_a = feats[a][0][m[:, 0]]
    x_a = normalise(px_a, K[a])
    x_b = normalise(feats[b][0][m[:, 1]], K[b])
    pose = supported_pair_pose(x_a, x_b, T_head, thr, cfg)
    has_plane = plane is not None and plane[2] >= cfg.min_plane_share
    n_a = out[a][:3, :3].T @ plane[0] if has_plane else None  # tells planar twins apart
    if learned is not None:  # the learned matches stand in where their E is better supported
        l_px, l_a, l_b, l_thr = learned(a, b)
        l_pose = supported_pair_pose(l_a, l_b, T_head, l_thr, cfg)
        k_l = 0 if l_pose is None else int(l_pose.inliers.sum())
        k_s = 0 if pose is None else int(pose.inliers.sum())
        sift_holds = 0 < cfg.learned_max_sift_inliers <= k_s  # SIFT's E is well supported
        if k_l >= cfg.learned_min_inliers and k_l > k_s and not sift_holds:
            pose, px_a, x_a, x_b, thr = l_pose, l_px, l_a, l_b, l_thr
            learned.stood_in += 1
    if pose is not None and has_plane:
        pose, swapped = planar_twin(pose, x_a, x_b, thr, n_a, T_head[:3, :3], cfg)
        twins[0] += int(swapped)
    # 1. the dominant plane's homography, aligned from the head's guess and from E's pose;
    # failing those, from the wider search's starts about the head's guess
    if has_plane:
        d_a = plane[1] - plane[0] @ out[a][:3, 3]
        inits = [T_head] + ([se3(pose.R, pose.t * length)] if pose is not None else [])
        extra = (*direct_inputs(cfg, out[a], points), cfg.direct_min_ecc)
        # a pair whose E pose is well supported skips the wider search: its E pose was a
        # start, and a plane pose must explain its matches anyway
        confident_e = pose is not None and pose.inliers.sum() >= cfg.wide_skip_inliers
        best = align_plane(a, b, inits, n_a, d_a, T_head, greys, S, K, cfg.min_ecc,
                            cfg.max_disagree_deg, *extra)  # fmt: skip
        re_thr, n_best = cfg.recheck_px / focal, 0
        weak = best is not None and best[2] < cfg.recheck_below_ecc and cfg.recheck_share > 0
        if weak:  # the matches are counted only for a low correlation
            n_best = explained(best[0], best[1], x_a, x_b, re_thr)
            weak = n_best < cfg.recheck_share * len(x_a)
        if best is None and d_a > 0 and not confident_e:
            wide = orbit_hypotheses(T_head, n_a, d_a, cfg.wide_orbit_deg, cfg.wide_roll_deg)
            best = align_plane(a, b, wide, n_a, d_a, T_head, greys, S, K, cfg.wide_min_ecc,
                                cfg.wide_max_disagree_deg, *extra)  # fmt: skip
        elif weak and d_a > 0 and not confident_e:  # gives way to a start explaining more
            wide = orbit_hypotheses(T_head, n_a, d_a, cfg.recheck_orbit_deg, ())
            best = _recheck(best, n_best, a, b, wide, n_a, d_a, T_head, greys, S, K, x_a, x_b,
                            re_thr, extra, cfg)  # fmt: skip
        if best is not None and pose is not None:  # the matches' check of the plane pose
            R, t = best[0], best[1]
            k_p = explained(R, t, x_a, x_b, thr)
            if k_p < cfg.min_match_share * int(pose.inliers.sum()):
                best = None
        if best is not None:
            R, t, rho, H = best
            g = guided_matches(feats[a][0], feats[a][1], feats[b][0], feats[b][1], H,
                               cfg.guided_px)  # fmt: skip
            return 1.0 + rho, a, se3(R, t), len(g), rho, True
    # 2. the essential matrix alone; the length from the decoded points' depth
    if pose is None:
        return None
    k = int(pose.inliers.sum())
    by_points = False
    if points is not None and len(points):
        inl = pose.inliers
        z_tri = triangulate(pose.R, pose.t, x_a[inl], x_b[inl])[:, 2]
        z_pts = point_depth(points, out[a], K[a], px_a[inl], cfg.grid_px)
        good = np.isfinite(z_pts) & (z_tri > 0) & np.isfinite(z_tri)
        if good.sum() >= cfg.min_scale_points:
            length, by_points = float(np.median(z_pts[good] / z_tri[good])), True
    score = min(1.0, k / (5 * cfg.min_inliers))
    return score, a, se3(pose.R, pose.t * length), k, float(pose.inliers.mean()), by_points


def _recheck(best, n_best, a, b, starts, n_a, d_a, T_head, greys, S, K, x_a, x_b, thr, extra,
             cfg):  # fmt: skip
    """Return ``best`` or the alignment from ``starts`` that explains clearly more matches.

    Each start is aligned on its own (:func:`.pose_rgb_align.plane_alignments`, with the
    wider search's checks); the one explaining the most matches (Sampson distance under
    ``thr``) replaces ``best``, which explains ``n_best``, where it explains at least
    ``recheck_gain * n_best + recheck_margin``.
    """
    found, need = best, cfg.recheck_gain * n_best + cfg.recheck_margin
    for alt in plane_alignments(a, b, starts, n_a, d_a, T_head, greys, S, K, cfg.wide_min_ecc,
                                cfg.wide_max_disagree_deg, *extra):  # fmt: skip
        k = -1 if alt is None else explained(alt[0], alt[1], x_a, x_b, thr)
        if k >= need:
            found, need = alt, k + 1  # the first of equals
    return found


def _joint(P, ok, feats, greys, S, K, plane, points, edges, cfg, sift_matches, learned=None):
    """Return (poses, kept, views put back): the poses refined jointly with the normal.

    Steps 5 and 6. ``P`` itself (kept False) where the refinement loses the pairs'
    matches (SIFT's; with 2 views placed, a learned matcher's too where one is given), or,
    with 2 views, where their poses explain ``joint_skip_matches`` feature matches (not
    run).
    """
    checks = []  # (a, b, x_a, x_b, threshold, matches P explains, least, ratio kept) per pair
    for a, b in itertools.combinations(np.flatnonzero(ok), 2):
        m = sift_matches(int(a), int(b))
        if len(m) >= cfg.min_inliers:
            x_a, x_b = normalise(feats[a][0][m[:, 0]], K[a]), normalise(feats[b][0][m[:, 1]], K[b])
            thr = cfg.threshold_px / float(np.mean([K[a][0, 0], K[a][1, 1]]))
            checks.append((a, b, x_a, x_b, thr, explained(*relative_pose(P, a, b), x_a, x_b, thr),
                           cfg.min_inliers, cfg.joint_min_match_ratio))  # fmt: skip
    if ok.sum() == 2 and any(c[5] >= cfg.joint_skip_matches for c in checks):
        return P, False, 0
    if learned is not None and cfg.pair_learned_check_min > 0 and ok.sum() == 2:
        ratio = cfg.pair_learned_check_ratio
        ratio = cfg.joint_min_match_ratio if ratio is None else ratio
        for a, b in itertools.combinations(np.flatnonzero(ok), 2):
            _, x_a, x_b, thr = learned(int(a), int(b))
            k = explained(*relative_pose(P, a, b), x_a, x_b, thr)
            checks.append((a, b, x_a, x_b, thr, k, cfg.pair_learned_check_min, ratio))
    Ks = np.array([S @ k for k in K])
    jcfg = JointConfig(tuple(cfg.joint_iters), cfg.joint_prior_weight,
                       object_cells=cfg.object_cells,
                       object_margin=cfg.object_margin)  # fmt: skip
    res = refine_joint(P, greys, Ks, plane[:2], points, ok, jcfg)
    if len(P) >= 3 and cfg.multi_joint_alt_iters:  # a second descent; the lower loss wins
        alt = refine_joint(P, greys, Ks, plane[:2], points, ok,
                           replace(jcfg, iters=tuple(cfg.multi_joint_alt_iters)))  # fmt: skip
        score = WindowLoss(greys, Ks, points, ok, jcfg)
        here = score(res.T_ref_cam, (res.normal, plane[1]))
        there = score(alt.T_ref_cam, (alt.normal, plane[1]))
        res = alt if there[1] >= here[1] and there[0] < here[0] else res
    refined = (res.normal, plane[1])
    T, moved = _reseat(res.T_ref_cam, P, edges, ok, greys, Ks, refined, points, jcfg,
                       cfg.reseat_rounds)  # fmt: skip
    if cfg.reseat_polish_iters and moved:
        polish = replace(jcfg, iters=tuple(cfg.reseat_polish_iters))
        T = refine_joint(T, greys, Ks, refined, points, ok, polish).T_ref_cam
    for a, b, x_a, x_b, thr, before, least, ratio in checks:
        after = explained(*relative_pose(T, a, b), x_a, x_b, thr)
        if before >= least and after < ratio * before:
            return P, False, 0
    return T, True, moved


def _reseat(T, P, edges, ok, greys, K, plane, points, jcfg, rounds):
    """Return (poses, views put back): ``T`` with views put back where the images fit better.

    The joint step descends from the pairwise placement ``P`` coarse to fine and can carry
    a view (most often the one seen from the widest angle) into a worse minimum of its own
    loss (in synthetic windows the true poses often score lower than where it ends). Each
    round tries, for every placed view, its pose in ``P`` and its placement through each
    aligned pair (``edges``) from the other view's current pose, and keeps the one change
    that lowers the mean pair loss at full size most (over the refined plane, no pair
    lost; :class:`.pose_rgb_joint.WindowLoss`); up to ``rounds`` rounds.
    """
    score = WindowLoss(greys, K, points, ok, jcfg)
    best, count = score(T, plane)
    through = pair_placements(edges)
    moved = set()
    for _ in range(rounds):
        found = None
        for v in np.flatnonzero(ok[1:]) + 1:
            starts = [P[v]] + [T[a] @ np.linalg.inv(T_va) for a, T_va, _ in through.get(v, [])
                               if ok[a]]  # fmt: skip
            for pose in starts:
                if np.allclose(pose, T[v]):
                    continue
                trial = T.copy()
                trial[v] = pose
                loss, n = score(trial, plane)
                if n >= count and loss < best and (found is None or loss < found[0]):
                    found = loss, trial, int(v)
        if found is None:
            break
        best, T = found[:2]
        moved.add(found[2])
    return T, len(moved)

"""Settings of the RGB-only pose refinement (:func:`.pose_rgb.refine_rgb_views`).

:class:`RgbPoseConfig` holds every setting the steps of :mod:`.pose_rgb` name (its module
docstring describes the steps); :data:`ECC_ONLY` and :data:`PAIRS_ONLY` are earlier
settings that RGB-D placement, the benchmark and the A/B script use.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ECC_ONLY", "PAIRS_ONLY", "RgbPoseConfig"]


@dataclass(frozen=True)
class RgbPoseConfig:
    """Settings of :func:`.pose_rgb.refine_rgb_views` (see that module's docstring).

    Attributes:
        max_width: px; wider images are downscaled for the features; min_width: narrower
            ones are upscaled by an integer factor to at least this (small synthetic views).
        n_features: SIFT keypoints kept per image; contrast: SIFT's contrast threshold.
        ratio: Lowe's ratio test (of the unguided matches).
        guided_px: radius around the plane homography's prediction of guided matches.
        ecc_levels: pyramid levels of the homography alignment; min_ecc: its correlation
            below which the aligned homography is not used.
        threshold_px: RANSAC and inlier threshold (Sampson distance, px at full size).
        min_inliers: fewer inliers than this and the pair cannot place a view.
        max_disagree_deg: rotation difference to the head above which a pair needs
            ``min_share_disagree`` of its matches as inliers.
        min_scale_points: triangulated inliers with a decoded depth needed for the scale.
        grid_px: z-buffer cell size (px at full size) for the decoded points' depth.
        wide_orbit_deg, wide_roll_deg: the wider search's starting poses (the head's guess
            orbited about the plane's normal, rolled about the optical axis) where no start
            aligned; wide_min_ecc, wide_max_disagree_deg: its correlation needed and its
            rotation difference to the head allowed; wide_skip_inliers: a pair whose
            essential matrix has this many inliers skips it (E's pose was a start).
        recheck_share, recheck_px: a plane alignment that explains (Sampson distance under
            ``recheck_px``, px at full size) fewer than this share of the pair's feature
            matches and correlates below ``recheck_below_ecc`` is weak (share 0: none
            is): the head's guess orbited about the plane's normal by
            ``recheck_orbit_deg`` is aligned too, with the wider search's checks, and
            recheck_gain, recheck_margin: the alignment of those explaining the most
            matches replaces the weak one where it explains at least ``recheck_gain``
            times as many plus ``recheck_margin`` (a start that ended in a poor minimum:
            synthetic 2-view windows, correlation 0.65 against 0.96 there).
        consistency_deg: rotation difference within which a pair agrees with the views'
            placement (step 4; 0 turns the vote off).
        direct_iters: Gauss-Newton iterations per level (coarsest first) of the direct
            6-DoF alignment over the decoded plane and objects that precedes the ECC
            homography (:mod:`.pose_rgb_direct`); empty: ECC alone, on ``ecc_levels``.
        pair_direct_iters: the same in a window of 2 views, where no other view outvotes
            a placement slid along the plane's stripes or checks (one coarser level);
            empty: ``direct_iters``.
        object_cells, object_margin: the direct alignment's object grid (cells across the
            image) and the share by which a point must be nearer than the plane.
        polish_levels: ECC levels (finest first) after the direct alignment.
        direct_min_ecc: the correlation a direct alignment needs where the ECC after it
            does not keep the decoded plane's normal (a start stuck off the plane's fit).
        min_match_share: a plane-placed pose must explain (Sampson distance under
            ``threshold_px``) at least this share of as many matches as the essential
            matrix's inliers, where the pair has an essential matrix.
        joint_iters: iterations per level (coarsest first) of the joint refinement of
            all placed views and the plane's normal (step 5, :mod:`.pose_rgb_joint`);
            empty: off. multi_joint_iters: the same in a window of 3 or more views,
            whose images over-determine the normal (one coarser level); empty:
            ``joint_iters``. joint_min_views: placed views it needs (at least 2).
        joint_prior_weight: weight of the prior holding the refined normal near the
            decoded one (:class:`.pose_rgb_joint.JointConfig`); pair_joint_prior_weight:
            the same in a window of 2 views (None: ``joint_prior_weight``): one pair's
            images hold the normal only weakly, and a prior near the decoded normal (a
            few degrees off) tilts the pair with it.
        joint_skip_matches: with 2 views placed (one pair: the normal is not
            over-determined) it does not run where their poses explain this many feature
            matches (the matches fix the pair; textured real images).
        joint_min_match_ratio: the joint refinement is kept only where every pair of
            placed views whose poses explained ``min_inliers`` or more matches before
            explains at least this share of them after (real images, where the decoded
            plane can be wrong and the matches are many).
        reseat_rounds: after the joint refinement, rounds of putting one view back at its
            pairwise placement or its placement through another aligned pair, where that
            lowers the joint loss at full size (0: off); reseat_polish_iters: where a
            view was put back, the joint refinement again from there on these levels
            (finest last), about the refined normal; empty: none.
        multi_joint_alt_iters: in a window of 3 or more views the joint refinement also
            descends on these levels, and the result with the lower loss at full size is
            kept (before views are put back); empty: one descent.
        learned_min_inliers: with a learned matcher (:mod:`.pose_rgb_learned`), the
            inliers its essential matrix needs to stand for the pair's matches (fewer:
            SIFT's alone, as without it).
        learned_max_sift_inliers: but not where SIFT's essential matrix has this many
            inliers or more (0: no limit): on real images the learned matches (cell
            precision, a wider threshold) can count several times SIFT's inliers with the
            translation 20-30 degrees off where SIFT's is within 5-7.
        pair_learned_check_min: with a learned matcher and 2 views placed, the joint
            refinement must also keep ``joint_min_match_ratio`` of the learned matches
            the pair's poses explained before it, where they explained at least this
            many (0: not checked). On small synthetic views its matches are fewer but more
            often right than SIFT's, and one pair's images alone can slide the joint step
            12 degrees off, losing half of them; with more views the others outvote that
            (there the check cost more windows than it saved, on tuning seeds).
        pair_learned_check_ratio: the share of those learned matches the joint result must
            keep (None: ``joint_min_match_ratio``).
        polish_scales_px: with a learned matcher, the placed views' poses are polished
            last on the learned matches of every placed pair, the Cauchy scales (px) in
            turn (:mod:`.pose_rgb_polish`); empty: not polished.
        polish_min_gain: the polish is kept where it explains this share more matches,
            and at least ``polish_min_total`` in all.
        polish_max_loss_ratio: and where its poses' photometric loss over the polished
            plane (:class:`.pose_rgb_joint.WindowLoss`) is at most this times the loss
            before over the decoded plane, with no pair lost (0: not checked).
        joint_undo_gain: with a learned matcher, in a window of 3 or more views where the
            joint refinement (steps 5-6) was kept, the poses from before it are polished
            too, and they replace its polished result where they explain this factor
            more matches: the product of the two ratios of the learned and of the SIFT
            matches explained over the placed pairs (each count plus one;
            :func:`.pose_rgb_polish.undo_joint`); 0: off. joint_undo_min_deg: and where
            some view's rotation differs between the two by at least this (degrees).
        twin_min_gain_deg, twin_max_normal_deg, twin_min_plane_share, twin_min_share,
        twin_on_plane_deg:
            a pair's essential-matrix pose gives way to its planar twin where the decoded
            plane's normal prefers the twin (:func:`.pose_rgb_epipolar.planar_twin`);
            ``twin_min_gain_deg`` 0: off.
        learned_fallback_min_inliers: with a learned matcher, a view that no pair placed
            is tried once more from every placed view with ``learned_min_inliers`` lowered
            to this (0: not).
        learned_plane_min_share, learned_plane_min_matches: with a learned matcher and a
            decoded plane (any share of the points), a view that no pair placed is placed
            last by a plane pose that explains this share of a pair's learned matches, and
            at least this many (:mod:`.pose_rgb_fallback`; share 0: off);
            learned_plane_min_fit: the share of them the homography candidate must fit.

    """

    max_width: int = 512
    min_width: int = 512
    n_features: int = 2000
    contrast: float = 0.01
    ratio: float = 0.8
    guided_px: float = 12.0
    ecc_width: int = 320
    ecc_levels: int = 3
    min_plane_share: float = 0.25
    min_ecc: float = 0.6
    threshold_px: float = 1.0
    min_inliers: int = 20
    max_disagree_deg: float = 35.0
    min_share_disagree: float = 0.5
    min_scale_points: int = 8
    grid_px: float = 8.0
    wide_orbit_deg: tuple[float, ...] = (-30.0, -15.0, 15.0, 30.0)
    wide_roll_deg: tuple[float, ...] = (-15.0, 15.0)
    wide_min_ecc: float = 0.7
    wide_max_disagree_deg: float = 50.0
    wide_skip_inliers: int = 40
    recheck_share: float = 0.25
    recheck_px: float = 2.0
    recheck_below_ecc: float = 0.85
    recheck_gain: float = 1.5
    recheck_margin: int = 2
    recheck_orbit_deg: tuple[float, ...] = (-15.0, 15.0)
    consistency_deg: float = 5.0
    direct_iters: tuple[int, ...] = (30, 20, 10)
    pair_direct_iters: tuple[int, ...] = (30, 30, 20, 10)
    object_cells: int = 32
    object_margin: float = 0.05
    polish_levels: int = 2
    direct_min_ecc: float = 0.9
    min_match_share: float = 0.7
    joint_iters: tuple[int, ...] = (20, 10, 10)
    multi_joint_iters: tuple[int, ...] = (20, 20, 10, 10)
    joint_prior_weight: float = 0.02
    pair_joint_prior_weight: float | None = 0.005
    joint_min_match_ratio: float = 0.5
    joint_min_views: int = 2
    joint_skip_matches: int = 40
    reseat_rounds: int = 6
    reseat_polish_iters: tuple[int, ...] = (10, 10)
    multi_joint_alt_iters: tuple[int, ...] = ()
    learned_min_inliers: int = 50
    learned_max_sift_inliers: int = 100
    pair_learned_check_min: int = 8
    pair_learned_check_ratio: float | None = None
    polish_scales_px: tuple[float, ...] = (16.0, 8.0, 4.0, 2.0)
    polish_min_gain: float = 0.15
    polish_min_total: int = 0
    polish_max_loss_ratio: float = 1.0
    joint_undo_gain: float = 1.1
    joint_undo_min_deg: float = 3.0
    twin_min_gain_deg: float = 10.0
    twin_max_normal_deg: float = 15.0
    twin_min_plane_share: float = 0.5
    twin_min_share: float = 0.8
    twin_on_plane_deg: float = 5.0
    learned_fallback_min_inliers: int = 0
    learned_plane_min_share: float = 0.75
    learned_plane_min_matches: int = 15
    learned_plane_min_fit: float = 0.4


#: The settings before the direct alignment (session 19): the plane homography by ECC alone
#: on every level, no check against the essential matrix's matches, the wider search for
#: every pair that needs it, no second look at weak alignments, no joint refinement. RGB-D
#: placement (:mod:`.pose_rgbd`) uses them; the benchmark and the A/B script compare
#: against them.
ECC_ONLY = RgbPoseConfig(direct_iters=(), min_match_share=0.0, wide_skip_inliers=2**31,
                         recheck_share=0.0, joint_iters=(), twin_min_gain_deg=0.0)  # fmt: skip

#: The pairwise placement alone, without the joint refinement (session 19's settings).
PAIRS_ONLY = RgbPoseConfig(joint_iters=())

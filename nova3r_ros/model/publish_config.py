"""The published cloud's options: :class:`PublishConfig`.

What each option does is in :mod:`nova3r_ros.model.published_cloud`. Every distance
is in metres; each option's attribute docstring says how its default was chosen on
validation (synthetic validation seeds or the 7-Scenes dev frames).
"""

from __future__ import annotations

from dataclasses import dataclass

from nova3r_ros.core.checks import nonnegative_fields
from nova3r_ros.model.plane_completion import PlaneConfig
from nova3r_ros.model.silhouette_sides import SilhouetteConfig
from nova3r_ros.pipeline import DEFAULT_MIN_CONFIDENCE


@dataclass(frozen=True)
class PublishConfig:
    """Options of :func:`~nova3r_ros.model.published_cloud.publish` (metres; see that module).

    Attributes:
        spacing_m: spacing of the observed points (``output_spacing``).
        min_confidence: completed points below this confidence are not published.
        edge_px: pixels near a depth edge do not count as seen free space.
        gate_near_m, gate_min_agreement, gate_min_near_share, gate_max_free: the gate.
            ``gate_min_near_share`` 0.15 was chosen on validation seeds 1,500,000+
            (docs/eval/session4/calibration_windows.json): every tabletop window had at
            least 0.21 of its decoded points near an observed surface, every room window
            (whose completions were at most 35 % right) at most 0.09.
        plane_closing_m, plane_reach_m: gaps in an observed plane narrower than about
            twice ``plane_closing_m`` are filled up to ``plane_reach_m`` from the observed
            plane (:class:`~nova3r_ros.model.plane_completion.PlaneConfig`); closing 0 =
            off. Chosen on the 7-Scenes dev frames, 1 view, observed points plus planes
            (closing / reach: completed precision@5cm, hidden recall@5cm): 0.3 / 0.075 m:
            0.78, 0.32; 0.6 / 0.1 m: 0.71, 0.42; 0.6 / 0.15 m: 0.62, 0.44; 1.0 / 0.25 m:
            0.55, 0.48.
        plane_max_oblique_deg: a plane more than this many degrees off parallel or
            perpendicular to the window's largest plane is not completed, nor used for
            snapping (:class:`~nova3r_ros.model.plane_completion.PlaneConfig`
            ``max_oblique_deg``; 45 = every plane). 10 chosen on the 7-Scenes dev frames
            (docs/eval/session17): 8 windows of 1 / 2 / 4 views, hidden recall@5cm /
            completed precision@5cm 0.440 / 0.736, 0.461 / 0.729, 0.381 / 0.657 with every
            plane, 0.433 / 0.775, 0.458 / 0.792, 0.414 / 0.707 at 10 degrees.
        hidden_min_probability: with a hidden-surface head (:mod:`~nova3r_ros.model.
            hidden_head`), its points of at least this confidence (existence probability
            times the probability that the depth is within 5 cm) are published in a gated
            window; None = the threshold stored with the head (chosen on validation).
        hidden_single_view_min_probability: the same for a window of one view (whose
            confidences are the head's own, not blended by the consensus); None =
            ``hidden_min_probability`` if set, else the head's single-view threshold
            (:func:`~nova3r_ros.model.hidden_published.threshold`).
        hidden_consensus: with several views, how much of each of the head's points'
            confidence comes from the other views' heads (:mod:`~nova3r_ros.model.
            hidden_consensus`): 0 = its own view's alone, 1 = the mean over the views
            that can judge it. 1 chosen on the 7-Scenes dev frames with the head's
            threshold (0.35) by issue 11's rule (docs/eval/session34): on the 2-core EPYC,
            hidden recall@5cm / completed precision@5cm at 2 / 4 views, 8 windows 0.545 /
            0.784 and 0.504 / 0.727 (0.475 / 0.731 and 0.513 / 0.708 without it), 24
            windows 0.515 / 0.745 and 0.492 / 0.717 (0.521 / 0.755 and 0.483 / 0.704).
            With one view it changes nothing.
        hidden_snap_subcells: the head's layers snapped onto a plane (below) placed at
            ``N x N`` sub-cells per cell (each sub-cell's ray where it crosses the plane)
            behind a surface some view measured, one point per cell elsewhere
            (:mod:`~nova3r_ros.model.hidden_subcells`); 1 = one point per cell. 2 chosen on
            the 7-Scenes dev frames by issue 11's rule (docs/eval/session36; 2-core EPYC,
            hidden recall@5cm / completed precision@5cm at 1 / 2 / 4 views): 8 windows
            0.612 / 0.759, 0.595 / 0.812, 0.562 / 0.744 (0.562 / 0.728, 0.545 / 0.784,
            0.504 / 0.727 with 1), 24 windows 0.616 / 0.765, 0.574 / 0.781, 0.549 / 0.737
            (0.574 / 0.729, 0.515 / 0.745, 0.492 / 0.717); F@2cm 0.695 / 0.690 / 0.672
            (0.694 / 0.690 / 0.675) on 8 windows.
        hidden_snap_bounding_subcells: the same on a plane that bounds the observed scene
            (:func:`~nova3r_ros.model.hidden_planes.bounding_planes`: a floor, a wall) where
            it is more than ``hidden_snap_subcells``; 0 = as other planes. Off by default
            (docs/eval/session40; H200, 4,096 points, 6 steps): 4 raised hidden
            recall@5cm on validation rooms (seeds 1,500,000-1,500,049) from 0.526 to 0.580
            (1 view) and 0.379 to 0.469 (4 views), F@2cm by 0.010 / 0.004, but lowered the
            7-Scenes dev frames' F@2cm by 0.003-0.006 and raised their unjudged share from
            0.08-0.11 to 0.13-0.14.
        hidden_snap_existence, hidden_snap_tolerance: the head's layers whose existence
            probability is at least ``hidden_snap_existence`` and that one of the window's
            planes crosses within ``hidden_snap_tolerance`` times their depth are also
            published where the plane crosses, if that lies within
            ``hidden_snap_reach_m`` of the plane's observed points
            (:mod:`~nova3r_ros.model.hidden_planes`); tolerance 0 = off. 0.5 / 0.2 / 0.2 m
            chosen on the 7-Scenes dev frames (docs/eval/session14): the rule of issue 11
            over 34 settings on the H200 and 9 on the CPU; on 24 dev windows of 4 views
            (CPU) hidden recall@5cm 0.296 -> 0.392, completed precision@5cm 0.694 -> 0.682.
        hidden_snap_bounding_existence, hidden_snap_bounding_reach_m: the existence
            threshold and the reach (if longer than ``hidden_snap_reach_m``; 0 = the same;
            the points beyond the ordinary reach only behind a measured surface) for a
            plane that bounds the observed scene (:func:`~nova3r_ros.model.hidden_planes.
            bounding_planes`: the floor, a wall). 0.5 / 3 m chosen on the
            7-Scenes dev frames (docs/eval/session15): 8 windows ranked existence 0.3
            first under issue 11's rule, but on 24 windows of 4 views it measured completed
            precision@5cm 0.689 (hidden recall 0.417), 0.5 measured 0.704 (0.404) and
            the ordinary reach 0.687 (0.390).
        silhouette_depth_m: how far (m) the sides of occluders are continued behind their
            silhouettes (:class:`~nova3r_ros.model.silhouette_sides.SilhouetteConfig`
            ``depth_m``, points every ``spacing_m``); 0 = off, the default
            (docs/eval/session27): 0.08 m raised hidden recall@5cm on the 7-Scenes dev frames
            from 0.433 to 0.530 (1 view, 8 windows), but mostly by matching the TSDF
            reference's tails behind silhouettes, surfaces no frame measured; against the
            reference points some frame measured it adds 0.017 at equal F-scores, and on
            the synthetic room benchmark (exact ground truth) it lowers F@2cm by 0.003.
        open_hole_share: rule 5's share of the image (0 = off). Chosen on the synthetic
            validation tabletops (seeds 1,600,000-1,600,099, 4,096 points, 6 steps, H200;
            docs/eval/session38), F@1cm at 1 / 2 / 4 views: off 0.9368 / 0.9525 / 0.9590,
            0.15 0.9400 / 0.9558 / 0.9644, 0.25 0.9393 / 0.9557 / 0.9643, 0.4 0.9389 /
            0.9550 / 0.9638; and on the 7-Scenes dev frames, whose largest border-reaching
            hole covers under 0.10 of any frame (the rule never applies there): 0.25, not
            0.15, keeps a margin over real dropouts for 0.0007 of validation F@1cm.
        fusion_sigmas: the views' measurements of one surface are averaged into the
            observed points where they agree within this many sigmas of the depth noise
            (at least 1 cm; :mod:`~nova3r_ros.model.observed_fusion`); 0 = off (every
            view's pixels as they are: the ``observed_only`` baseline). 6 chosen on validation
            (docs/eval/session39, H200, 4,096 points, 6 steps): the published cloud's
            F@1cm on the validation tabletops (seeds 1,600,000-1,600,099) at 2 / 4 views
            0.9557 / 0.9643 off, 0.9556 / 0.9645 at 6, 0.9559 / 0.9648 at 12, and its
            F@2cm on validation rooms (seeds 1,500,000-1,500,049, 4 views) 0.4000 / 0.3991
            / 0.3980; the observed points alone on the 7-Scenes dev frames (2-core EPYC,
            8 windows) F@2cm 0.682 / 0.674 off, 0.690 / 0.690 at 3, 0.697 / 0.704 at 6,
            0.697 / 0.709 at 9, 0.698 / 0.710 at 12. 6 keeps most of the real gain and
            averages no two surfaces more than 3.4 cm apart at 2 m.
        voxel_min_probability: with a voxel completion head
            (:mod:`~nova3r_ros.model.voxel_completion`; none is shipped: ``nova3r eval
            --voxel-head DIR``), its cells of at least this occupancy probability are
            published in a gated window, under the plane points' rules; None = the
            head's own threshold.
        voxel_far_m: of those, only the points farther than this from every other
            published point (where they add a surface; 0 = all). 0.05 m: in session 41's
            prototype (docs/eval/session41, 7-Scenes dev frames, 1 view) this kept about
            two thirds of the hidden-recall gain and removed most of its cost at 2 cm.
        voxel_points_per_cell: points each completed cell gives (1, 5 or 9), spread a
            quarter of a cell along the surface of its neighbourhood
            (:mod:`~nova3r_ros.model.voxel_spread`): one point per 10 cm cell covers at
            most 0.76 of the validation rooms' hidden surface within 5 cm even with the
            true cells; 5 points 0.94 (docs/eval/session45).
        voxel_snap_m: a voxel point within this distance (m) of one of the window's
            planes (:func:`~nova3r_ros.model.plane_completion.complete_planes`' list: the
            floors, walls, table tops it fits) is moved onto the nearest such plane before
            the free-space rules; 0 = off (the default). Its points are right to about
            half a cell, a plane's points to its fit. 0.05 m (docs/eval/session46, 2-core
            EPYC): F@2cm on validation rooms +0.005 / +0.003 at 1 / 4 views, on the
            7-Scenes dev frames -0.0004 / +0.0005: no real gain, hence off.
        behind_cut_from_m, behind_cut_to_m: a gated window's completed points (planes, the
            hidden-surface head, sides, voxels; not the decoder's) that lie between these
            distances (m) behind a surface a view of the window measured are left out
            (:mod:`~nova3r_ros.model.behind_cut`: most often the inside of a cabinet, a
            counter or a box); off where ``to`` <= ``from``, the default (docs/eval/
            session44, 2-core EPYC, 4,096 points, 6 steps): 0.1-0.4 m raised F@2cm on the
            7-Scenes dev frames (24 windows, 1 / 2 / 4 views) 0.6998 / 0.7095 / 0.6941 ->
            0.7014 / 0.7119 / 0.6991 and completed precision@5cm by 0.01-0.04, but lowered
            hidden recall@5cm on the validation rooms (seeds 1,500,000-1,500,049) 0.526 ->
            0.488 (1 view) and 0.377 -> 0.346 (4 views) at F@2cm -0.002 / -0.0004: there the
            band holds floor behind furniture, and on objects the back of anything that deep.
        force_gate: publish the observed points only (the ``observed_only`` baseline).

    """

    spacing_m: float = 0.01
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    edge_px: int = 2
    gate_near_m: float = 0.10
    gate_min_agreement: float = 0.5
    gate_min_near_share: float = 0.15
    gate_max_free: float = 0.25
    plane_closing_m: float = 0.6
    plane_reach_m: float = 0.1
    plane_max_oblique_deg: float = 10.0
    hidden_min_probability: float | None = None
    hidden_single_view_min_probability: float | None = None
    hidden_consensus: float = 1.0
    hidden_snap_subcells: int = 2
    hidden_snap_bounding_subcells: int = 0
    hidden_snap_existence: float = 0.5
    hidden_snap_tolerance: float = 0.2
    hidden_snap_reach_m: float = 0.2
    hidden_snap_bounding_existence: float = 0.5
    hidden_snap_bounding_reach_m: float = 3.0
    silhouette_depth_m: float = 0.0
    open_hole_share: float = 0.25
    fusion_sigmas: float = 6.0
    voxel_min_probability: float | None = None
    voxel_far_m: float = 0.05
    voxel_points_per_cell: int = 5
    voxel_snap_m: float = 0.0
    behind_cut_from_m: float = 0.0
    behind_cut_to_m: float = 0.0
    force_gate: bool = False

    def __post_init__(self) -> None:
        names = (
            "spacing_m",
            "min_confidence",
            "gate_near_m",
            "gate_min_agreement",
            "gate_max_free",
            "gate_min_near_share",
            "plane_closing_m",
            "plane_reach_m",
            "plane_max_oblique_deg",
            "hidden_consensus",
            "hidden_snap_existence",
            "hidden_snap_tolerance",
            "hidden_snap_reach_m",
            "hidden_snap_bounding_existence",
            "hidden_snap_bounding_reach_m",
            "silhouette_depth_m",
            "open_hole_share",
            "fusion_sigmas",
            "voxel_far_m",
            "voxel_snap_m",
            "behind_cut_from_m",
            "behind_cut_to_m",
        )
        unit = ("min_confidence", "gate_min_agreement", "gate_max_free", "gate_min_near_share",
                "open_hole_share", "hidden_consensus", "hidden_snap_existence",
                "hidden_snap_tolerance", "hidden_snap_bounding_existence")  # fmt: skip
        for name in ("hidden_min_probability", "hidden_single_view_min_probability",
                     "voxel_min_probability"):  # fmt: skip
            if getattr(self, name) is not None:  # None: the head's own threshold
                names += (name,)
                unit += (name,)
        nonnegative_fields(self, names, "PublishConfig")
        if self.spacing_m <= 0:
            raise ValueError("PublishConfig.spacing_m must be > 0")
        for name in unit:
            if getattr(self, name) > 1:
                raise ValueError(f"PublishConfig.{name} must be in [0, 1]")
        if self.edge_px < 0:
            raise ValueError("PublishConfig.edge_px must be >= 0")
        if type(self.hidden_snap_subcells) is not int or not 1 <= self.hidden_snap_subcells <= 8:
            raise ValueError("PublishConfig.hidden_snap_subcells must be an integer in [1, 8]")
        sub = self.hidden_snap_bounding_subcells
        if type(sub) is not int or not 0 <= sub <= 8:
            raise ValueError("PublishConfig.hidden_snap_bounding_subcells must be an integer "
                             "in [0, 8]")  # fmt: skip
        if self.silhouette_depth_m > 1:
            raise ValueError("PublishConfig.silhouette_depth_m must be in [0, 1] m")
        if self.voxel_far_m > 1:
            raise ValueError("PublishConfig.voxel_far_m must be in [0, 1] m")
        if self.voxel_snap_m > 0.2:
            raise ValueError("PublishConfig.voxel_snap_m must be in [0, 0.2] m")
        per_cell = self.voxel_points_per_cell
        if type(per_cell) is not int or per_cell not in (1, 5, 9):
            raise ValueError("PublishConfig.voxel_points_per_cell must be 1, 5 or 9")
        if self.fusion_sigmas > 20:
            raise ValueError("PublishConfig.fusion_sigmas must be in [0, 20]")
        for name in ("behind_cut_from_m", "behind_cut_to_m"):
            if getattr(self, name) > 10:
                raise ValueError(f"PublishConfig.{name} must be in [0, 10] m")

    def plane_config(self) -> PlaneConfig:
        """Return the plane completion's options (grid cells twice the observed spacing)."""
        return PlaneConfig(closing_m=self.plane_closing_m, reach_m=self.plane_reach_m,
                           cell_m=2 * self.spacing_m,
                           max_oblique_deg=self.plane_max_oblique_deg)  # fmt: skip

    def silhouette_config(self) -> SilhouetteConfig:
        """Return the sides of occluders' options (points every ``spacing_m``, at most 0.5 m)."""
        step = min(self.spacing_m, 0.5)
        return SilhouetteConfig(depth_m=self.silhouette_depth_m, step_m=step)

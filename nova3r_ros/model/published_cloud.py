"""The published cloud: observed surfaces from the depth, plus completed points, never worse.

What the node publishes with depth (and what ``pipeline.reconstruct(window, "model")``
returns), built from the decoder's points and the window's depth maps:

1. **Observed**: every valid depth pixel of the placed views back-projected and averaged
   per cube of ``spacing_m`` (a uniform spacing, one layer where views overlap), coloured
   from the images, ``observed`` = 1, confidence 1. With several views, each pixel's point
   is first averaged with the other views' measurements of the same surface
   (``fusion_sigmas``, :mod:`nova3r_ros.model.observed_fusion`): one less noisy layer
   instead of each view's noise. Only where views agree within ``fusion_sigmas`` sigmas of
   the depth noise (at least 1 cm): a view that sees another surface there moves nothing.
2. **Gate** (on the decoder's points as decoded, before any snapping): of the decoded
   points within ``gate_near_m`` of an observed surface (at clean pixels, see
   :mod:`nova3r_ros.model.measurement`), at least ``gate_min_agreement`` must lie on it
   (within the sensor margin), at least ``gate_min_near_share`` of all decoded points must
   be near one, and at most
   ``gate_max_free`` of all decoded points may lie in seen free space. A window that fails
   publishes the observed points only (``stats["gated"]`` = 1).
3. **Planes**: the window's large observed planes continued behind their occluders and
   across depth holes (:mod:`nova3r_ros.model.plane_completion`; ``plane_closing_m``, 0 =
   off), in a gated window only: where the decoder's completion is withheld (on the
   synthetic validation tabletops, seeds 1,600,000+, whose windows the gate passes, the
   plane points lowered the published F@1cm from 0.931 / 0.946 to 0.918 / 0.933 with 1 / 4
   views). Not in the ``observed_only`` baseline (``force_gate``). ``observed`` = 0.
   **Hidden surfaces**: with a hidden-surface head (:mod:`nova3r_ros.model.hidden_head`;
   the shipped checkpoint carries one), its points of confidence >=
   ``hidden_min_probability`` (None: the head's own threshold) under the plane points'
   rules, also in a gated window only. ``observed`` = 0.
   **Sides of occluders** (off by default): behind each occluding depth edge, the nearer
   surface's side continued ``silhouette_depth_m`` back along the edge pixel's ray
   (:mod:`nova3r_ros.model.silhouette_sides`; 0 = off), under the same rules, in a gated
   window only (not in ``observed_only``). ``observed`` = 0.
4. **Completed**: the candidate points (the decoder's points after depth consistency)
   that no camera measured: not in any view's seen free space, not on any observed
   surface, and inside the region of some view. Each gets a ``confidence`` from a
   logistic model of per-point features (:class:`Calibration`, fitted on validation
   windows); points under ``min_confidence`` are left out. ``observed`` = 0, colour of
   the nearest observed point.
5. **Open space**: no completed point (decoder, planes, hidden surfaces, sides) lies along
   a view's ray through a depth hole that reaches the image border and covers at least
   ``open_hole_share`` of the image, in front of the view's region end: there the sensor
   most likely saw nothing within its range (:mod:`nova3r_ros.model.open_space`).

``stats``: ``gated``, ``agreement``, ``free_share``, ``near_points``, ``observed_conflict``
(observed points in another view's seen free space: counted, not removed),
``completed_candidates``, ``completed`` (published, decoder), ``plane_points`` (published),
``hidden_points`` (published, hidden-surface head; ``hidden_snapped_points`` of them
snapped onto a plane), ``side_points`` (published, sides of
occluders),
``planes``, ``observed_points``, ``open_pixels`` (the open-space rays, rule 5).

Frames: every tensor in view 0's optical frame ("reference"), metres; ``T_ref_cam``
(V, 4, 4) places each view there; ``images`` (V, H, W, 3) uint8 registered to ``depth``
(V, H, W). Torch on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nova3r_ros.core.checks import nonnegative_fields
from nova3r_ros.model.completed_confidence import Calibration, features
from nova3r_ros.model.depth_consistency import first_per_voxel
from nova3r_ros.model.measurement import Measurement, measure, prepared_depth
from nova3r_ros.model.observed_points import observed_cloud
from nova3r_ros.model.open_space import in_open_space, open_pixels
from nova3r_ros.model.plane_completion import PlaneConfig, complete_planes
from nova3r_ros.model.silhouette_sides import SilhouetteConfig, published_sides
from nova3r_ros.pipeline import DEFAULT_MIN_CONFIDENCE


@dataclass(frozen=True)
class PublishConfig:
    """Options of :func:`publish` (metres; see the module docstring).

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
        )
        unit = ("min_confidence", "gate_min_agreement", "gate_max_free", "gate_min_near_share",
                "open_hole_share", "hidden_consensus", "hidden_snap_existence",
                "hidden_snap_tolerance", "hidden_snap_bounding_existence")  # fmt: skip
        for name in ("hidden_min_probability", "hidden_single_view_min_probability"):
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
        if self.fusion_sigmas > 20:
            raise ValueError("PublishConfig.fusion_sigmas must be in [0, 20]")

    def plane_config(self) -> PlaneConfig:
        """Return the plane completion's options (grid cells twice the observed spacing)."""
        return PlaneConfig(closing_m=self.plane_closing_m, reach_m=self.plane_reach_m,
                           cell_m=2 * self.spacing_m,
                           max_oblique_deg=self.plane_max_oblique_deg)  # fmt: skip

    def silhouette_config(self) -> SilhouetteConfig:
        """Return the sides of occluders' options (points every ``spacing_m``, at most 0.5 m)."""
        step = min(self.spacing_m, 0.5)
        return SilhouetteConfig(depth_m=self.silhouette_depth_m, step_m=step)


@dataclass
class Published:
    """The published cloud (see the module docstring); points in the reference frame."""

    points: torch.Tensor
    colors: torch.Tensor
    observed: torch.Tensor
    confidence: torch.Tensor
    stats: dict
    features: torch.Tensor | None = None  # (C, F) of the completed candidates, if asked

    def part(self, name: str) -> slice:
        """Return the rows of one part of the cloud.

        Parts, in their order: "observed", "planes", "hidden" (the hidden-surface head),
        "sides" (sides of occluders), "completed" (the decoder).
        """
        counts = {"observed": "observed_points", "planes": "plane_points",
                  "hidden": "hidden_points", "sides": "side_points",
                  "completed": "completed"}  # fmt: skip
        if name not in counts:
            raise ValueError(f"no part {name!r}; one of {', '.join(counts)}")
        start = 0
        for part, key in counts.items():
            if part == name:
                return slice(start, start + int(self.stats[key]))
            start += int(self.stats[key])
        raise AssertionError("unreachable")


def publish(
    raw: torch.Tensor | None,
    candidates: torch.Tensor | None,
    depth: torch.Tensor,
    K: torch.Tensor,
    T_ref_cam: torch.Tensor,
    images: torch.Tensor,
    config: PublishConfig,
    calibration: Calibration | None = None,
    keep_features: bool = False,
    hidden_head=None,
) -> Published:
    """Build the published cloud (module docstring).

    Args:
        raw: (N, 3) decoded points as decoded (gate), or None (observed only).
        candidates: (C, 3) completion candidates (after depth consistency), or None.
        depth: (V, H, W) metres; K: (V, 3, 3); T_ref_cam: (V, 4, 4); images: (V, H, W, 3).
        config: thresholds; calibration: confidence model (None = the default prior).
        keep_features: also return the candidates' features (calibration fitting).
        hidden_head: a :class:`~nova3r_ros.model.hidden_head.HiddenHead` whose points
            complete a gated window, or None.

    """
    calibration = calibration or Calibration()
    depth, clean, z_far = prepared_depth(depth, config.edge_px)
    K, T = K.float(), T_ref_cam.float()
    stats = {}
    gated = config.force_gate or raw is None or candidates is None
    if raw is not None and raw.shape[0]:
        m = measure(raw, depth, K, T, clean, z_far, near_m=config.gate_near_m)
        counts = torch.stack([m.near.sum(), (m.near & m.surface).sum(), m.free.sum()])
        near, on, free = counts.tolist()  # one device sync for the gate's decision
        agreement, free_share = on / max(near, 1), free / raw.shape[0]
        stats.update(agreement=agreement, free_share=free_share, near_points=near)
        near_share = near / raw.shape[0]
        stats["near_share"] = near_share
        gated = gated or (near_share < config.gate_min_near_share
                          or agreement < config.gate_min_agreement
                          or free_share > config.gate_max_free)  # fmt: skip
    stats["gated"] = int(gated)
    planes_on = gated and not config.force_gate and config.plane_closing_m > 0
    obs_pts, obs_rgb, *obs_normals = observed_cloud(depth, K, T, images, config.spacing_m,
                                                    with_normals=planes_on,
                                                    fuse_sigmas=config.fusion_sigmas)  # fmt: skip
    open_px = None  # large border-reaching holes: no completion there (model.open_space)
    if config.open_hole_share > 0 and not config.force_gate:  # its host reads here, where
        open_px = open_pixels(depth, config.open_hole_share)  # little work is queued
        stats["open_pixels"] = int(open_px.sum())
        open_px = open_px if stats["open_pixels"] else None  # none: nothing to cut
    conflict = measure(obs_pts, depth, K, T, clean, z_far).free.sum()  # read with the stats
    stats["observed_points"] = int(obs_pts.shape[0])
    dev = depth.device
    out_pts, out_rgb = [obs_pts], [obs_rgb]
    out_obs = [torch.ones(obs_pts.shape[0], dtype=torch.bool, device=dev)]
    out_conf = [torch.ones(obs_pts.shape[0], device=dev)]
    feats = None
    stats["completed_candidates"] = stats["completed"] = 0
    decoded = planes = hidden = sides = (obs_pts[:0], torch.zeros(0, device=dev), obs_rgb[:0])
    n_snapped = 0  # of the head's points, those snapped onto a plane
    stats["planes"], plane_list = 0, []
    if planes_on:
        *planes, plane_list = complete_planes(obs_pts, obs_rgb, obs_normals[0], depth, K, T,
                                              z_far, config.plane_config())  # fmt: skip
        stats["planes"] = len(plane_list)
        keep = planes[1] >= config.min_confidence
        planes = tuple(p[keep] for p in planes)
        planes = tuple(p[first_per_voxel(planes[0], config.spacing_m)] for p in planes)
    if gated and not config.force_gate and hidden_head is not None:
        from nova3r_ros.model.hidden_published import published_points

        *hidden, n_snapped = published_points(hidden_head, depth, K, T, images, z_far, obs_pts,
                                              obs_rgb, config, planes[0], plane_list)  # fmt: skip
    if gated and not config.force_gate and config.silhouette_depth_m > 0:
        taken = torch.cat([planes[0].float(), hidden[0].float()])
        sides = published_sides(depth, K, T, z_far, obs_pts, obs_rgb, taken, config.spacing_m,
                                config.silhouette_config(), config.min_confidence)  # fmt: skip
    if not gated and candidates is not None and candidates.shape[0]:
        mc = measure(candidates, depth, K, T, clean, z_far)
        keep = ~mc.free & ~mc.surface & mc.region
        if open_px is not None:
            keep &= ~in_open_space(candidates, open_px, K, T, z_far)
        cand = candidates[keep]
        sub = Measurement(*(getattr(mc, f)[keep] for f in Measurement.__dataclass_fields__))
        scale = torch.nanmedian(torch.where(depth > 0, depth, torch.nan)).nan_to_num(1.0)
        feats, idx = features(cand, sub, obs_pts, stats["agreement"], scale)
        conf = calibration.confidence(feats)
        ok = conf >= config.min_confidence
        stats["completed_candidates"] = int(cand.shape[0])
        cand, conf, idx = cand[ok], conf[ok], idx.to(dev)[ok]
        rgb = (obs_rgb[idx] if obs_pts.shape[0]
               else torch.full_like(cand, 180).to(torch.uint8))  # fmt: skip
        decoded = (cand, conf, rgb)
    if open_px is not None:  # the gated window's completion, cut as the decoder's was
        parts = (planes, hidden, sides)
        together = torch.cat([part[0].float() for part in parts])  # one pass over the views
        kept = (~in_open_space(together, open_px, K, T, z_far)).split(
            [part[0].shape[0] for part in parts])  # fmt: skip
        n_snapped = kept[1][: int(n_snapped)].sum()  # the snapped points come first
        planes, hidden, sides = (tuple(x[k] for x in part)
                                 for part, k in zip(parts, kept, strict=True))  # fmt: skip
    stats["completed"] = int(decoded[0].shape[0])
    stats["plane_points"] = int(planes[0].shape[0])
    stats["hidden_points"] = int(hidden[0].shape[0])
    stats["hidden_snapped_points"] = int(n_snapped)
    stats["side_points"] = int(sides[0].shape[0])
    for pts, conf, rgb in (planes, hidden, sides, decoded):
        out_pts.append(pts.float())
        out_rgb.append(rgb)
        out_obs.append(torch.zeros(pts.shape[0], dtype=torch.bool, device=dev))
        out_conf.append(conf.float())
    stats["observed_conflict"] = int(conflict)
    return Published(torch.cat(out_pts), torch.cat(out_rgb), torch.cat(out_obs),
                     torch.cat(out_conf), stats, feats if keep_features else None)  # fmt: skip

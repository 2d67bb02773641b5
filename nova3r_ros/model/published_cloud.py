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
   **Voxel completion** (with a voxel completion head only; none is shipped): the head's
   occupied cells that no view measured or saw empty, under the plane points' rules and
   only where no other part already put a point within ``voxel_far_m``
   (:mod:`nova3r_ros.model.voxel_published`), in a gated window only. ``observed`` = 0.
4. **Completed**: the candidate points (the decoder's points after depth consistency)
   that no camera measured: not in any view's seen free space, not on any observed
   surface, and inside the region of some view. Each gets a ``confidence`` from a
   logistic model of per-point features (:class:`Calibration`, fitted on validation
   windows); points under ``min_confidence`` are left out. ``observed`` = 0, colour of
   the nearest observed point.
5. **Open space**: no completed point (decoder, planes, hidden surfaces, sides, voxels)
   lies along a view's ray through a depth hole that reaches the image border and covers
   at least ``open_hole_share`` of the image, in front of the view's region end: there the
   sensor most likely saw nothing within its range (:mod:`nova3r_ros.model.open_space`).
6. **Inside what was measured**: in a gated window, no completed point (planes, hidden
   surfaces, sides, voxels) lies between ``behind_cut_from_m`` and ``behind_cut_to_m``
   behind a surface a view measured (:mod:`nova3r_ros.model.behind_cut`).

``stats``: ``gated``, ``agreement``, ``free_share``, ``near_points``, ``observed_conflict``
(observed points in another view's seen free space: counted, not removed),
``completed_candidates``, ``completed`` (published, decoder), ``plane_points`` (published),
``hidden_points`` (published, hidden-surface head; ``hidden_snapped_points`` of them
snapped onto a plane), ``side_points`` (published, sides of
occluders), ``voxel_points`` (published, voxel completion head),
``planes``, ``observed_points``, ``open_pixels`` (the open-space rays, rule 5),
``behind_cut`` (completed points left out by rule 6).

Frames: every tensor in view 0's optical frame ("reference"), metres; ``T_ref_cam``
(V, 4, 4) places each view there; ``images`` (V, H, W, 3) uint8 registered to ``depth``
(V, H, W). Torch on the model's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nova3r_ros.model.behind_cut import in_band
from nova3r_ros.model.completed_confidence import Calibration, features
from nova3r_ros.model.depth_consistency import first_per_voxel
from nova3r_ros.model.measurement import Measurement, measure, prepared_depth
from nova3r_ros.model.observed_points import observed_cloud
from nova3r_ros.model.open_space import in_open_space, open_pixels
from nova3r_ros.model.plane_completion import complete_planes
from nova3r_ros.model.publish_config import PublishConfig
from nova3r_ros.model.silhouette_sides import published_sides

__all__ = ["PublishConfig", "Published", "publish"]


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
        "sides" (sides of occluders), "voxels" (the voxel completion head), "completed"
        (the decoder).
        """
        counts = {"observed": "observed_points", "planes": "plane_points",
                  "hidden": "hidden_points", "sides": "side_points",
                  "voxels": "voxel_points", "completed": "completed"}  # fmt: skip
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
    voxel_head=None,
    down: torch.Tensor | None = None,
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
        voxel_head: a :class:`~nova3r_ros.model.voxel_completion.VoxelHead` whose cells
            complete a gated window (:mod:`nova3r_ros.model.voxel_published`), or None.
        down: gravity (3,) in view 0's optical frame for the voxel head's grid (None or
            zeros: unknown).

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
    empty = (obs_pts[:0], torch.zeros(0, device=dev), obs_rgb[:0])
    decoded = planes = hidden = sides = voxels = empty
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
    if gated and not config.force_gate and voxel_head is not None:
        from nova3r_ros.model.voxel_published import published_voxel_points

        taken = torch.cat([part[0].float() for part in ((obs_pts,), planes, hidden, sides)])
        g = torch.zeros(3, device=dev) if down is None else down.float().to(dev)
        voxels = published_voxel_points(voxel_head, depth, K, T, z_far, g, taken, obs_pts,
                                        obs_rgb, config, plane_list)  # fmt: skip
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
    band = config.behind_cut_from_m, config.behind_cut_to_m
    stats["behind_cut"] = 0
    cut_band = gated and not config.force_gate and band[1] > band[0]
    if open_px is not None or cut_band:  # the gated window's completion, cut in one pass
        parts = (planes, hidden, sides, voxels)
        together = torch.cat([part[0].float() for part in parts])
        drop = torch.zeros(together.shape[0], dtype=torch.bool, device=together.device)
        if open_px is not None:  # as the decoder's candidates were
            drop |= in_open_space(together, open_px, K, T, z_far)
        if cut_band:
            inside = in_band(together, depth, K, T, *band)
            stats["behind_cut"] = int((inside & ~drop).sum())
            drop |= inside
        kept = (~drop).split([part[0].shape[0] for part in parts])
        n_snapped = kept[1][: int(n_snapped)].sum()  # the snapped points come first
        planes, hidden, sides, voxels = (tuple(x[k] for x in part)
                                         for part, k in zip(parts, kept, strict=True))  # fmt: skip
    stats["completed"] = int(decoded[0].shape[0])
    stats["plane_points"] = int(planes[0].shape[0])
    stats["hidden_points"] = int(hidden[0].shape[0])
    stats["hidden_snapped_points"] = int(n_snapped)
    stats["side_points"] = int(sides[0].shape[0])
    stats["voxel_points"] = int(voxels[0].shape[0])
    for pts, conf, rgb in (planes, hidden, sides, voxels, decoded):
        out_pts.append(pts.float())
        out_rgb.append(rgb)
        out_obs.append(torch.zeros(pts.shape[0], dtype=torch.bool, device=dev))
        out_conf.append(conf.float())
    stats["observed_conflict"] = int(conflict)
    return Published(torch.cat(out_pts), torch.cat(out_rgb), torch.cat(out_obs),
                     torch.cat(out_conf), stats, feats if keep_features else None)  # fmt: skip

"""The hidden-surface head's points in a published cloud: kept, snapped, coloured.

:func:`published_points` is what :func:`~nova3r_ros.model.published_cloud.publish` adds to
a gated window from a :class:`~nova3r_ros.model.hidden_head.HiddenHead`;
:func:`observed_colours` colours completed points (the head's, the silhouette sides') by
the observed cloud. Frames: the window's reference frame; shapes in each docstring.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.hidden_consensus import consensus
from nova3r_ros.model.hidden_head import head_layers, layer_points, resample_depth
from nova3r_ros.model.hidden_subcells import subdivided
from nova3r_ros.model.observed_points import nearest

COLOUR_VOXEL_M = 0.04  # a published head point takes the colour of an observed point this near


def published_points(
    head, depth: torch.Tensor, K: torch.Tensor, T: torch.Tensor, images: torch.Tensor,
    z_far: torch.Tensor, obs_pts: torch.Tensor, obs_rgb: torch.Tensor, config,
    planes: torch.Tensor, plane_list: list | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return the head's points of a window (C, 3), confidence (C,), colour (C, 3), # snapped.

    The points snapped onto a plane come first; their count (a 0-d tensor) is the last item.

    For :func:`~nova3r_ros.model.published_cloud.publish` (``config`` its PublishConfig;
    ``depth`` (V, H, W), ``K``, ``T`` (V, 4, 4) the views in the reference frame,
    ``images`` (V, H, W, 3) uint8, ``z_far`` (V,) the regions' far ends, ``obs_pts``
    (M, 3) / ``obs_rgb`` (M, 3) the observed cloud). Points of at least
    :func:`threshold` and
    ``config.min_confidence`` (with ``config.hidden_consensus`` > 0 and several views,
    the confidence blended with the other views' support,
    :func:`~nova3r_ros.model.hidden_consensus.consensus`), and with ``plane_list`` (the
    window's planes, (normal (3,), offset) in the reference frame) the head's layers
    snapped onto them (:func:`~nova3r_ros.model.hidden_planes.snapped_points`,
    ``config.hidden_snap_*``; behind a measured surface ``hidden_snap_subcells`` points
    per cell and side, :mod:`~nova3r_ros.model.hidden_subcells`, and
    ``hidden_snap_bounding_subcells`` where that is more and the plane bounds the
    observed scene), within
    ``hidden_snap_reach_m`` of the plane's observed points; with
    ``hidden_snap_bounding_existence`` if the plane bounds the observed scene,
    :func:`~nova3r_ros.model.hidden_planes.bounding_planes`, and then also farther, within
    ``hidden_snap_bounding_reach_m``, where some view measured a surface in front),
    are kept where they lie in some view's region, in no view's seen free space (every
    valid pixel, as for the plane points) and on no observed surface, one per
    ``spacing_m`` cube and none in a cube a plane point holds (``planes`` (P, 3));
    snapped points before the head's own; coloured as the nearest of the observed points
    taken one per :data:`COLOUR_VOXEL_M` cube.
    """
    from nova3r_ros.model.depth_consistency import first_per_voxel
    from nova3r_ros.model.hidden_planes import (
        bounding_planes,
        observed_distances,
        reach_cube,
        snapped_points,
    )
    from nova3r_ros.model.measurement import measure
    from nova3r_ros.model.plane_completion import PlaneConfig

    chosen = max(threshold(head, config, depth.shape[0]), config.min_confidence)
    Ks, z, exist, prob = head_layers(head, depth, images, K)
    if config.hidden_consensus > 0 and depth.shape[0] > 1:
        cfg = head.config
        small = resample_depth(depth, cfg.height, cfg.width)
        prob = consensus(prob, z, Ks, T, small, cfg, config.hidden_consensus)
    keep = prob >= chosen
    pts, prob = layer_points(Ks, z, T, head.config)[keep], prob[keep]
    far = torch.zeros(pts.shape[0], dtype=torch.bool, device=pts.device)
    snapped, fine = far.clone(), far.clone()  # fine: a sub-cell's point (hidden_subcells)
    split = far.clone()  # a snapped point whose plane has sub-cells
    if plane_list and config.hidden_snap_tolerance > 0:
        bounding = bounding_planes(plane_list, obs_pts, T[:, :3, 3]).tolist()
        exist_of = (config.hidden_snap_existence, config.hidden_snap_bounding_existence)
        min_exist = [max(exist_of[b], config.min_confidence) for b in bounding]
        tol = config.hidden_snap_tolerance
        finer = finer_bounding(config) and any(bounding)
        # per plane: it has sub-cells (all planes, or the bounding ones at their finer split)
        split_of = torch.tensor([config.hidden_snap_subcells > 1 or (finer and b)
                                 for b in bounding], device=z.device)  # fmt: skip

        def on_subcells(factor: int):  # the layers snapped from factor x factor sub-cells
            zs, es, grid = subdivided(z, exist, head.config, factor)
            return snapped_points(Ks, zs, es, T, plane_list, grid, min_exist, tol)

        # (points, confidence, plane, from sub-cells) per pass; each point's kind chosen below
        passes = [(*snapped_points(Ks, z, exist, T, plane_list, head.config, min_exist, tol),
                   False)]  # fmt: skip
        if config.hidden_snap_subcells > 1:
            passes.append((*on_subcells(config.hidden_snap_subcells), True))
        if finer:  # the bounding planes' finer sub-cells
            sub = on_subcells(config.hidden_snap_bounding_subcells)
            on_bounding = torch.tensor(bounding, device=sub[2].device)[sub[2]]
            passes.append((*(x[on_bounding] for x in sub), True))
        snap, p_snap, on = (torch.cat([part[i] for part in passes]) for i in range(3))
        fine_snap = torch.cat([torch.full_like(conf, fine, dtype=torch.bool)
                               for _, conf, _, fine in passes])  # fmt: skip
        reach = config.hidden_snap_reach_m
        reach_of = [max(reach, config.hidden_snap_bounding_reach_m) if b else reach
                    for b in bounding]  # fmt: skip
        # one distance pass for both reaches, with the ordinary reach's cube where there is one
        cubes = [reach_cube(reach if reach > 0 else r) for r in reach_of]
        dist = observed_distances(snap, on, plane_list, obs_pts, cubes, PlaneConfig().inlier_m)
        near = (dist <= reach) & (reach > 0)
        plane_reach = torch.tensor(reach_of, dtype=dist.dtype, device=dist.device)[on]
        snap_far = ~near & (dist <= plane_reach)  # farther: bounding planes only, only behind
        kept = near | snap_far
        fine = torch.cat([fine_snap[kept], fine])
        split = torch.cat([split_of.to(on.device)[on[kept]].to(split.device), split])
        pts, prob = torch.cat([snap[kept], pts]), torch.cat([p_snap[kept], prob])
        far = torch.cat([snap_far[kept], far])
        snapped = torch.cat([torch.ones_like(snap_far[kept]), snapped])
    m = measure(pts, depth, K, T, depth > 0, z_far)
    keep = ~m.free & ~m.surface & m.region & (m.behind | ~far)
    keep &= ~split | (fine == m.behind)  # sub-cells behind a measured surface, cells elsewhere
    pts, prob, snapped = pts[keep], prob[keep], snapped[keep]
    n_plane = planes.shape[0]
    first = first_per_voxel(torch.cat([planes, pts]), config.spacing_m)[n_plane:]
    pts, prob, snapped = pts[first], prob[first], snapped[first]
    return pts, prob, observed_colours(pts, obs_pts, obs_rgb), snapped.sum()


def finer_bounding(config) -> bool:
    """Return whether ``config`` (a PublishConfig) splits the bounding planes' cells finer."""
    return config.hidden_snap_bounding_subcells > max(config.hidden_snap_subcells, 1)


def threshold(head, config, n_views: int) -> float:
    """Return the head's threshold for a window of ``n_views`` (``config`` a PublishConfig).

    One view: ``config.hidden_single_view_min_probability``, else
    ``config.hidden_min_probability``, else the head's ``single_view_min_probability``,
    else its ``min_probability``. Several views: ``config.hidden_min_probability``, else
    the head's ``min_probability``. (A single view's confidences are the head's own; with
    several they are blended with the other views' by the consensus, so the thresholds
    chosen on validation can differ.)
    """
    if n_views == 1:
        for p in (config.hidden_single_view_min_probability, config.hidden_min_probability,
                  head.single_view_min_probability):  # fmt: skip
            if p is not None:
                return p
    p = config.hidden_min_probability
    return head.min_probability if p is None else p


def observed_colours(
    points: torch.Tensor, obs_pts: torch.Tensor, obs_rgb: torch.Tensor
) -> torch.Tensor:
    """(N, 3) uint8: each point's nearest observed point's colour (grey without any).

    The observed points (M, 3) / colours (M, 3) are taken one per :data:`COLOUR_VOXEL_M`
    cube: the lookup's cost, not its result.
    """
    from nova3r_ros.model.depth_consistency import first_per_voxel

    if obs_pts.shape[0] == 0 or points.shape[0] == 0:
        return torch.full_like(points, 180).to(torch.uint8)
    coarse = first_per_voxel(obs_pts, COLOUR_VOXEL_M)
    idx = nearest(points, obs_pts[coarse])[1][:, 0].to(points.device)
    return obs_rgb[coarse][idx]

"""Hidden-surface points placed by the head's existence and the window's plane geometry.

On real frames the hidden-surface head (:mod:`nova3r_ros.model.hidden_head`) knows
*whether* an unmeasured surface lies along a cell's rays far better than *where*: on the
7-Scenes dev frames (1 view, shipped head, cells whose hidden reference is not already
covered by the plane points), its existence probability is >= 0.5 for 0.75 of the
cell-layers that hold a hidden surface (0.89 of those more than 40 cm behind the measured
depth), but its depth is within 5 cm for only 0.15 of them (0.13; ``scripts/
hidden_where_wrong.py``, ``docs/eval/session14``).
Many of those surfaces are the window's large planes continued far behind what occludes
them (the floor behind a counter, a wall behind furniture), which plane completion
(:mod:`nova3r_ros.model.plane_completion`) leaves out beyond ``reach_m`` of the observed
plane because it cannot tell where the plane really continues. Together they can: where
the head says a surface exists (existence >= ``min_existence``) and one of the window's
planes crosses the cell's central ray within ``tolerance`` times the head's depth of the
head's depth, the point is placed where the ray meets that plane (the nearest such plane
to the head's depth), with the existence probability as its confidence, if it lies within
``reach_m`` of the plane's observed part (:func:`near_observed`): on the dev frames (4
views, existence 0.5, tolerance 0.1) the judged snapped points within 0.3 m of their
plane's observed points were right for 0.91 of them, those 0.3-0.6 m away for 0.06.

A *bounding* plane (:func:`bounding_planes`: the cameras on one side, next to none of the
window's observed points beyond it: the floor, a wall, the ceiling) does continue behind
whatever stands in front of it, so its snapped points get a longer reach (``bounding
reach``) where some view measured a surface in front of them (not into a depth hole,
where nothing says the plane goes on): on the dev frames, for example, the floor under a
table (docs/eval/session15).

Frames and shapes: ``Ks`` (V, 3, 3) at the head's input size, ``z`` / ``exist``
(V, L, h, w) the head's layers (:func:`~nova3r_ros.model.hidden_head.head_layers`),
``T_ref_cam`` (V, 4, 4) camera-to-reference, planes as (unit normal (3,), offset d) with
``n . p + d = 0`` in the reference frame (:func:`~nova3r_ros.model.plane_completion.
find_planes`). Torch, on the inputs' device.
"""

from __future__ import annotations

import torch

from nova3r_ros.model.hidden_head import HiddenHeadConfig, cell_rays, layer_points
from nova3r_ros.model.observed_points import nearest

MIN_Z_M = 0.1  # a plane crossing nearer than this to the camera is not used
_PARALLEL = 1e-6  # |n . ray| below this: the ray runs along the plane
BOUNDING_MARGIN_M = 0.05  # observed points farther beyond a plane than this count against it
BOUNDING_MAX_BEYOND = 0.01  # a bounding plane has at most this share of them (sensor noise)
_MAX_CUBE_M = 0.05  # near_observed's cube at most this (a long reach keeps its precision)


def bounding_planes(
    planes: list, observed: torch.Tensor, centres: torch.Tensor,
    margin_m: float = BOUNDING_MARGIN_M, max_beyond: float = BOUNDING_MAX_BEYOND,
) -> torch.Tensor:  # fmt: skip
    """(P,) bool: each plane bounds what the window observed.

    A plane bounds it when every camera centre (``centres`` (V, 3), reference frame) lies
    on the same side of it, more than ``margin_m`` away, and at most ``max_beyond`` of the
    observed points (M, 3) lie more than ``margin_m`` beyond it on the other side: the
    floor, a wall or the ceiling, not a table top or a cabinet front, which have observed
    surfaces behind them.
    """
    out = torch.zeros(len(planes), dtype=torch.bool)
    if observed.shape[0] == 0:
        return out
    for k, (normal, offset) in enumerate(planes):
        normal = normal.to(observed)
        side = centres.to(observed) @ normal + offset  # (V,)
        if not (bool((side > margin_m).all()) or bool((side < -margin_m).all())):
            continue
        s = (observed @ normal + offset) * side[0].sign()  # > 0: the cameras' side
        out[k] = float((s < -margin_m).float().mean()) <= max_beyond
    return out


def plane_depths(
    Ks: torch.Tensor, T_ref_cam: torch.Tensor, planes: list, config: HiddenHeadConfig
) -> torch.Tensor:
    """(V, h, w, P) optical depth where each cell's central ray meets each plane (inf: never).

    Depth along the ray (x/z, y/z, 1), so comparable with the head's layer depths; inf
    where the crossing lies behind the camera, nearer than :data:`MIN_Z_M`, or the ray is
    parallel to the plane.
    """
    T = T_ref_cam.float()
    rays = torch.einsum("vij,vhwj->vhwi", T[:, :3, :3], cell_rays(Ks, config))
    normals = torch.stack([n.float().to(T.device) for n, _ in planes])  # (P, 3)
    offsets = torch.tensor([float(d) for _, d in planes], device=T.device)  # (P,)
    denom = rays @ normals.T  # (V, h, w, P)
    num = -(T[:, :3, 3] @ normals.T + offsets)  # (V, P)
    ok = denom.abs() > _PARALLEL
    t = num[:, None, None, :] / torch.where(ok, denom, torch.ones_like(denom))
    return torch.where(ok & (t > MIN_Z_M), t, torch.full_like(t, torch.inf))


def snapped_points(
    Ks: torch.Tensor, z: torch.Tensor, exist: torch.Tensor, T_ref_cam: torch.Tensor,
    planes: list, config: HiddenHeadConfig, min_existence: float | list[float],
    tolerance: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Return the head's layers snapped onto the planes: points (N, 3), confidence, plane.

    ``z`` / ``exist`` (V, L * K, h, w) per layer and depth mode (``config.modes`` K; one
    mode: the layers' own). A plane holds a cell-layer with the probability that the layer
    exists with its depth within ``tolerance * z`` of where the cell's central ray meets
    the plane (:func:`plane_depths`): the existence of the layer's modes that lie that near
    it, summed. One point per cell-layer, on the plane holding it with the most
    probability among those that reach their ``min_existence`` (one for every plane, or one
    per plane), the nearest to one of its modes among equals (with one mode: the nearest
    crossing to the layer's depth); placed at the crossing, in the reference frame. Its
    confidence (N,) is that probability (one mode: the existence, module docstring), with
    the index (N,) of its plane.
    """
    dev = z.device
    if not planes or tolerance <= 0:
        empty = torch.zeros(0, device=dev)
        return torch.zeros(0, 3, device=dev), empty, empty.long()
    need = torch.as_tensor(min_existence, dtype=exist.dtype, device=dev)
    if need.dim() and need.numel() != len(planes):
        raise ValueError(f"snapped_points: {need.numel()} thresholds for {len(planes)} planes")
    need = need.expand(len(planes))
    t = plane_depths(Ks, T_ref_cam, planes, config)[:, None, None]  # (V, 1, 1, h, w, P)
    zm = z.unflatten(1, (-1, config.modes))[..., None]  # (V, L, K, h, w, 1)
    gap = (t - zm).abs()  # (V, L, K, h, w, P)
    near = (gap <= tolerance * zm) & t.isfinite()
    held = (exist.unflatten(1, (-1, config.modes))[..., None] * near).sum(2)  # (V, L, h, w, P)
    gap = torch.where(near, gap, torch.inf).amin(2)
    allowed = (held >= need) & gap.isfinite()
    most = torch.where(allowed, held, -1.0).amax(-1, keepdim=True)
    gap = torch.where(allowed & (held >= most), gap, torch.inf)
    best = gap.argmin(-1, keepdim=True)
    ok = gap.gather(-1, best)[..., 0].isfinite()
    t_best = torch.gather(t[:, 0].expand_as(gap), -1, best)[..., 0]
    pts = layer_points(Ks, torch.where(ok, t_best, 0.0), T_ref_cam, config)
    return pts[ok], held.gather(-1, best)[..., 0][ok], best[..., 0][ok]


def reach_cube(reach_m: float) -> float:
    """Return the cube (m) of which :func:`observed_distances` keeps one point, for a reach."""
    return min(reach_m / 4, _MAX_CUBE_M)


def observed_distances(
    points: torch.Tensor, plane_index: torch.Tensor, planes: list, observed: torch.Tensor,
    cube_m: list[float], inlier_m: float,
) -> torch.Tensor:  # fmt: skip
    """(N,) distance (m) from each point to its own plane's observed points (inf: none).

    ``points`` (N, 3) on the planes ``plane_index`` (N,) of ``planes``; a plane's observed
    points are those of ``observed`` (M, 3) within ``inlier_m`` of it, taken one per cube
    of its ``cube_m`` (one per plane; 0: none), so the distance errs by at most the cube's
    diagonal, and only upwards.
    """
    from nova3r_ros.model.depth_consistency import first_per_voxel

    dist = torch.full((points.shape[0],), torch.inf, device=points.device)
    for k, ((normal, offset), cube) in enumerate(zip(planes, cube_m, strict=True)):
        on = plane_index == k
        if cube <= 0 or not bool(on.any()):
            continue
        inliers = observed[(observed @ normal.to(observed) + offset).abs() <= inlier_m]
        if inliers.shape[0] == 0:
            continue
        inliers = inliers[first_per_voxel(inliers, cube)]
        dist[on] = nearest(points[on], inliers)[0][:, 0].to(dist.device)
    return dist


def near_observed(
    points: torch.Tensor, plane_index: torch.Tensor, planes: list, observed: torch.Tensor,
    reach_m: float | list[float], inlier_m: float,
) -> torch.Tensor:  # fmt: skip
    """(N,) bool: each point lies within its plane's reach of that plane's observed points.

    ``points`` (N, 3) on the planes ``plane_index`` (N,) of ``planes``; ``reach_m`` one
    distance for every plane or one per plane; the distance is :func:`observed_distances`'
    with the cube :func:`reach_cube` of the reach (``reach / 4``, at most 5 cm; it errs by
    at most the cube's diagonal, 0.43 ``reach``). A reach of 0: none on that plane.
    """
    reaches = [float(reach_m)] * len(planes) if isinstance(reach_m, int | float) else reach_m
    if len(reaches) != len(planes):
        raise ValueError(f"near_observed: {len(reaches)} reaches for {len(planes)} planes")
    cubes = [reach_cube(r) if r > 0 else 0.0 for r in reaches]
    dist = observed_distances(points, plane_index, planes, observed, cubes, inlier_m)
    reach = torch.tensor(reaches, dtype=dist.dtype, device=dist.device)[plane_index]
    return (dist <= reach) & (reach > 0)

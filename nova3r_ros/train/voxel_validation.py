"""Validation of a voxel completion head during training: torch only, on the device.

Windows: synthetic rooms of ``benchmark_config(views, family="room")`` at the training
resolution, seeds from :data:`VAL_SEED_START` (validation seeds, never the benchmark's
1,000,000-1,000,099 and never trained on: training seeds stay below 1,000,000). For each
window the head completes it through :func:`~nova3r_ros.model.voxel_completion.window_points`
(the inference path, crop included) with the true gravity; without the protocol's
resampling, inside the views' region (optical z in (0.1 m, p99 of the view's depth +
0.15 m] inside the image, any view):

- ``precision@5cm@T``: the completed points of probability >= T within 5 cm of the
  complete ground-truth surface;
- ``hidden_covered@5cm@T``: the share of the hidden ground truth (farther than 5 cm from
  every measured point) within 5 cm of a completed point (session 38's measure: the
  shipped cloud covers 0.486 of it with all its parts, 1 view);
- ``points_per_window@T``.

:func:`selection` picks the threshold: the largest coverage among thresholds whose
precision is at least :data:`MIN_PRECISION` (issue 11's completed-precision target).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from nova3r_ros.model.gravity import world_down
from nova3r_ros.model.observed_fusion import camera_points
from nova3r_ros.model.observed_points import nearest
from nova3r_ros.model.voxel_completion import VoxelHead, window_points
from nova3r_ros.train.targets import region_mask

VAL_SEED_START = 1_500_000
THRESHOLDS = (0.3, 0.5, 0.7, 0.85)
MIN_PRECISION = 0.7
TOL_M = 0.05


def validation_windows(
    n: int, views: int, height: int, width: int, device, n_points: int = 200_000,
    mesh_dir: str | None = None,
) -> list[dict]:  # fmt: skip
    """Generate ``n`` validation rooms (batches of up to 8) on ``device``."""
    from nova3r_ros.synth.config import benchmark_config
    from nova3r_ros.synth.generate import generate_batch

    cfg = benchmark_config(views, family="room", height=height, width=width, device=str(device),
                           n_gt_points=n_points, mesh_dir=mesh_dir)  # fmt: skip
    return [generate_batch(list(range(VAL_SEED_START + i, VAL_SEED_START + min(i + 8, n))),
                           config=cfg, device=device) for i in range(0, n, 8)]  # fmt: skip


def _min_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a),) distance from each row of ``a`` to the nearest row of ``b`` (inf if none)."""
    return nearest(a, b)[0][:, 0].to(a.device)


def _in_region(p: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
               T_ref_cam: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Whether reference-frame points (N, 3) lie in some view's region (the protocol's)."""
    return region_mask(p[None], depth[None], K[None], T_ref_cam[None])[0]


def scored_windows(batches: list[dict]):
    """Yield each window of ``batches`` as the module docstring scores it.

    A namespace per window: ``depth`` (V, H, W), ``K`` (V, 3, 3), ``T_ref`` (V, 4, 4)
    camera-to-reference (view 0's optical frame), ``points`` (M, 3) its complete surface
    in that frame, ``gt`` those in some view's region, ``hidden`` those farther than
    :data:`TOL_M` from every measured point, ``down`` (3,) the true gravity in view 0's
    optical frame.
    """
    for batch in batches:
        T_world = batch["T_world_cam"].float()
        for b in range(T_world.shape[0]):
            T0inv = torch.linalg.inv(T_world[b, 0])
            T_ref = T0inv @ T_world[b]
            depth, K = batch["depth"][b].float(), batch["K"][b].float()
            points = batch["points"][b].float() @ T0inv[:3, :3].T + T0inv[:3, 3]
            gt = points[_in_region(points, depth, K, T_ref)]
            cam = camera_points(depth, K)
            R, t = T_ref[:, :3, :3], T_ref[:, None, None, :3, 3]
            obs = (torch.einsum("vij,vhwj->vhwi", R, cam) + t)[depth > 0]
            hidden = gt[_min_dist(gt, obs) > TOL_M] if obs.shape[0] else gt
            yield SimpleNamespace(depth=depth, K=K, T_ref=T_ref, points=points, gt=gt,
                                  hidden=hidden, down=world_down(T_world[b, :1])[0])  # fmt: skip


@torch.no_grad()
def validate(head: VoxelHead, batches: list[dict], points_per_cell: int = 1) -> dict[str, float]:
    """Return the module docstring's numbers over ``batches`` (the head in eval mode).

    ``points_per_cell``: as :func:`~nova3r_ros.model.voxel_completion.window_points`.
    """
    was_training = head.training
    head.eval()
    res = {t: [0, 0, 0, 0] for t in THRESHOLDS}  # right, points, hidden covered, hidden
    windows = 0
    for w in scored_windows(batches):
        pts, prob = window_points(head, w.depth, w.K, w.T_ref, w.down, min(THRESHOLDS),
                                  points_per_cell)  # fmt: skip
        keep = _in_region(pts, w.depth, w.K, w.T_ref)
        pts, prob = pts[keep], prob[keep]
        right = _min_dist(pts, w.gt) < TOL_M
        windows += 1
        for t in THRESHOLDS:
            sel = prob >= t
            r = res[t]
            r[0] += int((right & sel).sum())
            r[1] += int(sel.sum())
            r[2] += int((_min_dist(w.hidden, pts[sel]) < TOL_M).sum())
            r[3] += int(w.hidden.shape[0])
    head.train(was_training)
    out = {}
    for t, (right, n, covered, n_hidden) in res.items():
        out[f"precision@5cm@{t}"] = right / max(n, 1)
        out[f"hidden_covered@5cm@{t}"] = covered / max(n_hidden, 1)
        out[f"points_per_window@{t}"] = n / max(windows, 1)
    return out


@torch.no_grad()
def validate_real(head: VoxelHead, sets: list, points_per_cell: int = 1) -> dict[str, float]:
    """Score the head on real windows (``train.validate.ValSet``: the 7-Scenes dev frames).

    Its points are made as the published cloud makes them (:func:`window_points` with the
    set's gravity, then in no view's seen free space, on no observed surface, in some
    view's region) and scored by :func:`~nova3r_ros.train.hidden_validation.head_scores`
    against the set's cached reference at each of :data:`THRESHOLDS`: keys
    ``real_<V>v/head_precision@T`` (no judged rule: stricter than the protocol's completed
    precision), ``.../head_hidden_recall@T``, ``.../head_points@T``. Logged beside the
    synthetic numbers; validation only, never trained on. ``points_per_cell`` as
    :func:`~nova3r_ros.model.voxel_completion.window_points`.
    """
    from nova3r_ros.model.measurement import measure, region_depth
    from nova3r_ros.train.hidden_validation import head_scores, hidden_references

    was_training = head.training
    head.eval()
    scores = {}
    for vs in sets:
        kept = []
        for b in range(len(vs.depth)):
            depth, K, T = vs.depth[b], vs.K[b], vs.T_world_cam[b]
            down = vs.gravity[b] if vs.gravity is not None else torch.zeros(3)
            pts, prob = window_points(head, depth, K, torch.linalg.inv(T[0]) @ T, down,
                                      min(THRESHOLDS), points_per_cell)  # fmt: skip
            pts = pts.to(depth.device) @ T[0, :3, :3].T + T[0, :3, 3]
            m = measure(pts, depth, K, T, depth > 0, region_depth(depth))
            keep = ~m.free & ~m.surface & m.region
            kept.append((pts[keep], prob.to(depth.device)[keep]))
        hidden = hidden_references(vs)
        for t in THRESHOLDS:
            points = [p[c >= t] for p, c in kept]
            scores.update(head_scores(vs, points, suffix=f"@{t:g}", hidden=hidden))
    head.train(was_training)
    return scores


def selection(scores: dict[str, float]) -> tuple[float, float | None]:
    """(coverage, threshold) of the best threshold with precision >= MIN_PRECISION.

    (-1, None) when no threshold is that precise.
    """
    best = (-1.0, None)
    for t in THRESHOLDS:
        if scores[f"precision@5cm@{t}"] >= MIN_PRECISION:
            best = max(best, (scores[f"hidden_covered@5cm@{t}"], t), key=lambda x: x[0])
    return best

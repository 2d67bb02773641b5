"""The frustum protocol: score a cloud on the region in front of a window's cameras.

DESIGN.md (Metrics) and the real-data issue define it; in short, for one window:

- Region: the union over the window's views of the points with optical z in
  (0.1 m, p99 of that view's valid depth + 0.15 m] that project inside the image.
- Target: the reference surface (the complete surface on synthetic data, the TSDF
  fusion of every frame of a real sequence) cut to the region.
- ``outside``: share of all predicted points outside the region. The prediction is
  then cut to the region; prediction and target are each subsampled to 16,384 points
  (seeded).
- Observed points: every valid input depth pixel back-projected. Hidden target points
  (per tau): farther than tau from every observed point.
- Judged: a predicted point is judged when some frame of the sequence has a valid depth
  d at its pixel with z <= d + 3 cm (that frame measured the space there, free or
  surface). On synthetic data the complete surface is known everywhere, so every point
  is judged. ``unjudged`` = share of in-region predicted points not judged.

Keys per threshold ``@X`` (2/5/10 cm on real data, 1/2/5 cm on synthetic data):
``precision`` (judged points within tau of the target), ``precision_all`` (all points),
``recall``, ``fscore`` (from ``precision`` and ``recall``), ``hidden_recall``,
``hidden_fraction``, ``completed_share`` (predicted points farther than tau from every
observed point), ``completed_precision`` (judged completed points within tau); plus
``outside``, ``unjudged`` and the chamfer distances.

Frames: everything here is in the world frame of the true poses; ``T_world_cam`` maps
camera (OpenCV optical) points into it; K is 3x3 at the depth image's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nova3r_ros.core.transforms import se3_inverse
from nova3r_ros.eval.metrics import N_EVAL_POINTS, nn_distances, resample

REGION_Z_MIN = 0.1  # m
REGION_MARGIN = 0.15  # m beyond the view's p99 depth
JUDGE_MARGIN = 0.03  # m: a frame measured the space up to its depth + this
REAL_THRESHOLDS_CM = (2, 5, 10)
SYNTHETIC_THRESHOLDS_CM = (1, 2, 5)


@dataclass(frozen=True)
class Camera:
    """One view's geometry for the region and judged rules.

    Attributes:
        K: 3x3 intrinsics at (height, width); T_world_cam: 4x4 camera-to-world.
        height, width: image size (px); z_max: far end of the view's region (m).

    """

    K: np.ndarray
    T_world_cam: np.ndarray
    height: int
    width: int
    z_max: float


def region_camera(depth: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray) -> Camera:
    """Return one view's region: z in (0.1 m, p99 of its valid depth + 0.15 m] in the image."""
    d = np.asarray(depth, np.float64)
    valid = d[np.isfinite(d) & (d > 0)]
    z_max = float(np.percentile(valid, 99)) + REGION_MARGIN if valid.size else 0.0
    h, w = d.shape
    return Camera(np.asarray(K, np.float64), np.asarray(T_world_cam, np.float64), h, w, z_max)


def project(points: np.ndarray, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World points (N, 3) -> optical z (N,), pixel column u and row v (N,) in ``cam``."""
    T = se3_inverse(cam.T_world_cam)
    pc = points @ T[:3, :3].T + T[:3, 3]
    z = pc[:, 2]
    safe = np.where(np.abs(z) > 1e-9, z, 1e-9)
    u = cam.K[0, 0] * pc[:, 0] / safe + cam.K[0, 1] * pc[:, 1] / safe + cam.K[0, 2]
    v = cam.K[1, 1] * pc[:, 1] / safe + cam.K[1, 2]
    return z, u, v


def _pixel(u: np.ndarray, v: np.ndarray, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest pixel (row, column) and whether it lies inside the image."""
    col, row = np.rint(u), np.rint(v)
    inside = (col >= 0) & (row >= 0) & (col < cam.width) & (row < cam.height)
    return (
        np.where(inside, row, 0).astype(np.int64),
        np.where(inside, col, 0).astype(np.int64),
        inside,
    )


def in_region(points: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """(N,) bool: the point lies in the region of at least one camera."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    mask = np.zeros(points.shape[0], bool)
    for cam in cameras:
        z, u, v = project(points, cam)
        _, _, inside = _pixel(u, v, cam)
        mask |= inside & (z > REGION_Z_MIN) & (z <= cam.z_max)
    return mask


def judged(points: np.ndarray, frames: Sequence[tuple[np.ndarray, Camera]]) -> np.ndarray:
    """(N,) bool: some frame has valid depth d at the point's pixel with z <= d + 3 cm.

    Args:
        points: (N, 3) world points.
        frames: (depth (H, W) metres, 0 = invalid; its Camera) for every frame of the
            sequence.

    """
    return _any_frame(points, frames, lambda z, d: (z > 0) & (z <= d + JUDGE_MARGIN))


def measured(
    points: np.ndarray, frames: Sequence[tuple[np.ndarray, Camera]], tol: float
) -> np.ndarray:
    """(N,) bool: some frame has valid depth d at the point's pixel with |z - d| <= ``tol``.

    ``frames`` as for :func:`judged`; points with z <= 1 mm are never measured.
    """
    return _any_frame(points, frames, lambda z, d: (z > 1e-3) & (np.abs(d - z) <= tol))


def _any_frame(points, frames, test) -> np.ndarray:
    """(N,) bool: some frame has valid depth d at the point's pixel where ``test(z, d)``."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    mask = np.zeros(points.shape[0], bool)
    for depth, cam in frames:
        z, u, v = project(points, cam)
        row, col, inside = _pixel(u, v, cam)
        d = depth[row, col]
        mask |= inside & (d > 0) & test(z, d)
    return mask


def frustum_metrics(
    pred: np.ndarray,
    reference: np.ndarray,
    cameras: Sequence[Camera],
    observed: np.ndarray,
    thresholds_cm: Sequence[float],
    judge_frames: Sequence[tuple[np.ndarray, Camera]] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Every key of the module docstring for one window.

    Args:
        pred: (N, 3) predicted points, world frame (metres).
        reference: (M, 3) reference surface, world frame (cut to the region here).
        cameras: the window's views (region).
        observed: (K, 3) every valid input depth pixel back-projected, world frame.
        thresholds_cm: tau values in cm.
        judge_frames: every frame of the sequence for the judged rule; None = every
            predicted point is judged (synthetic data: the complete surface is known).
        seed: subsampling seed.

    """
    pred = np.asarray(pred, np.float64).reshape(-1, 3)
    inside = in_region(pred, cameras)
    out = {"outside": float(1.0 - inside.mean()) if inside.size else 0.0}
    pred = resample(pred[inside], N_EVAL_POINTS, seed)
    ref = np.asarray(reference, np.float64).reshape(-1, 3)
    target = resample(ref[in_region(ref, cameras)], N_EVAL_POINTS, seed + 1)
    is_judged = np.ones(len(pred), bool) if judge_frames is None else judged(pred, judge_frames)
    out["unjudged"] = float(1.0 - is_judged.mean()) if len(pred) else 0.0
    d_pred = nn_distances(pred, target)
    d_tgt = nn_distances(target, pred)
    d_pred_obs = nn_distances(pred, observed)
    d_tgt_obs = nn_distances(target, observed)
    out["chamfer_accuracy"] = float(d_pred.mean()) if d_pred.size else float("inf")
    out["chamfer_completeness"] = float(d_tgt.mean()) if d_tgt.size else float("inf")

    def share(mask: np.ndarray, of: np.ndarray | None = None) -> float:
        pool = mask if of is None else mask[of]
        return float(pool.mean()) if pool.size else float("nan")

    for cm in thresholds_cm:
        tau, key = cm / 100.0, f"{cm:g}cm"
        near = d_pred < tau
        p = share(near, is_judged) if len(pred) else 0.0
        r = share(d_tgt < tau) if len(target) else 0.0
        p0 = 0.0 if np.isnan(p) else p
        hidden = d_tgt_obs > tau
        completed = d_pred_obs > tau
        out[f"precision@{key}"] = p0
        out[f"precision_all@{key}"] = share(near) if len(pred) else 0.0
        out[f"recall@{key}"] = r
        out[f"fscore@{key}"] = 2 * p0 * r / (p0 + r) if p0 + r > 0 else 0.0
        out[f"hidden_recall@{key}"] = share(d_tgt < tau, hidden)
        out[f"hidden_fraction@{key}"] = share(hidden) if len(target) else float("nan")
        out[f"completed_share@{key}"] = share(completed) if len(pred) else 0.0
        out[f"completed_precision@{key}"] = share(near, completed & is_judged)
    return out


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Return the expected calibration error of ``confidence`` (N,) against ``correct`` (N,).

    Equal-width bins; the weighted mean over bins of |mean confidence - accuracy|. NaN
    for no points.
    """
    conf = np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)
    ok = np.asarray(correct, bool)
    if conf.size == 0:
        return float("nan")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.mean() * abs(conf[sel].mean() - ok[sel].mean())
    return float(err)

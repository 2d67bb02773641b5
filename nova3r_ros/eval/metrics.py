"""Every metric of DESIGN.md, implemented once (numpy + scipy).

Geometry metrics compare a predicted cloud with the ground-truth complete surface,
both Nx3 in the same frame and units (metres for metric outputs). Before any
geometry metric, each cloud is resampled to at most ``N_EVAL_POINTS`` points
(random subset, seeded) so that methods are compared at the same density.

Pose metrics take lists of 4x4 camera-to-world (or camera-to-reference) poses,
OpenCV optical frames, and follow VGGT's protocol over all view pairs.
Values are fractions in [0, 1] or metres; keys are those of DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy.spatial import cKDTree

from nova3r_ros.core.checks import as_points
from nova3r_ros.core.transforms import align_camera_centres, rotation_angle_deg, transform_points

N_EVAL_POINTS = 16_384
METRIC_THRESHOLDS_CM = (1, 2, 5)
NORMALIZED_THRESHOLDS = (0.1, 0.05, 0.02)
POSE_THRESHOLDS_DEG = (5, 15, 30)


def resample(points: np.ndarray, n: int = N_EVAL_POINTS, seed: int = 0) -> np.ndarray:
    """Return a random subset of ``n`` rows of an Nx3 cloud (all rows if N <= n)."""
    points = as_points(points, "points", np.float64)
    if points.shape[0] <= n:
        return points
    idx = np.random.default_rng(seed).choice(points.shape[0], n, replace=False)
    return points[np.sort(idx)]


def nn_distances(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Distance from every row of ``src`` (Nx3) to its nearest row of ``dst`` (Mx3)."""
    if dst.shape[0] == 0:
        return np.full(src.shape[0], np.inf)
    if src.shape[0] == 0:
        return np.zeros(0)
    return cKDTree(dst).query(src, k=1, workers=-1)[0]


def chamfer_and_fscore(
    pred: np.ndarray, gt: np.ndarray, thresholds: Sequence[float], suffixes: Sequence[str]
) -> dict[str, float]:
    """Chamfer accuracy/completeness and precision/recall/F-score at each threshold.

    Args:
        pred: Nx3 predicted points; gt: Mx3 ground-truth surface samples (same frame).
        thresholds: distances (same units as the clouds).
        suffixes: key suffix per threshold, e.g. ``"1cm"`` or ``"0.05n"``.

    """
    d_pred = nn_distances(pred, gt)  # accuracy side
    d_gt = nn_distances(gt, pred)  # completeness side
    out = {
        "chamfer_accuracy": float(d_pred.mean()) if d_pred.size else float("inf"),
        "chamfer_completeness": float(d_gt.mean()) if d_gt.size else float("inf"),
    }
    for tau, suffix in zip(thresholds, suffixes, strict=True):
        p = float(np.mean(d_pred < tau)) if d_pred.size else 0.0
        r = float(np.mean(d_gt < tau)) if d_gt.size else 0.0
        out[f"precision@{suffix}"] = p
        out[f"recall@{suffix}"] = r
        out[f"fscore@{suffix}"] = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return out


def metric_geometry(pred: np.ndarray, gt: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Chamfer and precision/recall/F-score at 1/2/5 cm for metric clouds (metres)."""
    pred, gt = resample(pred, seed=seed), resample(gt, seed=seed + 1)
    taus = [c / 100.0 for c in METRIC_THRESHOLDS_CM]
    return chamfer_and_fscore(pred, gt, taus, [f"{c}cm" for c in METRIC_THRESHOLDS_CM])


def normalized_fscores(
    pred: np.ndarray, gt: np.ndarray, camera_centre: np.ndarray, seed: int = 0, iters: int = 5
) -> dict[str, float]:
    """NOVA3R's protocol for outputs of unknown scale: F-score at 0.1/0.05/0.02.

    Both clouds (in the reference camera's frame, or any frame where
    ``camera_centre`` is the reference camera's centre) are divided by their
    median distance to that centre, then the prediction is scaled about the
    centre by the least-squares scale against its nearest ground-truth points
    (a few alternations of matching and the closed-form scale).
    """
    c = np.asarray(camera_centre, dtype=np.float64).reshape(3)
    pred = resample(pred, seed=seed) - c
    gt = resample(gt, seed=seed + 1) - c
    if pred.shape[0] == 0 or gt.shape[0] == 0:
        return {f"fscore@{t}n": 0.0 for t in NORMALIZED_THRESHOLDS}
    pred = pred / max(np.median(np.linalg.norm(pred, axis=1)), 1e-12)
    gt = gt / max(np.median(np.linalg.norm(gt, axis=1)), 1e-12)
    tree = cKDTree(gt)
    for _ in range(iters):
        match = gt[tree.query(pred, k=1, workers=-1)[1]]
        s = float(np.sum(pred * match) / max(np.sum(pred * pred), 1e-12))
        pred = pred * s
    scores = chamfer_and_fscore(
        pred, gt, NORMALIZED_THRESHOLDS, [f"{t}n" for t in NORMALIZED_THRESHOLDS]
    )
    return {k: v for k, v in scores.items() if k.startswith("fscore@")}


def hidden_recall(
    pred: np.ndarray, gt: np.ndarray, observed: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """Occluded recall at 1/2 cm and the hidden fraction at 2 cm.

    A ground-truth point is hidden at threshold tau when it is farther than tau
    from every observed point (every valid input depth pixel, back-projected,
    passed whole as ``observed``); hidden recall is the fraction of hidden
    points within tau of a predicted point. The raw pixel-aligned oracle
    (prediction = observed points) scores exactly 0 by construction.
    """
    pred, gt = resample(pred, seed=seed), resample(gt, seed=seed + 1)
    observed = as_points(observed, "observed", np.float64)
    d_obs = nn_distances(gt, observed)
    d_pred = nn_distances(gt, pred)
    out: dict[str, float] = {}
    for cm in (1, 2):
        tau = cm / 100.0
        hidden = d_obs > tau
        out[f"hidden_recall@{cm}cm"] = (
            float(np.mean(d_pred[hidden] <= tau)) if np.any(hidden) else float("nan")
        )
        if cm == 2:
            out["hidden_fraction@2cm"] = float(np.mean(hidden)) if hidden.size else 0.0
    return out


def density_metrics(pred: np.ndarray, seed: int = 0) -> dict[str, float]:
    """``nn_cv`` (coefficient of variation of NN distances) and ``duplication``.

    ``duplication`` is the fraction of points whose nearest neighbour is closer
    than a quarter of the median nearest-neighbour distance. Both are
    scale-free at the fixed point count.
    """
    pred = resample(pred, seed=seed)
    if pred.shape[0] < 3:
        return {"nn_cv": float("nan"), "duplication": float("nan")}
    d = cKDTree(pred).query(pred, k=2, workers=-1)[0][:, 1]
    mean = d.mean()
    return {
        "nn_cv": float(d.std() / mean) if mean > 0 else float("inf"),
        "duplication": float(np.mean(d < 0.25 * np.median(d))),
    }


def _direction_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return 0.0 if na < 1e-12 and nb < 1e-12 else 90.0
    cos = np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0)
    angle = float(np.degrees(np.arccos(cos)))
    return min(angle, 180.0 - angle)  # VGGT: translation direction up to sign


def pairwise_pose_errors(
    T_pred: Sequence[np.ndarray], T_gt: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Relative rotation and translation-direction errors (degrees) over all view pairs.

    Poses are camera-to-world 4x4; the relative pose of pair (i, j) is
    ``T_i^-1 T_j`` (camera j in camera i's frame), which removes any global
    frame and, for the translation direction, any global scale.
    """
    if len(T_pred) != len(T_gt):
        raise ValueError(f"need as many predicted as true poses, {len(T_pred)} != {len(T_gt)}")
    r_err, t_err = [], []
    for i, j in combinations(range(len(T_gt)), 2):
        rel_p = np.linalg.inv(T_pred[i]) @ T_pred[j]
        rel_g = np.linalg.inv(T_gt[i]) @ T_gt[j]
        r_err.append(float(rotation_angle_deg(rel_p[:3, :3].T @ rel_g[:3, :3])))
        t_err.append(_direction_angle_deg(rel_p[:3, 3], rel_g[:3, 3]))
    return np.asarray(r_err), np.asarray(t_err)


def pose_metrics(T_pred: Sequence[np.ndarray], T_gt: Sequence[np.ndarray]) -> dict[str, float]:
    """RRA/RTA at 5/15/30 degrees and AUC@30 (fraction in [0, 1]) over view pairs."""
    return pose_metrics_from_errors(*pairwise_pose_errors(T_pred, T_gt))


def pose_metrics_from_errors(r_err: np.ndarray, t_err: np.ndarray) -> dict[str, float]:
    """:func:`pose_metrics` of pairwise rotation and translation-direction errors (degrees).

    ``r_err``, ``t_err``: (P,) as :func:`pairwise_pose_errors` returns them, for one window
    or pooled over windows with the same number of pairs each (then equal to the mean of
    the windows' metrics).
    """
    r_err, t_err = np.asarray(r_err, np.float64).ravel(), np.asarray(t_err, np.float64).ravel()
    if r_err.size == 0:
        return {}
    out: dict[str, float] = {}
    for tau in POSE_THRESHOLDS_DEG:
        out[f"rra@{tau}"] = float(np.mean(r_err < tau))
        out[f"rta@{tau}"] = float(np.mean(t_err < tau))
    worst = np.maximum(r_err, t_err)
    # VGGT's calculate_auc_np: mean accuracy over integer thresholds 1..30 degrees.
    hist, _ = np.histogram(worst, bins=np.arange(31))
    out["auc@30"] = float(np.mean(np.cumsum(hist) / worst.size))
    return out


def ate(T_pred: Sequence[np.ndarray], T_gt: Sequence[np.ndarray]) -> float:
    """Absolute trajectory error (m): RMSE of camera centres after Sim(3) alignment."""
    c_pred = np.array([T[:3, 3] for T in T_pred], dtype=np.float64)
    c_gt = np.array([T[:3, 3] for T in T_gt], dtype=np.float64)
    if c_pred.shape != c_gt.shape or c_pred.shape[0] < 2:
        raise ValueError("ATE needs the same number (>= 2) of predicted and true poses")
    if c_pred.shape[0] == 2:  # a Sim(3) maps any 2 centres onto any 2: error 0 by definition
        return 0.0
    try:
        aligned = transform_points(align_camera_centres(T_pred, T_gt), c_pred)
    except ValueError:
        # Degenerate prediction (e.g. every registration failed, all centres at one point):
        # the best Sim(3) then has scale 0 and puts every centre at the true centroid.
        aligned = np.broadcast_to(c_gt.mean(axis=0), c_gt.shape)
    return float(np.sqrt(np.mean(np.sum((aligned - c_gt) ** 2, axis=1))))


def voxel_iou(pred: np.ndarray, gt: np.ndarray, voxel_size: float) -> float:
    """Return the IoU of the voxel sets (edge ``voxel_size``, grid at the origin) of two clouds."""
    a = _voxel_keys(as_points(pred, "pred", np.float64), voxel_size)
    b = _voxel_keys(as_points(gt, "gt", np.float64), voxel_size)
    inter = np.intersect1d(a, b, assume_unique=True).size
    union = a.size + b.size - inter
    return inter / union if union else 1.0


def _voxel_keys(points: np.ndarray, voxel_size: float) -> np.ndarray:
    idx = np.floor(points / voxel_size).astype(np.int64)
    return np.unique(np.ascontiguousarray(idx).view(np.dtype((np.void, 24))).reshape(-1))


def grid_iou(pred_grid: np.ndarray, gt_grid: np.ndarray) -> float:
    """Return the IoU of occupied cells (value 100) of two aligned, same-shape 2D grids."""
    if pred_grid.shape != gt_grid.shape:
        raise ValueError(f"grids differ in shape: {pred_grid.shape} vs {gt_grid.shape}")
    a, b = pred_grid == 100, gt_grid == 100
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0

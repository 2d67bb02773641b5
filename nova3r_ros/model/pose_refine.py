"""Refine a relative camera pose so that two depth maps agree: projective point-to-plane ICP.

``T_ref_src`` (4x4, OpenCV optical frames x right, y down, z forward, metres) maps source
camera points into the reference camera's frame. Per level (pixel strides, coarse to fine)
the source depth is back-projected at the stride, moved by the current pose and projected
into the reference image (projective association, as in KinectFusion); the partner is the
reference's point and normal there, bilinear over the usable of the four pixels around.
Normals: central differences over +-``normal_px`` of the depth averaged over the valid
pixels of that radius; unusable if seen more obliquely than ``max_view_angle_deg`` (grazing
surfaces; depth edges become such ramps). A pair is used when ``|r|``, ``r = n . (T p -
q)``, is within the level's ``max_dist`` (or the sensor's 3 sigma(z), if larger) and the
normals differ by at most ``max_normal_angle_deg``. Gauss-Newton on the Huber-weighted
``r`` over ``T <- exp(xi) T``, ``xi = (v, w)``, Jacobian row ``(n, p x n)``: a 6x6 float64
solve, slightly damped (unobserved directions stay still), shortened so that no point
moves farther than ``max_dist`` per step.

Statistics (finest level, final pose): ``overlap`` = source points projecting in front of
the reference camera onto valid depth; ``inliers`` = those with a partner within the final
distance; ``inlier_share`` = inliers / overlap; ``rmse`` = RMS ``r`` of the inliers (m);
``constraint`` = smallest eigenvalue of the final system per unit weight, rotations scaled
by the mean depth (near 0: one plane, a corridor). Bad or degenerate input never raises:
the initial pose comes back with ``ok`` False and a ``reason``. Depth: (H, W) metres, 0 /
negative / non-finite = no return; K: 3x3 at (H, W). Torch on the source depth's device
(CPU or CUDA), batched over points, hypotheses and view pairs (:func:`refine_batch`; the
kernels are :mod:`.pose_icp`'s) with fixed iteration counts and a single read back to the
host per batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from nova3r_ros.model import pose_icp
from nova3r_ros.model.measurement import SIGMA_COEFF, sanitize


def check_levels(cfg) -> None:
    """Check the coarse-to-fine settings an ICP config shares (ValueError naming the field).

    ``cfg`` has ``strides``, ``max_dist``, ``iterations`` (one entry per level),
    ``huber_delta``, ``max_view_angle_deg`` and ``max_normal_angle_deg``
    (:class:`RefineConfig`, :class:`~nova3r_ros.model.pose_joint.JointConfig`).
    """
    n = len(cfg.strides)
    if n == 0 or len(cfg.max_dist) != n or len(cfg.iterations) != n:
        raise ValueError("strides, max_dist and iterations need one entry per level")
    if any(int(s) != s or s < 1 for s in cfg.strides):
        raise ValueError(f"strides must be positive integers, got {cfg.strides}")
    if any(not d > 0 or not math.isfinite(d) for d in cfg.max_dist):
        raise ValueError(f"max_dist must be positive, got {cfg.max_dist}")
    if any(int(i) != i or i < 0 for i in cfg.iterations):
        raise ValueError(f"iterations must be non-negative integers, got {cfg.iterations}")
    if not cfg.huber_delta > 0 or not 0 < cfg.max_view_angle_deg < 90:
        raise ValueError("huber_delta must be > 0 and max_view_angle_deg in (0, 90)")
    if not 0 < cfg.max_normal_angle_deg <= 180:
        raise ValueError("max_normal_angle_deg must be in (0, 180]")


@dataclass(frozen=True)
class RefineConfig:
    """Settings of :func:`refine_pose`, checked on construction.

    Attributes:
        strides: source pixel stride per level, coarse to fine.
        normal_px: central-difference baseline of the normals (pixels, at most the stride).
        max_dist: per level, the largest distance (m) of a corresponding pair.
        iterations: per level, the most Gauss-Newton steps.
        huber_delta: residual (m) beyond which a pair's weight falls as delta / |r|.
        min_overlap: fewest overlapping source points (finest level) for a result.
        min_correspondences: fewest corresponding pairs for a Gauss-Newton step.
        max_view_angle_deg: normals more oblique to their ray are unusable.
        max_normal_angle_deg: pairs whose normals differ more are not solved for.
        sigma_coeff: depth noise sigma(z) = sigma_coeff z^2; pairs within 3 sigma(z) are
            used even beyond ``max_dist`` (0: off).
        min_constraint: a final system whose smallest eigenvalue, per unit weight with
            rotations scaled by the points' mean depth, is below this is singular.
        min_inlier_share: a result with a lower inlier share fails (a wrong minimum).
        tol: a step below this (rad and m) ends its level.
        share_tie: :func:`refine_with_hypotheses` takes inlier shares within this of the
            best as equal and then prefers the lower rmse.

    """

    strides: tuple[int, ...] = (8, 4, 2)
    max_dist: tuple[float, ...] = (0.5, 0.1, 0.03)
    iterations: tuple[int, ...] = (10, 10, 10)
    normal_px: int = 2
    huber_delta: float = 0.01
    sigma_coeff: float = SIGMA_COEFF
    min_overlap: int = 200
    min_correspondences: int = 30
    max_view_angle_deg: float = 80.0
    max_normal_angle_deg: float = 45.0
    min_constraint: float = 1e-3
    min_inlier_share: float = 0.5
    tol: float = 1e-5
    share_tie: float = 0.02

    def __post_init__(self) -> None:
        check_levels(self)
        if self.min_overlap < 1 or self.min_correspondences < 6 or self.normal_px < 1:
            raise ValueError("need min_overlap >= 1, min_correspondences >= 6, normal_px >= 1")
        if min(self.min_constraint, self.tol, self.sigma_coeff) < 0:
            raise ValueError("min_constraint, tol and sigma_coeff must be >= 0")
        if not (0 <= self.share_tie <= 1 and 0 <= self.min_inlier_share <= 1):
            raise ValueError("share_tie and min_inlier_share must be in [0, 1]")


def _as_matrix(x, shape) -> np.ndarray | None:
    """``x`` as a finite float64 array of ``shape``, or None."""
    try:
        t = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, np.float64)
    except (TypeError, ValueError, RuntimeError):
        return None
    return t if t.shape == shape and np.isfinite(t).all() else None


def _init_problem(T: np.ndarray | None) -> str:
    """Return why ``T`` (float64 or None) is no initial pose, or ``""``."""
    if T is None:  # also said of a malformed K
        return "K must be finite 3x3 and T_ref_src_init finite 4x4"
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or not (T[3] == (0, 0, 0, 1)).all():
        return "T_ref_src_init is not a rigid transform"
    if np.linalg.det(R) <= 0:
        return "T_ref_src_init is a reflection"
    return ""


def _empty_stats() -> dict:
    return {"ok": False, "reason": "", "rmse": math.nan, "inlier_share": 0.0, "overlap": 0,
            "inliers": 0, "constraint": 0.0, "iterations": 0, "time_s": 0.0}  # fmt: skip


def _verdict(out: dict, k: int, cfg: RefineConfig) -> dict:
    """Return stats and checks of problem ``k`` of :func:`~.pose_icp.icp`'s host output."""
    st = _empty_stats()
    n_overlap, n_in, n_corr = (int(out[key][k]) for key in ("overlap", "inliers", "corr"))
    st.update(iterations=int(out["steps"][k]), overlap=n_overlap, inliers=n_in,
              inlier_share=n_in / max(n_overlap, 1))  # fmt: skip
    if n_in:
        st["rmse"] = math.sqrt(out["sq"][k] / n_in)
    if st["iterations"] == 0 or n_corr < cfg.min_correspondences:
        return {**st, "reason": "too few correspondences"}
    if n_overlap < cfg.min_overlap:
        return {**st, "reason": f"too little overlap ({n_overlap} points)"}
    constraint = float(np.linalg.eigvalsh(out["Hn"][k])[0]) if out["finite"][k] else 0.0
    st["constraint"] = constraint
    if constraint < cfg.min_constraint or not np.isfinite(out["T"][k]).all():
        return {**st, "reason": f"singular system (constraint {constraint:.2e})"}
    if st["inlier_share"] < cfg.min_inlier_share:
        return {**st, "reason": f"inlier share {st['inlier_share']:.2f} < {cfg.min_inlier_share}"}
    return {**st, "ok": True}


def refine_batch(
    depth_src: torch.Tensor,
    K_src: torch.Tensor,
    depth_ref: torch.Tensor,
    K_ref: torch.Tensor,
    src: list[int],
    ref: list[int],
    inits: list,
    config: RefineConfig | None = None,
) -> list[tuple[np.ndarray | None, dict]]:
    """Refine many ``T_ref_src`` at once: problem k aligns ``src[k]`` to ``ref[k]``.

    ``depth_src`` (S, H, W) and ``depth_ref`` (R, H', W') are sanitized float32 depth on
    one device (the same tensor for a window's views: its maps are made once), ``K_src``,
    ``K_ref`` their float32 intrinsics there, ``inits[k]`` the initial 4x4 pose (array or
    tensor; a problem whose pose is not finite and rigid fails with the reason). All
    problems run as one batch, read back to the host once. Returns per problem the refined
    pose (float64 numpy; None if it failed) and :func:`refine_pose`'s stats.
    """
    t0 = time.perf_counter()
    cfg = config or RefineConfig()
    T64 = [_as_matrix(T, (4, 4)) for T in inits]
    why = [_init_problem(T) for T in T64]
    results = [(None, {**_empty_stats(), "reason": w}) for w in why]
    todo = [k for k, w in enumerate(why) if not w]
    if not todo:
        return results
    dev = depth_src.device

    si = torch.tensor([src[k] for k in todo], device=dev)
    ri = torch.tensor([ref[k] for k in todo], device=dev)
    T0 = torch.from_numpy(np.stack([T64[k] for k in todo])).to(dev)
    out = pose_icp.icp(depth_src, K_src, depth_ref, K_ref, si, ri, T0, cfg)
    dt = time.perf_counter() - t0
    for row, k in enumerate(todo):
        st = {**_verdict(out, row, cfg), "time_s": dt}
        results[k] = (out["T"][row].copy() if st["ok"] else None), st
    return results


def _pair(depth_src, K_src, depth_ref, K_ref):
    """Return sanitized depth (1, H, W) and float32 K (1, 3, 3) of both views, or why not."""
    try:
        d_src, d_ref = torch.as_tensor(depth_src), torch.as_tensor(depth_ref)
    except (TypeError, ValueError, RuntimeError):
        return "depth is not a tensor"
    if d_src.ndim != 2 or d_ref.ndim != 2 or min(*d_src.shape, *d_ref.shape) < 2:
        return "depth must be (H, W) with H, W >= 2"
    dev = d_src.device
    Ks, Kr = _as_matrix(K_src, (3, 3)), _as_matrix(K_ref, (3, 3))
    if Ks is None or Kr is None:
        return "K must be finite 3x3 and T_ref_src_init finite 4x4"
    if min(Ks[0, 0], Ks[1, 1], Kr[0, 0], Kr[1, 1]) <= 0:
        return "focal lengths must be positive"
    d_src, d_ref = sanitize(d_src), sanitize(d_ref.to(dev))
    if not bool((d_src > 0).any()) or not bool((d_ref > 0).any()):
        return "no valid depth"
    Ks, Kr = (torch.from_numpy(k).float()[None].to(dev) for k in (Ks, Kr))
    return d_src[None], Ks, d_ref[None], Kr


def _solve_inits(depth_src, K_src, depth_ref, K_ref, inits, cfg):
    """Refine from every initial pose in one batch: [(pose, stats)] as :func:`refine_pose`."""
    t0 = time.perf_counter()
    tensors = []
    for x in inits:
        try:
            tensors.append(torch.as_tensor(x))
        except (TypeError, ValueError, RuntimeError):
            tensors.append(torch.empty(0))
    pair = _pair(depth_src, K_src, depth_ref, K_ref)
    if isinstance(pair, str):
        solved = [(None, {**_empty_stats(), "reason": pair})] * len(inits)
    else:
        solved = refine_batch(*pair, [0] * len(inits), [0] * len(inits), tensors, cfg)
    results = []
    for x, t, (T, st) in zip(inits, tensors, solved, strict=True):
        dtype = t.dtype if t.is_floating_point() else torch.float64
        st = {**st, "time_s": time.perf_counter() - t0}
        if T is None:
            results.append(((t.to(dtype) if t.shape == (4, 4) else x), st))
        else:
            results.append((torch.from_numpy(T).to(dtype=dtype, device=t.device), st))
    return results


def refine_pose(
    depth_src: torch.Tensor,
    K_src: torch.Tensor,
    depth_ref: torch.Tensor,
    K_ref: torch.Tensor,
    T_ref_src_init: torch.Tensor,
    config: RefineConfig | None = None,
) -> tuple[torch.Tensor, dict]:
    """Refine T_ref_src (camera src -> camera ref, metres) so that src's depth agrees with ref's.

    Returns ``(T_ref_src, stats)``: the 4x4 pose in the initial pose's dtype (float64 if
    that is not floating) and device, and ``stats`` with ``ok``, ``reason`` (empty if ok),
    ``rmse`` (m), ``inlier_share``, ``overlap``, ``inliers``, ``constraint``,
    ``iterations``, ``time_s``. On failure the pose is the initial one. The method is
    described in the module docstring.
    """
    cfg = config or RefineConfig()
    return _solve_inits(depth_src, K_src, depth_ref, K_ref, [T_ref_src_init], cfg)[0]


def best_hypothesis(stats: list[dict], cfg: RefineConfig) -> int:
    """Return the index of the best successful result (-1 if none).

    The best has the highest inlier share, among those within ``share_tie`` of it the
    lowest rmse.
    """
    good = [i for i, st in enumerate(stats) if st["ok"]]
    if not good:
        return -1
    top = max(stats[i]["inlier_share"] for i in good)
    tied = [i for i in good if stats[i]["inlier_share"] >= top - cfg.share_tie]
    return min(tied, key=lambda i: stats[i]["rmse"])


def refine_with_hypotheses(
    depth_src: torch.Tensor,
    K_src: torch.Tensor,
    depth_ref: torch.Tensor,
    K_ref: torch.Tensor,
    inits: list[torch.Tensor],
    config: RefineConfig | None = None,
) -> tuple[torch.Tensor, dict]:
    """Refine from each initial ``T_ref_src`` in ``inits`` (one batch) and keep the best.

    The best is the successful result with the highest inlier share, among those within
    ``share_tie`` of it the lowest rmse. Returns ``(T_ref_src, stats)``: the winner's stats
    plus ``best`` (its index, -1 if none succeeded, then the pose is ``inits[0]``) and
    ``hypotheses`` (each result's stats with its ``pose``).
    """
    cfg = config or RefineConfig()
    results = _solve_inits(depth_src, K_src, depth_ref, K_ref, list(inits), cfg)
    hyps = [{**st, "pose": T} for T, st in results]
    best = best_hypothesis([st for _, st in results], cfg)
    if best < 0:
        none = (torch.eye(4, dtype=torch.float64), {"ok": False, "reason": "no hypotheses"})
        first = results[0] if results else none
        return first[0], {**first[1], "best": -1, "hypotheses": hyps}
    return results[best][0], {**results[best][1], "best": best, "hypotheses": hyps}

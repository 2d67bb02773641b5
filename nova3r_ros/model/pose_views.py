"""Refine a window's estimated camera poses against its depth and score each view's pose.

Poses are ``T_ref_cam`` (V, 4, 4) float64, camera-to-view-0, OpenCV optical frames,
metres. Two stages (:func:`refine_views`): views chained in order, each aligned to the one
before it by point-to-plane ICP from several hypotheses (:mod:`.pose_refine`: the camera
head's relative guess and no motion; if that fails, to view 0 directly), which finds the
basin; then all chained views refined together against each other (:mod:`.pose_joint`),
which removes the chain's drift. Every link starts from the head's guess, not from the
links before it, so all links and hypotheses are refined as one batch
(:func:`.refine_batch`) and chained on the host afterwards; the fallbacks to view 0 are a
second batch, run only where a link failed. The joint result is kept only if the views'
mean inlier share against each other does not fall by more than ``share_tie`` (the
tolerance within which :func:`.refine_with_hypotheses` calls two shares equal).

Each view gets a pose **confidence** in [0, 1] from the checks the refinement has (view 0,
the reference, has 1): ``share * exp(-(rmse / gate)^2) * min(1, constraint / (10 *
min_constraint)) * agreement``, where ``share`` and ``rmse`` are its final inlier share
and residual against the other views (joint statistics), ``gate`` the final pair distance
of the joint refinement (2 cm), ``constraint`` how well the depth pins the pose down (the
chained link's smallest eigenvalue per unit weight; near 0 for one plane) and
``agreement`` the share of the successful ICP hypotheses that ended within 1 deg and 1 cm
of the chosen one (0.5 when the head's guess and no motion converged to different poses:
an ambiguous scene). A view whose pose fails its checks (no hypothesis converged, or its
final inlier share below ``min_inlier_share``) is not ``ok`` and gets confidence 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from nova3r_ros.model.measurement import sanitize
from nova3r_ros.model.pose_joint import JointConfig, joint_arrays
from nova3r_ros.model.pose_refine import RefineConfig, best_hypothesis, refine_batch

REFINE_WIDTH = 160  # px: depth is strided to about this width for the pose refinement
AGREE_DEG, AGREE_M = 1.0, 0.01  # hypotheses this close to the chosen pose agree with it
#: The chain's settings: :class:`.RefineConfig` without its finest level (stride 2; the
#: joint stage refines further); ``RefineConfig()`` is the earlier three-level chain.
CHAIN = RefineConfig(strides=(8, 4), max_dist=(0.5, 0.1), iterations=(10, 10))


@dataclass
class ViewPoses:
    """Refined poses of a window and their per-view checks (all arrays have V entries).

    Attributes:
        T_ref_cam: (V, 4, 4) float64 camera-to-view-0 poses (the head's guess where not ok).
        ok: bool, the pose passed its checks (view 0 always).
        confidence: float in [0, 1] (module docstring); 0 where not ok.
        inlier_share: share of the view's overlapping depth points that lie on the other
            views' surfaces at the final poses.
        rmse: m, RMS point-to-plane residual of those inliers (NaN for none).
        constraint: smallest eigenvalue per unit weight of the view's ICP system.
        agreement: share of successful hypotheses within 1 deg and 1 cm of the chosen one.
        joint: whether the joint refinement's poses were kept.
        time_s: seconds spent.

    """

    T_ref_cam: np.ndarray
    ok: np.ndarray
    confidence: np.ndarray
    inlier_share: np.ndarray
    rmse: np.ndarray
    constraint: np.ndarray
    agreement: np.ndarray
    joint: bool = False
    time_s: float = 0.0

    def stats(self) -> dict[str, float]:
        """Return flat numbers for ``Reconstruction.stats`` (see :func:`per_view`)."""
        out = {"views_refined": float(self.ok[1:].sum()),
               "views_pose_failed": float((~self.ok).sum()),
               "pose_joint": float(self.joint), "pose_refine_s": self.time_s}  # fmt: skip
        for name in ("confidence", "ok", "inlier_share", "rmse"):
            for i, x in enumerate(getattr(self, name)):
                out[f"pose_{name}_{i}"] = float(x)
        return out


def per_view(stats: dict, name: str, n_views: int) -> np.ndarray:
    """Read ``pose_<name>_<i>`` of ``n_views`` views back from ``Reconstruction.stats``.

    ``name``: ``confidence``, ``ok``, ``inlier_share`` or ``rmse``; a missing entry is NaN.
    """
    return np.array([stats.get(f"pose_{name}_{i}", math.nan) for i in range(n_views)])


def _angle_deg(R: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(R)) - 1) / 2))))


def _agreement(stats: dict) -> float:
    """Share of the successful hypotheses within AGREE_DEG / AGREE_M of the chosen one."""
    hyps = [h for h in stats.get("hypotheses", []) if h["ok"]]
    if not hyps or stats.get("best", -1) < 0:
        return 0.0
    best = np.asarray(stats["hypotheses"][stats["best"]]["pose"], np.float64)
    near = 0
    for h in hyps:
        T = np.asarray(h["pose"], np.float64)
        d = np.linalg.inv(best) @ T
        near += _angle_deg(d[:3, :3]) <= AGREE_DEG and np.linalg.norm(d[:3, 3]) <= AGREE_M
    return near / len(hyps)


def strided_depth(depth: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the refinement's depth and intrinsics: (V, h, w) and (V, 3, 3).

    The depth sanitised and strided to about :data:`REFINE_WIDTH` px wide, K at that stride.
    """
    f = max(1, depth.shape[2] // REFINE_WIDTH)
    Kf = K.float().clone()
    Kf[:, :2] /= f
    return sanitize(depth)[:, ::f, ::f], Kf


def align_links(d: torch.Tensor, K: torch.Tensor, links: list, cfg: RefineConfig) -> list:
    """Align view ``src`` to ``dst`` of each ``(src, dst, guess)``, all links in one batch.

    Each link is refined from the guess and from no motion. Returns per link the best
    ``T_dst_src`` (float64 numpy, None if none succeeded) and
    :func:`.refine_with_hypotheses`'s stats.
    """
    if not links:
        return []
    eye = np.eye(4, dtype=np.float32)
    inits = [T0 for _, _, g in links for T0 in (np.asarray(g, np.float32), eye)]
    src = [s for s, _, _ in links for _ in range(2)]
    dst = [t for _, t, _ in links for _ in range(2)]
    res = refine_batch(d, K, d, K, src, dst, inits, cfg)
    out = []
    for k in range(len(links)):
        hyps = [{**st, "pose": (T0 if T is None else T.astype(np.float32))}
                for T0, (T, st) in zip(inits[2 * k : 2 * k + 2], res[2 * k : 2 * k + 2],
                                       strict=True)]  # fmt: skip
        best = best_hypothesis(hyps, cfg)
        st = {**hyps[max(best, 0)], "best": best, "hypotheses": hyps}
        out.append((hyps[best]["pose"].astype(np.float64) if best >= 0 else None, st))
    return out


def refine_views(
    T_ref_pred: np.ndarray,
    depth: torch.Tensor,
    K: torch.Tensor,
    joint: JointConfig | None = None,
    chain: RefineConfig | None = None,
    use_joint: bool = True,
) -> ViewPoses:
    """Refine each view's pose against the depth and score it (module docstring).

    Args:
        T_ref_pred: (V, 4, 4) metric camera-to-view-0 guesses (the camera head's).
        depth: (V, H, W) metres on the model's device; strided to about 160 px wide.
        K: (V, 3, 3) intrinsics at (H, W).
        joint, chain: settings of the two stages (defaults: :class:`JointConfig`,
            :data:`CHAIN`); ``use_joint`` False stops after the chain.

    Returns:
        :class:`ViewPoses`.

    """
    t0 = time.perf_counter()
    chain = chain or CHAIN
    joint = joint or JointConfig()
    V = len(T_ref_pred)
    d, Kf = strided_depth(depth, K)
    out = np.array(T_ref_pred, dtype=np.float64, copy=True)
    ok = np.zeros(V, bool)
    ok[0] = True
    share, rmse = np.full(V, np.nan), np.full(V, np.nan)  # NaN: no check for that view
    constraint, agreement = np.full(V, np.nan), np.zeros(V)
    share[0], rmse[0], constraint[0], agreement[0] = 1.0, 0.0, np.inf, 1.0
    links = align_links(d, Kf, [(i, i - 1, np.linalg.inv(T_ref_pred[i - 1]) @ T_ref_pred[i])
                           for i in range(1, V)], chain)  # fmt: skip
    retry = [i for i in range(2, V) if links[i - 1][0] is None]
    direct = dict(zip(retry, align_links(d, Kf, [(i, 0, T_ref_pred[i]) for i in retry], chain),
                      strict=True))  # fmt: skip
    for i in range(1, V):
        rel, st = links[i - 1]
        placed = None if rel is None else out[i - 1] @ rel
        if placed is None and i > 1:
            placed, st = direct[i]
        if placed is not None:
            out[i], ok[i] = placed, True
            share[i], rmse[i] = st["inlier_share"], st["rmse"]
            constraint[i], agreement[i] = st["constraint"], _agreement(st)
    used = False
    idx = np.flatnonzero(ok)
    if use_joint and len(idx) > 1:
        sub = slice(None) if len(idx) == V else torch.from_numpy(idx).to(d.device)
        T_j, js = joint_arrays(d[sub], Kf[sub], torch.from_numpy(out[idx]), joint)
        before, after = np.array(js["inlier_share_init"]), np.array(js["inlier_share"])
        finite = bool(np.isfinite(T_j).all())
        used = finite and bool(after.mean() >= before.mean() - chain.share_tie)
        pick = after if used else before
        share[idx], rmse[idx] = pick, np.array(js["rmse" if used else "rmse_init"])
        if used:
            out[idx] = T_j
    ok &= share >= chain.min_inlier_share
    ok[0] = True
    gate = joint.max_dist[-1]
    q_rmse = np.exp(-np.square(np.nan_to_num(rmse, nan=np.inf) / gate))
    q_con = np.minimum(1.0, constraint / max(10 * chain.min_constraint, 1e-12))
    conf = np.where(ok, np.nan_to_num(np.clip(share, 0, 1) * q_rmse * q_con * agreement), 0.0)
    conf[0] = 1.0
    return ViewPoses(out, ok, conf, share, rmse, constraint, agreement, used,
                     time.perf_counter() - t0)  # fmt: skip

"""Refine all camera poses of a window together: multi-view projective point-to-plane ICP.

Poses ``T_ref_cam`` (V, 4, 4) map each camera's points (OpenCV optical frame: x right,
y down, z forward, metres) into view 0's frame, which stays fixed. Every ordered pair
``(i, j)``, ``i != j``, contributes the residuals of :mod:`nova3r_ros.model.pose_refine`:
view i's depth (at the level's pixel stride) is moved by ``T_j^-1 T_i`` and projected
into view j (projective association), and ``r = n . (T_j^-1 T_i p - q)`` with q, n view
j's bilinear vertex and normal there, gated by distance (or the sensor's 3 sigma(z)) and
normal angle, Huber-weighted. In view 0's frame (``p_w = T_i p``, ``n_w = R_j n``) the
Jacobian of ``r`` is ``(n_w, p_w x n_w)`` for view i's twist and its negative for view
j's (``T <- exp(xi) T``), so one Gauss-Newton step solves a 6(V-1) system for all views
at once (float64, on the CPU, slightly damped). Chained pairwise refinement drifts (each
link's error is passed on) and uses each view against one neighbour; here every
overlapping pair constrains the poses, and their errors average out.

Everything per level is batched over pairs (one gather per iteration, no Python loop over
pairs), in torch on the depth's device (CPU or CUDA), with :mod:`.pose_icp`'s kernels:
fixed iteration counts with masked steps, the system solved on the device, the whole
refinement (maps, gathers, every level's steps, statistics) replayed as one CUDA graph on
a GPU (:mod:`.cuda_graphs`), and one read back to the host at the end. The joint step
refines: it needs initial poses within its gates (e.g.
:func:`~nova3r_ros.model.inference.refine_views`'s chained result) and does not search for
the basin.

Per-view statistics (finest level, final poses; view i's points against every other
view): ``overlap`` = points landing in front of another view on its valid depth;
``inliers`` = those with a partner within the final gate; ``inlier_share``; ``rmse`` (m)
of the inliers' residuals.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from nova3r_ros.model import pose_icp
from nova3r_ros.model.cuda_graphs import GRAPHS
from nova3r_ros.model.measurement import MIN_Z, SIGMA_COEFF, sanitize
from nova3r_ros.model.pose_refine import check_levels


@dataclass(frozen=True)
class JointConfig:
    """Settings of :func:`refine_joint`, checked on construction.

    The defaults (two levels, stride 2 at the finest, 4 steps each) replaced three levels
    ending at full resolution (``strides=(4, 2, 1), max_dist=(0.05, 0.03, 0.02),
    iterations=(6, 6, 6)``): for 8 views about half the torch operations and a fifth of
    the elements they touch, with the 7-Scenes dev windows' RRA/RTA@5 within one view pair
    of the earlier settings (README, pose section).

    Attributes:
        strides: pixel stride of the source points per level, coarse to fine.
        max_dist: per level, the largest point-to-plane distance (m) of a pair.
        iterations: per level, the most Gauss-Newton steps.
        normal_px: central-difference baseline of the normals (pixels, at most the stride).
        huber_delta: residual (m) beyond which a pair's weight falls as delta / |r|.
        sigma_coeff: depth noise sigma(z) = sigma_coeff z^2; pairs within 3 sigma(z) are
            used even beyond ``max_dist`` (0: off).
        max_view_angle_deg: normals more oblique to their ray are unusable.
        max_normal_angle_deg: pairs whose normals differ more are not solved for.
        min_correspondences: fewest pairs of points (all view pairs) for a step.
        tol: a step whose largest entry is below this (rad and m) ends its level.
        max_gap: only pairs of views at most this far apart in the window's order are
            used (0: every ordered pair; 2 lost RTA@5 0.47 -> 0.35 on 8-view dev windows).
        stats_stride: pixel stride of the per-view statistics before and after (0: the
            finest level's).

    """

    strides: tuple[int, ...] = (4, 2)
    max_dist: tuple[float, ...] = (0.05, 0.02)
    iterations: tuple[int, ...] = (4, 4)
    normal_px: int = 2
    huber_delta: float = 0.01
    sigma_coeff: float = SIGMA_COEFF
    max_view_angle_deg: float = 80.0
    max_normal_angle_deg: float = 45.0
    min_correspondences: int = 30
    tol: float = 1e-5
    max_gap: int = 0
    stats_stride: int = 0

    def __post_init__(self) -> None:
        check_levels(self)
        if self.max_gap < 0 or self.stats_stride < 0:
            raise ValueError("max_gap and stats_stride must be >= 0")
        if self.normal_px < 1:
            raise ValueError(f"normal_px must be >= 1, got {self.normal_px}")
        if self.min_correspondences < 6 or min(self.tol, self.sigma_coeff) < 0:
            raise ValueError("need min_correspondences >= 6, tol >= 0 and sigma_coeff >= 0")


def _pairs(V: int, device, max_gap: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the ordered pairs (i, j), i != j, as two (P,) index tensors and their incidence.

    Pairs farther apart than ``max_gap`` in the window's order are left out (0: none).
    The incidence ``D`` (P, V-1) float64 is +1 at each pair's view i and -1 at its view j
    (view 0, which stays fixed, left out). Made on the host: no device reads.
    """
    gap = np.abs(np.arange(V)[:, None] - np.arange(V)[None])
    i, j = np.nonzero((gap > 0) & ((gap <= max_gap) | (max_gap == 0)))
    D = np.zeros((len(i), V))
    D[np.arange(len(i)), i] += 1.0
    D[np.arange(len(i)), j] -= 1.0
    return (*(torch.from_numpy(x).to(device) for x in (i, j, D[:, 1:])),)


def _level_maps(depth: torch.Tensor, K: torch.Tensor, s: int, pi, cfg: JointConfig):
    """Return each pair's source points at stride ``s`` and every view's flat maps.

    Points and normals (P, M, 3), usable (P, M); the flat maps are those of every view's
    full-resolution depth (:func:`.pose_icp.level_inputs`).
    """
    cos_min = math.cos(math.radians(cfg.max_view_angle_deg))
    m = pose_icp.maps(depth, K, min(s, cfg.normal_px), cos_min)
    return pose_icp.level_inputs(m, m, depth, s, pi)


def _associate(src, ref, T, K, pi, pj, max_dist, cos_normal, sigma_coeff):
    """Batched projective association of view pi's points into view pj, every pair at once.

    ``T`` (V, 4, 4) float32 camera-to-view-0 on the device. Returns the points in view 0's
    frame (P, M, 3), the partners' normals there, residuals (P, M), gated pairs ``near``,
    the pairs solved for ``corr`` (near, usable source, compatible normals) and ``overlap``.
    """
    # (P, 4, 4): camera i -> camera j; inv_ex: inv without its check (a host read)
    Trel = torch.linalg.inv_ex(T[pj])[0] @ T[pi]
    p, n, r, near, corr, overlap = pose_icp.associate(src, ref, Trel, K[pj], pj, max_dist,
                                                      cos_normal, sigma_coeff)  # fmt: skip
    Rj, tj = T[pj][:, :3, :3], T[pj][:, None, :3, 3]
    return p @ Rj.transpose(1, 2) + tj, n @ Rj.transpose(1, 2), r, near, corr, overlap


def _joint_step(pw, nw, r, corr, D, cfg: JointConfig):
    """Return the damped joint twist (V-1, 6) float64 on the device and whether it is finite.

    ``D`` (P, V-1) float64: +1 at each pair's view i, -1 at its view j (view 0 left out).
    """
    w = torch.where(corr, cfg.huber_delta / r.abs().clamp_min(cfg.huber_delta), 0.0).double()
    J = torch.cat([nw, torch.linalg.cross(pw, nw, dim=-1)], -1).double()  # (P, M, 6)
    J = torch.where(corr[..., None], J, 0.0)
    Hp = (J * w[..., None]).transpose(1, 2) @ J  # (P, 6, 6)
    gp = (J.transpose(1, 2) @ torch.where(corr, w * r.double(), 0.0)[..., None])[..., 0]
    n = 6 * D.shape[1]
    A = torch.einsum("pa,pb,pij->aibj", D, D, Hp).reshape(n, n)
    b = (D.T @ gp).reshape(-1)
    wsum = w.sum().clamp_min(1e-12)
    finite = torch.isfinite(A).all() & torch.isfinite(b).all()
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    A = torch.where(finite, A + eye * 1e-6 * wsum, eye)  # keep it solvable
    xi = -torch.linalg.solve_ex(A, b[:, None])[0][:, 0]
    return xi.reshape(-1, 6), finite & torch.isfinite(xi).all()


def _level(P, Ns, src_ok, Vf, Nf, usable, valid, K, pi, pj, D, T, steps, *, hw, dmax, iters,
           cfg: JointConfig):  # fmt: skip
    """Run one level's ``iters`` masked joint steps; return the poses ``T`` and ``steps``.

    A pure function of its tensors (:func:`_level_maps`' ``src`` and ``ref`` unpacked,
    intrinsics, pairs, incidence ``D``, poses (V, 4, 4) float64 and the step count), run
    inside :func:`_stage`'s graph.
    """
    src, ref = (P, Ns, src_ok), (Vf, Nf, usable, valid, hw)
    cos_normal = math.cos(math.radians(cfg.max_normal_angle_deg))
    T = T.clone()
    active = torch.ones((), dtype=torch.bool, device=T.device)
    for _ in range(iters):
        pw, nw, r, _, corr, _ = _associate(src, ref, T.float(), K, pi, pj, dmax, cos_normal,
                                           cfg.sigma_coeff)  # fmt: skip
        xi, good = _joint_step(pw, nw, r, corr, D, cfg)
        cnt = corr.sum()
        depth_scale = torch.where(corr, pw[..., 2].abs(), 0.0).sum() / cnt.clamp_min(1)
        reach = torch.maximum(xi[:, :3].norm(dim=1), xi[:, 3:].norm(dim=1)
                              * depth_scale.clamp_min(MIN_Z)).max()  # fmt: skip
        xi = xi * (dmax / reach.clamp_min(1e-12)).clamp(max=1.0)
        go = active & (cnt >= cfg.min_correspondences) & good
        xi = torch.where(go, xi, 0.0)
        T[1:] = torch.where(go, pose_icp.exp_se3(xi) @ T[1:], T[1:])
        steps = steps + go
        active = go & (xi.abs().max() >= cfg.tol)
    return T, steps


def _view_stats(assoc_out, pi, V: int) -> dict:
    """Return per-view overlap, inlier and squared-residual sums (device tensors, (V,))."""
    _, _, r, near, _, overlap = assoc_out
    z = torch.zeros(V, dtype=torch.float64, device=r.device)
    sq = torch.where(near, r.double().square(), 0.0).sum(1)
    return {"overlap": z.index_add(0, pi, overlap.sum(1).double()),
            "inliers": z.index_add(0, pi, near.sum(1).double()),
            "sq": z.index_add(0, pi, sq)}  # fmt: skip


def _host_stats(st: dict) -> dict:
    """Return per-view lists ``overlap``, ``inliers``, ``inlier_share``, ``rmse``."""
    ov, inl = st["overlap"].astype(int).tolist(), st["inliers"].astype(int).tolist()
    return {
        "overlap": ov,
        "inliers": inl,
        "inlier_share": [i / max(o, 1) for i, o in zip(inl, ov, strict=True)],
        "rmse": [math.sqrt(float(q) / i) if i else math.nan
                 for q, i in zip(st["sq"], inl, strict=True)],
    }  # fmt: skip


def refine_joint(
    depth: torch.Tensor,
    K: torch.Tensor,
    T_ref_cam: torch.Tensor,
    config: JointConfig | None = None,
) -> tuple[torch.Tensor, dict]:
    """Refine every view's ``T_ref_cam`` together (view 0 fixed); see the module docstring.

    Args:
        depth: (V, H, W) metres (0 / negative / non-finite = no return), V >= 2.
        K: (V, 3, 3) intrinsics at (H, W).
        T_ref_cam: (V, 4, 4) initial camera-to-view-0 poses (view 0's is the identity).
        config: settings (default :class:`JointConfig`).

    Returns:
        ``(T, stats)``: T (V, 4, 4) float64 on the CPU; ``stats`` with ``iterations``,
        ``time_s``, ``correspondences`` and per-view lists ``overlap``, ``inliers``,
        ``inlier_share``, ``rmse`` (NaN without inliers) at the final poses and
        ``inlier_share_init``, ``rmse_init`` at the initial ones. Too few correspondences
        at a level skips that level's steps; the initial poses come back if no step was
        taken.

    """
    T, stats = joint_arrays(depth, K, T_ref_cam, config)
    return torch.from_numpy(T), stats


#: Per-view rows of the joint stage's packed result (:func:`.pose_icp.pack`).
JOINT_LAYOUT = (("T", (4, 4)), *((f"{w}_{k}", ()) for w in "ab" for k in ("overlap",
                "inliers", "sq")), ("steps", ()), ("corr", ()))  # fmt: skip


def _stage(depth, K, T, pi, pj, D, *, cfg: JointConfig) -> tuple[torch.Tensor]:
    """Run the whole joint refinement on the device; return its :func:`.pose_icp.pack`-ed rows.

    ``depth`` (V, H, W) unsanitized, ``K`` (V, 3, 3) float32, ``T`` (V, 4, 4) float64
    initial poses, ``pi``, ``pj``, ``D`` :func:`_pairs`. A pure function of its tensors, so
    that :data:`.cuda_graphs.GRAPHS` captures it (maps, point gathers, every level's
    steps, the statistics before and after) as one graph on a GPU.
    """
    depth = sanitize(depth)
    Vn = depth.shape[0]
    T = T.clone()
    T[0] = torch.eye(4, dtype=torch.float64, device=T.device)
    cos_normal = math.cos(math.radians(cfg.max_normal_angle_deg))
    levels = list(zip(cfg.strides, cfg.max_dist, cfg.iterations, strict=True))
    finest = _level_maps(depth, K, cfg.strides[-1], pi, cfg)
    stats = finest
    if cfg.stats_stride and cfg.stats_stride != cfg.strides[-1]:
        stats = _level_maps(depth, K, cfg.stats_stride, pi, cfg)

    def assoc(T, level_maps, dmax):
        return _associate(*level_maps, T.float(), K, pi, pj, dmax, cos_normal, cfg.sigma_coeff)

    before = _view_stats(assoc(T, stats, cfg.max_dist[-1]), pi, Vn)
    steps = torch.zeros((), dtype=torch.long, device=T.device)
    for n, (s, dmax, iters) in enumerate(levels):
        src, ref = finest if n == len(levels) - 1 else _level_maps(depth, K, s, pi, cfg)
        T, steps = _level(*src, *ref[:-1], K, pi, pj, D, T, steps, hw=ref[-1], dmax=dmax,
                          iters=iters, cfg=cfg)  # fmt: skip
    final = assoc(T, stats, cfg.max_dist[-1])
    after = _view_stats(final, pi, Vn)
    return (pose_icp.pack({"T": T, **{f"a_{k}": v for k, v in after.items()},
                           **{f"b_{k}": v for k, v in before.items()},
                           "steps": steps.expand(Vn), "corr": final[4].sum().expand(Vn)},
                          JOINT_LAYOUT),)  # fmt: skip


def joint_arrays(depth, K, T_ref_cam, config: JointConfig | None = None) -> tuple:
    """Return :func:`refine_joint`'s result with T a float64 numpy array.

    On a GPU the whole refinement is one CUDA graph (:func:`_stage`), read back once.
    """
    t0 = time.perf_counter()
    cfg = config or JointConfig()
    depth = torch.as_tensor(depth)
    dev = depth.device
    Kd = torch.as_tensor(K).to(dev, torch.float32)
    T = torch.as_tensor(T_ref_cam).to(dev, torch.float64)
    pi, pj, D = _pairs(depth.shape[0], dev, cfg.max_gap)
    stage = functools.partial(_stage, cfg=cfg)
    (flat,) = GRAPHS(("joint", cfg), stage, depth, Kd, T, pi, pj, D)
    host = pose_icp.unpack(flat.cpu().numpy(), JOINT_LAYOUT)
    init = _host_stats({k[2:]: v for k, v in host.items() if k.startswith("b_")})
    stats = {**_host_stats({k[2:]: v for k, v in host.items() if k.startswith("a_")}),
             "iterations": int(host["steps"][0]), "correspondences": int(host["corr"][0]),
             "inlier_share_init": init["inlier_share"], "rmse_init": init["rmse"],
             "time_s": time.perf_counter() - t0}  # fmt: skip
    return host["T"].copy(), stats

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
pairs), in torch on the depth's device (CPU or CUDA). The joint step refines: it needs
initial poses within its gates (e.g. :func:`~nova3r_ros.model.inference.refine_views`'s
chained result) and does not search for the basin.

Per-view statistics (finest level, final poses; view i's points against every other
view): ``overlap`` = points landing in front of another view on its valid depth;
``inliers`` = those with a partner within the final gate; ``inlier_share``; ``rmse`` (m)
of the inliers' residuals.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nova3r_ros.model.measurement import MIN_Z, SIGMA_COEFF, sanitize
from nova3r_ros.model.pose_refine import _exp_se3, _maps, check_levels


@dataclass(frozen=True)
class JointConfig:
    """Settings of :func:`refine_joint`, checked on construction.

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

    """

    strides: tuple[int, ...] = (4, 2, 1)
    max_dist: tuple[float, ...] = (0.05, 0.03, 0.02)
    iterations: tuple[int, ...] = (6, 6, 6)
    normal_px: int = 2
    huber_delta: float = 0.01
    sigma_coeff: float = SIGMA_COEFF
    max_view_angle_deg: float = 80.0
    max_normal_angle_deg: float = 45.0
    min_correspondences: int = 30
    tol: float = 1e-5

    def __post_init__(self) -> None:
        check_levels(self)
        if self.normal_px < 1:
            raise ValueError(f"normal_px must be >= 1, got {self.normal_px}")
        if self.min_correspondences < 6 or min(self.tol, self.sigma_coeff) < 0:
            raise ValueError("need min_correspondences >= 6, tol >= 0 and sigma_coeff >= 0")


def _pairs(V: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ordered pair (i, j), i != j, as two (P,) index tensors."""
    i, j = torch.meshgrid(torch.arange(V), torch.arange(V), indexing="ij")
    off = i != j
    return i[off].to(device), j[off].to(device)


def _level_maps(depth: torch.Tensor, K: torch.Tensor, s: int, cfg: JointConfig):
    """Source points (V, M, 3) and normals at stride ``s`` with usable (V, M); flat maps.

    The flat maps (V*H*W, 3 / 3 / bool / bool) are vertices, normals, usable and valid
    depth of every view's full-resolution depth (the targets of the association).
    """
    cos_min = math.cos(math.radians(cfg.max_view_angle_deg))
    b = min(s, cfg.normal_px)
    maps = [_maps(depth[v], K[v], b, cos_min) for v in range(depth.shape[0])]
    Vm, Nm, ok = (torch.stack(m) for m in zip(*maps, strict=True))
    src = (Vm[:, ::s, ::s].flatten(1, 2), Nm[:, ::s, ::s].flatten(1, 2),
           ok[:, ::s, ::s].flatten(1, 2))  # fmt: skip
    flat = (Vm.flatten(0, 2), Nm.flatten(0, 2), ok.flatten(), (depth > 0).flatten())
    return src, flat


def _associate(src, flat, T, K, pi, pj, HW, max_dist, cos_normal, sigma_coeff):
    """Batched projective association of view pi's points into view pj, every pair at once.

    ``T`` (V, 4, 4) float32 camera-to-view-0 on the device. Returns the points in view 0's
    frame (P, M, 3), the partners' normals there, residuals (P, M), gated pairs ``near``,
    the pairs solved for ``corr`` (near, usable source, compatible normals) and ``overlap``.
    """
    P_src, N_src, ok_src = src
    Vf, Nf, usable, valid = flat
    H, W = HW
    Trel = torch.linalg.inv(T[pj]) @ T[pi]  # (P, 4, 4): camera i -> camera j
    R, t = Trel[:, :3, :3], Trel[:, None, :3, 3]
    p = P_src[pi] @ R.transpose(1, 2) + t  # (P, M, 3) in camera j
    Kj = K[pj][:, None]  # (P, 1, 3, 3)
    z = p[..., 2]
    front = z > MIN_Z
    zs = torch.where(front, z, torch.ones_like(z))
    y = p[..., 1] / zs
    u = Kj[..., 0, 0] * p[..., 0] / zs + Kj[..., 0, 1] * y + Kj[..., 0, 2]
    v = Kj[..., 1, 1] * y + Kj[..., 1, 2]
    base = (pj * H * W)[:, None]
    inside = front & (u > -0.5) & (v > -0.5) & (u < W - 0.5) & (v < H - 0.5)
    nearest = base + (v.round().clamp(0, H - 1) * W + u.round().clamp(0, W - 1)).long()
    overlap = inside & valid[nearest] & (P_src[pi][..., 2] > 0)
    u0, v0 = u.floor().clamp(0, W - 2), v.floor().clamp(0, H - 2)
    a, b = (u - u0).clamp(0, 1)[..., None], (v - v0).clamp(0, 1)[..., None]
    i00 = base + (v0 * W + u0).long()
    idx = torch.stack([i00, i00 + 1, i00 + W, i00 + W + 1])  # (4, P, M)
    wts = torch.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b])
    wts = wts * usable[idx][..., None]
    wsum = wts.sum(0)
    q = (Vf[idx] * wts).sum(0) / wsum.clamp_min(1e-6)
    n = F.normalize((Nf[idx] * wts).sum(0), dim=-1)
    r = (n * (p - q)).sum(-1)
    near = overlap & (u >= 0) & (v >= 0) & (u <= W - 1) & (v <= H - 1) & (wsum[..., 0] > 0.25)
    near &= r.abs() <= (3.0 * sigma_coeff * q[..., 2] ** 2).clamp_min(max_dist)
    n_src = N_src[pi] @ R.transpose(1, 2)
    corr = near & ok_src[pi] & ((n_src * n).sum(-1) >= cos_normal)
    Rj, tj = T[pj][:, :3, :3], T[pj][:, None, :3, 3]
    return p @ Rj.transpose(1, 2) + tj, n @ Rj.transpose(1, 2), r, near, corr, overlap


def _joint_step(pw, nw, r, corr, pi, pj, V, cfg: JointConfig):
    """Return the damped joint twist (V-1, 6) float64 on the CPU (None if degenerate)."""
    w = (cfg.huber_delta / r.abs().clamp_min(cfg.huber_delta)) * corr
    J = torch.cat([nw, torch.linalg.cross(pw, nw, dim=-1)], -1).double()  # (P, M, 6)
    wd = w.double()
    Hp = torch.einsum("pmi,pm,pmj->pij", J, wd, J).cpu()
    gp = torch.einsum("pmi,pm->pi", J, wd * r.double()).cpu()
    pi, pj = pi.cpu(), pj.cpu()
    H = torch.zeros(V, V, 6, 6, dtype=torch.float64)
    g = torch.zeros(V, 6, dtype=torch.float64)
    H.index_put_((pi, pi), Hp, accumulate=True)
    H.index_put_((pj, pj), Hp, accumulate=True)
    H.index_put_((pi, pj), -Hp, accumulate=True)
    H.index_put_((pj, pi), -Hp, accumulate=True)
    g.index_add_(0, pi, gp)
    g.index_add_(0, pj, -gp)
    A = H[1:, 1:].permute(0, 2, 1, 3).reshape(6 * (V - 1), 6 * (V - 1))
    b = g[1:].reshape(-1)
    wsum = max(float(wd.sum()), 1e-12)
    if not bool(torch.isfinite(A).all()) or not bool(torch.isfinite(b).all()):
        return None
    xi = -torch.linalg.solve(A + torch.eye(A.shape[0], dtype=A.dtype) * 1e-6 * wsum, b)
    return xi.reshape(V - 1, 6) if bool(torch.isfinite(xi).all()) else None


def _view_stats(assoc_out, pi, V: int) -> dict:
    """Per-view overlap, inliers, inlier share and rmse (m) of one association's output."""
    _, _, r, near, _, overlap = assoc_out
    pi = pi.cpu()
    ov = torch.zeros(V, dtype=torch.long).index_add_(0, pi, overlap.sum(1).cpu())
    inl = torch.zeros(V, dtype=torch.long).index_add_(0, pi, near.sum(1).cpu())
    sq = torch.zeros(V, dtype=torch.float64).index_add_(0, pi, (r.square() * near).sum(1)
                                                        .double().cpu())  # fmt: skip
    return {
        "overlap": ov.tolist(),
        "inliers": inl.tolist(),
        "inlier_share": [int(inl[k]) / max(int(ov[k]), 1) for k in range(V)],
        "rmse": [math.sqrt(float(sq[k]) / int(inl[k])) if int(inl[k]) else math.nan
                 for k in range(V)],
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
    t0 = time.perf_counter()
    cfg = config or JointConfig()
    depth = sanitize(torch.as_tensor(depth))
    dev = depth.device
    Vn, H, W = depth.shape
    Kd = torch.as_tensor(K).to(dev, torch.float32)
    T = torch.as_tensor(T_ref_cam).to("cpu", torch.float64).clone()
    T[0] = torch.eye(4, dtype=torch.float64)
    pi, pj = _pairs(Vn, dev)
    cos_normal = math.cos(math.radians(cfg.max_normal_angle_deg))
    levels = list(zip(cfg.strides, cfg.max_dist, cfg.iterations, strict=True))
    finest = _level_maps(depth, Kd, cfg.strides[-1], cfg)

    def assoc(T, level_maps, dmax):
        return _associate(*level_maps, T.to(dev, torch.float32), Kd, pi, pj, (H, W), dmax,
                          cos_normal, cfg.sigma_coeff)  # fmt: skip

    before = _view_stats(assoc(T, finest, cfg.max_dist[-1]), pi, Vn)
    steps = 0
    for n, (s, dmax, iters) in enumerate(levels):
        level_maps = finest if n == len(levels) - 1 else _level_maps(depth, Kd, s, cfg)
        for _ in range(iters):
            pw, nw, r, _, corr, _ = assoc(T, level_maps, dmax)
            if int(corr.sum()) < cfg.min_correspondences:
                break
            xi = _joint_step(pw, nw, r, corr, pi, pj, Vn, cfg)
            if xi is None:
                break
            depth_scale = max(float(pw[..., 2][corr].abs().mean()), MIN_Z)
            reach = float(torch.maximum(xi[:, :3].norm(dim=1), xi[:, 3:].norm(dim=1)
                                        * depth_scale).max())  # fmt: skip
            xi = xi * min(1.0, dmax / max(reach, 1e-12))
            for k in range(1, Vn):
                T[k] = _exp_se3(xi[k - 1]) @ T[k]
            steps += 1
            if float(xi.abs().max()) < cfg.tol:
                break
    final = assoc(T, finest, cfg.max_dist[-1])
    stats = {**_view_stats(final, pi, Vn), "iterations": steps,
             "correspondences": int(final[4].sum()),
             "inlier_share_init": before["inlier_share"], "rmse_init": before["rmse"],
             "time_s": time.perf_counter() - t0}  # fmt: skip
    return T, stats

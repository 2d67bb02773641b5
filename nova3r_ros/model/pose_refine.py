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
negative / non-finite = no return; K: 3x3 at (H, W). Torch, vectorised over points, on
the source depth's device (CPU or CUDA).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nova3r_ros.model.measurement import MIN_Z, SIGMA_COEFF, sanitize


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


def _rays(H: int, W: int, K: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) rays (x/z, y/z, 1) of the pixels in the camera frame."""
    v, u = torch.meshgrid(torch.arange(H).to(K), torch.arange(W).to(K), indexing="ij")
    y = (v - K[1, 2]) / K[1, 1]
    x = (u - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return torch.stack([x, y, torch.ones_like(x)], -1)


def _maps(depth: torch.Tensor, K: torch.Tensor, b: int, cos_min: float):
    """Vertex map (H, W, 3), normal map (H, W, 3, toward the camera), usable mask (H, W).

    Normals: central differences over +-``b`` pixels of the depth averaged over the valid
    pixels of a (2b+1)^2 window (holes filled, noise reduced; a depth edge becomes a ramp
    seen obliquely, which ``cos_min`` rejects). Usable: valid depth and such a normal.
    """
    H, W = depth.shape
    rays = _rays(H, W, K)
    valid = depth > 0
    pool = functools.partial(F.avg_pool2d, kernel_size=2 * b + 1, stride=1, padding=b)
    cnt = pool(valid[None].float())[0]
    smooth = pool(depth[None])[0] / cnt.clamp_min(1e-6)
    Vs = rays * smooth[..., None]
    N = torch.zeros_like(Vs)
    ok = torch.zeros_like(valid)
    if min(H, W) > 2 * b:
        c, fill = (slice(b, H - b), slice(b, W - b)), cnt > 0
        dx = Vs[b : H - b, 2 * b :] - Vs[b : H - b, : W - 2 * b]
        dy = Vs[2 * b :, b : W - b] - Vs[: H - 2 * b, b : W - b]
        n = F.normalize(torch.linalg.cross(dy, dx), dim=-1)  # faces the camera
        cos = -(n * F.normalize(rays[c], dim=-1)).sum(-1)
        ok[c] = (valid[c] & fill[b : H - b, 2 * b :] & fill[b : H - b, : W - 2 * b]
                 & fill[2 * b :, b : W - b] & fill[: H - 2 * b, b : W - b]
                 & (cos >= cos_min))  # fmt: skip
        N[c] = n
    return rays * depth[..., None], N, ok


def _associate(src, T, K, ref, max_dist, cos_normal, sigma_coeff):
    """Move source points by ``T`` and find their reference partners.

    ``src`` = (points, normals, usable); ``ref`` = flat (vertices, normals, usable,
    valid) and (H, W).
    Returns moved points, partner normals, point-to-plane residuals, the pairs within
    ``max_dist``, those of them with compatible normals (the ones solved for) and the
    overlap (in front, on a pixel with valid depth).
    """
    P, Ns, src_ok = src
    V, N, usable, valid, (H, W) = ref
    Td = T.to(P.device, P.dtype)
    p = P @ Td[:3, :3].T + Td[:3, 3]
    z = p[:, 2]
    front = z > MIN_Z
    zs = torch.where(front, z, torch.ones_like(z))
    y = p[:, 1] / zs
    u = K[0, 0] * p[:, 0] / zs + K[0, 1] * y + K[0, 2]
    v = K[1, 1] * y + K[1, 2]
    inside = front & (u > -0.5) & (v > -0.5) & (u < W - 0.5) & (v < H - 0.5)
    near = (v.round().clamp(0, H - 1) * W + u.round().clamp(0, W - 1)).long()
    overlap = inside & valid[near]
    u0 = u.floor().clamp(0, W - 2)
    v0 = v.floor().clamp(0, H - 2)
    a, b = (u - u0).clamp(0, 1)[:, None], (v - v0).clamp(0, 1)[:, None]
    i00 = (v0 * W + u0).long()
    idx = torch.stack([i00, i00 + 1, i00 + W, i00 + W + 1])  # (4, M)
    wts = torch.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b])  # (4, M, 1)
    wts = wts * usable[idx][..., None]  # interpolate over the usable corners only
    wsum = wts.sum(0)
    q = (V[idx] * wts).sum(0) / wsum.clamp_min(1e-6)
    n = F.normalize((N[idx] * wts).sum(0), dim=-1)
    diff = p - q
    near = overlap & (u >= 0) & (v >= 0) & (u <= W - 1) & (v <= H - 1) & (wsum[:, 0] > 0.25)
    r = (n * diff).sum(-1)
    gate = 3.0 * sigma_coeff * q[:, 2] ** 2  # the sensor's 3 sigma at the partner's depth
    near &= r.abs() <= gate.clamp_min(max_dist)
    corr = near & src_ok & ((Ns @ Td[:3, :3].T * n).sum(-1) >= cos_normal)
    return p, n, r, near, corr, overlap


def _exp_se3(xi: torch.Tensor) -> torch.Tensor:
    """4x4 exp of the twist ``xi = (v, w)`` (float64)."""
    v, w = xi[:3], xi[3:]
    th = float(w.norm())
    z = torch.zeros((), dtype=xi.dtype)
    Wx = torch.stack([z, -w[2], w[1], w[2], z, -w[0], -w[1], w[0], z]).reshape(3, 3)
    if th < 1e-8:
        A, B, C = 1.0, 0.5, 1.0 / 6.0
    else:
        A, B, C = math.sin(th) / th, (1 - math.cos(th)) / th**2, (th - math.sin(th)) / th**3
    eye = torch.eye(3, dtype=xi.dtype)
    T = torch.eye(4, dtype=xi.dtype)
    T[:3, :3] = eye + A * Wx + B * Wx @ Wx
    T[:3, 3] = (eye + B * Wx + C * Wx @ Wx) @ v
    return T


def _gn_step(p, n, r, corr, cfg: RefineConfig):
    """Return the damped Gauss-Newton twist (float64, CPU; None if not finite), constraint."""
    p, n, r = p[corr], n[corr], r[corr]
    J = torch.cat([n, torch.linalg.cross(p, n)], 1).double()
    w = (cfg.huber_delta / r.abs().clamp_min(cfg.huber_delta)).double()
    H = (J.T @ (J * w[:, None])).cpu()
    g = (J.T @ (w * r.double())).cpu()
    scale = torch.ones(6, dtype=torch.float64)
    scale[3:] = 1.0 / max(float(p[:, 2].mean()), MIN_Z)
    wsum = max(float(w.sum()), 1e-12)
    Hn = H * scale[:, None] * scale[None] / wsum
    if not bool(torch.isfinite(Hn).all()) or not bool(torch.isfinite(g).all()):
        return None, 0.0
    xi = -torch.linalg.solve(H + torch.diag(1e-6 * wsum / scale**2), g)
    return (xi if bool(torch.isfinite(xi).all()) else None), float(torch.linalg.eigvalsh(Hn)[0])


def _as_matrix(x, shape, device) -> torch.Tensor | None:
    """``x`` as a finite float64 tensor of ``shape`` on ``device``, or None."""
    try:
        t = torch.as_tensor(x).to(device=device, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None
    return t if t.shape == shape and bool(torch.isfinite(t).all()) else None


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
    t0 = time.perf_counter()
    cfg = config or RefineConfig()
    try:
        init = torch.as_tensor(T_ref_src_init)
    except (TypeError, ValueError, RuntimeError):
        init = torch.empty(0)
    out_dtype = init.dtype if init.is_floating_point() else torch.float64
    stats = {"ok": False, "reason": "", "rmse": math.nan, "inlier_share": 0.0, "overlap": 0,
             "inliers": 0, "constraint": 0.0, "iterations": 0, "time_s": 0.0}  # fmt: skip

    def fail(reason):
        stats.update(reason=reason, time_s=time.perf_counter() - t0)
        return (init.to(out_dtype) if init.shape == (4, 4) else T_ref_src_init), stats

    try:
        d_src, d_ref = torch.as_tensor(depth_src), torch.as_tensor(depth_ref)
    except (TypeError, ValueError, RuntimeError):
        return fail("depth is not a tensor")
    if d_src.ndim != 2 or d_ref.ndim != 2 or min(*d_src.shape, *d_ref.shape) < 2:
        return fail("depth must be (H, W) with H, W >= 2")
    dev = d_src.device
    d_src, d_ref = sanitize(d_src), sanitize(d_ref.to(dev))
    T = _as_matrix(init, (4, 4), "cpu")
    Ks, Kr = _as_matrix(K_src, (3, 3), dev), _as_matrix(K_ref, (3, 3), dev)
    if T is None or Ks is None or Kr is None:
        return fail("K must be finite 3x3 and T_ref_src_init finite 4x4")
    R, eye = T[:3, :3], torch.eye(4, dtype=T.dtype)
    if not torch.allclose(R @ R.T, eye[:3, :3], atol=1e-4) or not torch.equal(T[3], eye[3]):
        return fail("T_ref_src_init is not a rigid transform")
    if float(torch.linalg.det(R)) <= 0:
        return fail("T_ref_src_init is a reflection")
    if min(float(Ks[0, 0]), float(Ks[1, 1]), float(Kr[0, 0]), float(Kr[1, 1])) <= 0:
        return fail("focal lengths must be positive")
    if not bool((d_src > 0).any()) or not bool((d_ref > 0).any()):
        return fail("no valid depth")
    Ks, Kr = Ks.float(), Kr.float()
    cos_min = math.cos(math.radians(cfg.max_view_angle_deg))
    cos_normal = math.cos(math.radians(cfg.max_normal_angle_deg))
    valid_ref = (d_ref > 0).flatten()
    steps = 0
    for s, dmax, iters in zip(cfg.strides, cfg.max_dist, cfg.iterations, strict=True):
        b, keep = min(s, cfg.normal_px), d_src[::s, ::s] > 0
        src = tuple(m[::s, ::s][keep] for m in _maps(d_src, Ks, b, cos_min))
        ref = (*(m.flatten(0, 1) for m in _maps(d_ref, Kr, b, cos_min)), valid_ref, d_ref.shape)
        assoc = functools.partial(_associate, src, K=Kr, ref=ref, cos_normal=cos_normal,
                                  sigma_coeff=cfg.sigma_coeff)  # fmt: skip
        for _ in range(iters):
            p, n, r, _, corr, _ = assoc(T, max_dist=dmax)
            if int(corr.sum()) < cfg.min_correspondences:
                break  # too few pairs at this level: the next (finer) level may do better
            xi, _ = _gn_step(p, n, r, corr, cfg)
            if xi is None:
                break
            reach = max(float(xi[:3].norm()), float(xi[3:].norm() * p[corr, 2].mean()))
            xi = xi * min(1.0, dmax / max(reach, 1e-12))  # move at most the gate per step
            T = _exp_se3(xi) @ T
            steps += 1
            if float(xi.abs().max()) < cfg.tol:
                break
    stats["iterations"] = steps
    p, n, r, near, corr, overlap = assoc(T, max_dist=cfg.max_dist[-1])
    n_overlap, n_in = int(overlap.sum()), int(near.sum())
    stats.update(overlap=n_overlap, inliers=n_in, inlier_share=n_in / max(n_overlap, 1))
    if n_in:
        stats["rmse"] = float(r[near].square().mean().sqrt())
    if steps == 0 or int(corr.sum()) < cfg.min_correspondences:
        return fail("too few correspondences")
    if n_overlap < cfg.min_overlap:
        return fail(f"too little overlap ({n_overlap} points)")
    _, constraint = _gn_step(p, n, r, corr, cfg)
    stats["constraint"] = constraint
    if constraint < cfg.min_constraint or not bool(torch.isfinite(T).all()):
        return fail(f"singular system (constraint {constraint:.2e})")
    if stats["inlier_share"] < cfg.min_inlier_share:
        return fail(f"inlier share {stats['inlier_share']:.2f} < {cfg.min_inlier_share}")
    stats.update(ok=True, time_s=time.perf_counter() - t0)
    return T.to(dtype=out_dtype, device=init.device), stats


def refine_with_hypotheses(
    depth_src: torch.Tensor,
    K_src: torch.Tensor,
    depth_ref: torch.Tensor,
    K_ref: torch.Tensor,
    inits: list[torch.Tensor],
    config: RefineConfig | None = None,
) -> tuple[torch.Tensor, dict]:
    """Refine from each initial ``T_ref_src`` in ``inits`` and keep the best.

    The best is the successful result with the highest inlier share, among those within
    ``share_tie`` of it the lowest rmse. Returns ``(T_ref_src, stats)``: the winner's stats
    plus ``best`` (its index, -1 if none succeeded, then the pose is ``inits[0]``) and
    ``hypotheses`` (each result's stats with its ``pose``).
    """
    cfg = config or RefineConfig()
    results = [refine_pose(depth_src, K_src, depth_ref, K_ref, T0, cfg) for T0 in inits]
    good = [i for i, (_, st) in enumerate(results) if st["ok"]]
    hyps = [{**st, "pose": T} for T, st in results]
    if not good:
        none = (torch.eye(4, dtype=torch.float64), {"ok": False, "reason": "no hypotheses"})
        first = results[0] if results else none
        return first[0], {**first[1], "best": -1, "hypotheses": hyps}
    top = max(results[i][1]["inlier_share"] for i in good)
    tied = [i for i in good if results[i][1]["inlier_share"] >= top - cfg.share_tie]
    best = min(tied, key=lambda i: results[i][1]["rmse"])
    return results[best][0], {**results[best][1], "best": best, "hypotheses": hyps}

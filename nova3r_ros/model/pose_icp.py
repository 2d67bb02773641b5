"""Batched projective point-to-plane ICP kernels shared by the pose refinements.

:mod:`.pose_refine` (pairwise, several hypotheses, every view pair of a window at once)
and :mod:`.pose_joint` (all views together) run on these. Everything is fixed-shape and
stays on the depth's device: source points are every pixel at the level's stride with a
0/1 mask (no boolean selection), Gauss-Newton steps run a fixed number of times per level
with finished problems masked out (a masked step is the identity, so the result is that of
stopping), the 6x6 systems of all problems are solved in one batched call, and nothing is
read back to the host inside the loops (the same code on the CPU, where ending a level
early once every problem has stopped would save about 5 %). On a GPU a whole stage (every
level's maps, point gathers and steps, and the final statistics, packed into one tensor
for a single read back) is captured once per shape and settings as a CUDA graph and
replayed (:mod:`.cuda_graphs`; it is launch-bound). The method is described in
:mod:`.pose_refine`'s docstring.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from nova3r_ros.model.cuda_graphs import GRAPHS
from nova3r_ros.model.measurement import MIN_Z


def rays(H: int, W: int, K: torch.Tensor) -> torch.Tensor:
    """Return the pixels' rays, (B, H, W, 3) (x/z, y/z, 1), of cameras ``K`` (B, 3, 3)."""
    ar = functools.partial(torch.arange, dtype=K.dtype, device=K.device)
    v, u = torch.meshgrid(ar(H), ar(W), indexing="ij")
    k = K[:, :, :, None, None]  # (B, 3, 3, 1, 1)
    y = (v - k[:, 1, 2]) / k[:, 1, 1]
    x = (u - k[:, 0, 2] - k[:, 0, 1] * y) / k[:, 0, 0]
    return torch.stack([x, y, torch.ones_like(x)], -1)


def maps(depth: torch.Tensor, K: torch.Tensor, b: int, cos_min: float):
    """Return vertex and normal (toward the camera) images, (B, H, W, 3), and usable masks.

    ``depth`` (B, H, W), ``K`` (B, 3, 3). Normals: central differences over +-``b``
    pixels of the depth averaged over the valid pixels of a (2b+1)^2 window (holes
    filled, noise reduced; a depth edge becomes a ramp seen obliquely, which ``cos_min``
    rejects). Usable: valid depth and such a normal.
    """
    _, H, W = depth.shape
    ray = rays(H, W, K)
    valid = depth > 0
    pool = functools.partial(F.avg_pool2d, kernel_size=2 * b + 1, stride=1, padding=b)
    cnt = pool(valid[:, None].float())[:, 0]
    smooth = pool(depth[:, None])[:, 0] / cnt.clamp_min(1e-6)
    Vs = ray * smooth[..., None]
    N = torch.zeros_like(Vs)
    ok = torch.zeros_like(valid)
    if min(H, W) > 2 * b:
        c, fill = (slice(None), slice(b, H - b), slice(b, W - b)), cnt > 0
        dx = Vs[:, b : H - b, 2 * b :] - Vs[:, b : H - b, : W - 2 * b]
        dy = Vs[:, 2 * b :, b : W - b] - Vs[:, : H - 2 * b, b : W - b]
        n = F.normalize(torch.linalg.cross(dy, dx), dim=-1)  # faces the camera
        cos = -(n * F.normalize(ray[c], dim=-1)).sum(-1)
        ok[c] = (valid[c] & fill[:, b : H - b, 2 * b :] & fill[:, b : H - b, : W - 2 * b]
                 & fill[:, 2 * b :, b : W - b] & fill[:, : H - 2 * b, b : W - b]
                 & (cos >= cos_min))  # fmt: skip
        N[c] = n
    return ray * depth[..., None], N, ok


def level_inputs(maps_src, maps_ref, depth_ref: torch.Tensor, s: int, si: torch.Tensor):
    """Return each problem's source points at stride ``s`` and the flat reference maps.

    ``maps_src`` / ``maps_ref``: :func:`maps` of the source and reference views; ``si``
    (B,) each problem's source view. Returns ``src`` = points, normals (B, M, 3) and
    usable (B, M) (a point of no depth is (0, 0, 0)), and ``ref`` = flat vertices,
    normals, usable, valid depth of every reference view and their (H, W).
    """
    src = tuple(m[:, ::s, ::s].flatten(1, 2)[si] for m in maps_src)
    flat = tuple(m.flatten(0, 2) for m in maps_ref)
    return src, (*flat, (depth_ref > 0).flatten(), tuple(depth_ref.shape[1:]))


def associate(src, ref, T, K, ref_idx, max_dist, cos_normal, sigma_coeff):
    """Move each problem's source points by ``T`` and find their partners in its reference.

    ``src``, ``ref``: :func:`level_inputs`; ``T`` (B, 4, 4) float32 source camera ->
    reference camera; ``K`` (B, 3, 3) the reference's intrinsics; ``ref_idx`` (B,) which
    reference view. Returns the moved points (B, M, 3), partner normals, point-to-plane
    residuals (B, M), the pairs within ``max_dist`` (or 3 sigma(z)), those of them with a
    usable source point and compatible normals (the ones solved for) and the overlap (a
    source point in front, on a pixel with valid depth).
    """
    P, Ns, src_ok = src
    Vf, Nf, usable, valid, (H, W) = ref
    R, t = T[:, :3, :3], T[:, None, :3, 3]
    p = P @ R.transpose(1, 2) + t
    k = K[:, None]  # (B, 1, 3, 3)
    z = p[..., 2]
    front = z > MIN_Z
    zs = torch.where(front, z, torch.ones_like(z))
    y = p[..., 1] / zs
    u = k[..., 0, 0] * p[..., 0] / zs + k[..., 0, 1] * y + k[..., 0, 2]
    v = k[..., 1, 1] * y + k[..., 1, 2]
    base = (ref_idx * (H * W))[:, None]
    inside = front & (u > -0.5) & (v > -0.5) & (u < W - 0.5) & (v < H - 0.5)
    nearest = base + (v.round().clamp(0, H - 1) * W + u.round().clamp(0, W - 1)).long()
    overlap = inside & valid[nearest] & (P[..., 2] > 0)
    u0, v0 = u.floor().clamp(0, W - 2), v.floor().clamp(0, H - 2)
    a, b = (u - u0).clamp(0, 1)[..., None], (v - v0).clamp(0, 1)[..., None]
    i00 = base + (v0 * W + u0).long()
    idx = torch.stack([i00, i00 + 1, i00 + W, i00 + W + 1])  # (4, B, M)
    wts = torch.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b])
    wts = wts * usable[idx][..., None]  # interpolate over the usable corners only
    wsum = wts.sum(0)
    q = (Vf[idx] * wts).sum(0) / wsum.clamp_min(1e-6)
    n = F.normalize((Nf[idx] * wts).sum(0), dim=-1)
    r = (n * (p - q)).sum(-1)
    near = overlap & (u >= 0) & (v >= 0) & (u <= W - 1) & (v <= H - 1) & (wsum[..., 0] > 0.25)
    near &= r.abs() <= (3.0 * sigma_coeff * q[..., 2] ** 2).clamp_min(max_dist)
    corr = near & src_ok & (((Ns @ R.transpose(1, 2)) * n).sum(-1) >= cos_normal)
    return p, n, r, near, corr, overlap


def exp_se3(xi: torch.Tensor) -> torch.Tensor:
    """Return the exp, (N, 4, 4), of the twists ``xi = (v, w)`` (N, 6), in ``xi``'s dtype."""
    v, w = xi[:, :3], xi[:, 3:]
    th = w.norm(dim=1)[:, None, None]
    z = torch.zeros_like(w[:, 0])
    Wx = torch.stack([z, -w[:, 2], w[:, 1], w[:, 2], z, -w[:, 0], -w[:, 1], w[:, 0], z], 1)
    Wx = Wx.reshape(-1, 3, 3)
    small = th < 1e-8
    t = torch.where(small, torch.ones_like(th), th)
    A = torch.where(small, 1.0, torch.sin(t) / t)
    B = torch.where(small, 0.5, (1 - torch.cos(t)) / t**2)
    C = torch.where(small, 1.0 / 6.0, (t - torch.sin(t)) / t**3)
    eye = torch.eye(3, dtype=xi.dtype, device=xi.device)
    WW = Wx @ Wx
    T = torch.eye(4, dtype=xi.dtype, device=xi.device).repeat(len(xi), 1, 1)
    T[:, :3, :3] = eye + A * Wx + B * WW
    T[:, :3, 3] = ((eye + B * Wx + C * WW) @ v[..., None])[..., 0]
    return T


def gn_step(p, n, r, corr, huber_delta: float):
    """Return the damped Gauss-Newton twists of every problem (float64, on the device).

    Returns ``xi`` (B, 6), the system per unit weight with rotations scaled by the mean
    depth ``Hn`` (B, 6, 6), that mean depth (B,), the pairs solved for (B,), whether the
    system is finite and whether ``xi`` is (B,).
    """
    cnt = corr.sum(1)
    J = torch.cat([n, torch.linalg.cross(p, n, dim=-1)], -1).double()
    J = torch.where(corr[..., None], J, 0.0)
    w = torch.where(corr, huber_delta / r.abs().clamp_min(huber_delta), 0.0).double()
    wr = torch.where(corr, w * r.double(), 0.0)
    H = (J * w[..., None]).transpose(1, 2) @ J
    g = (J.transpose(1, 2) @ wr[..., None])[..., 0]
    zmean = torch.where(corr, p[..., 2], 0.0).sum(1) / cnt.clamp_min(1)
    scale = torch.ones_like(g)
    scale[:, 3:] = 1.0 / zmean.double().clamp_min(MIN_Z)[:, None]
    wsum = w.sum(1).clamp_min(1e-12)
    Hn = H * scale[:, :, None] * scale[:, None] / wsum[:, None, None]
    finite = torch.isfinite(Hn).flatten(1).all(1) & torch.isfinite(g).all(1)
    A = H + torch.diag_embed(1e-6 * wsum[:, None] / scale**2)
    eye = torch.eye(6, dtype=A.dtype, device=A.device)
    A = torch.where((finite & (cnt >= 6))[:, None, None], A, eye)  # keep the batch solvable
    xi = -torch.linalg.solve_ex(A, g[..., None])[0][..., 0]
    return xi, Hn, zmean, cnt, finite, finite & torch.isfinite(xi).all(1)


def _level(P, Ns, src_ok, Vf, Nf, usable, valid, Kr, ri, T, steps, *, hw, dmax, iters, cfg):
    """Run one level's ``iters`` masked Gauss-Newton steps; return ``T`` and ``steps``.

    A pure function of its tensors (:func:`level_inputs`' ``src`` and ``ref`` unpacked,
    the references' intrinsics ``Kr`` and indices ``ri``, the poses and step counts), run
    inside :func:`_stage`'s graph.
    """
    src, ref = (P, Ns, src_ok), (Vf, Nf, usable, valid, hw)
    cos_normal = math.cos(math.radians(cfg.max_normal_angle_deg))
    active = torch.ones(len(T), dtype=torch.bool, device=T.device)
    for _ in range(iters):
        p, n, r, _, corr, _ = associate(src, ref, T.float(), Kr, ri, dmax, cos_normal,
                                        cfg.sigma_coeff)  # fmt: skip
        xi, _, zmean, cnt, _, good = gn_step(p, n, r, corr, cfg.huber_delta)
        reach = torch.maximum(xi[:, :3].norm(dim=1), xi[:, 3:].norm(dim=1) * zmean)
        xi = xi * (dmax / reach.clamp_min(1e-12)).clamp(max=1.0)[:, None]
        go = active & (cnt >= cfg.min_correspondences) & good
        xi = torch.where(go[:, None], xi, 0.0)
        T = torch.where(go[:, None, None], exp_se3(xi) @ T, T)
        steps = steps + go
        active = go & (xi.abs().amax(1) >= cfg.tol)
    return T, steps


#: What :func:`icp` returns per problem: (name, shape of one row), as :func:`pack` lays it out.
ICP_LAYOUT = (("T", (4, 4)), ("steps", ()), ("overlap", ()), ("inliers", ()), ("corr", ()),
              ("sq", ()), ("Hn", (6, 6)), ("finite", ()))  # fmt: skip


def _stage(*tensors, same: bool, cfg) -> tuple[torch.Tensor]:
    """Run every level of :func:`icp` and its final statistics; return them :func:`pack`-ed.

    ``tensors``: ``depth_src, K_src, depth_ref, K_ref, si, ri, T0``, without ``depth_ref,
    K_ref`` when ``same`` (a window's views against each other: their maps are made once).
    A pure function of its tensors, so that :data:`.cuda_graphs.GRAPHS` captures the whole
    stage (maps, point gathers, steps, statistics) as one graph on a GPU.
    """
    if same:
        depth_src, K_src, si, ri, T0 = tensors
        depth_ref, K_ref = depth_src, K_src
    else:
        depth_src, K_src, depth_ref, K_ref, si, ri, T0 = tensors
    cos_min = math.cos(math.radians(cfg.max_view_angle_deg))
    cos_normal = math.cos(math.radians(cfg.max_normal_angle_deg))
    made: dict = {}  # (source's depth?, baseline) -> maps

    def maps_of(d, K, b):
        if (d is depth_src, b) not in made:
            made[d is depth_src, b] = maps(d, K, b, cos_min)
        return made[d is depth_src, b]

    Kr = K_ref[ri]
    T = T0.clone()
    steps = torch.zeros(len(T), dtype=torch.long, device=T.device)
    for s, dmax, iters in zip(cfg.strides, cfg.max_dist, cfg.iterations, strict=True):
        b = min(s, cfg.normal_px)
        src, ref = level_inputs(maps_of(depth_src, K_src, b), maps_of(depth_ref, K_ref, b),
                                depth_ref, s, si)  # fmt: skip
        T, steps = _level(*src, *ref[:-1], Kr, ri, T, steps, hw=ref[-1], dmax=dmax,
                          iters=iters, cfg=cfg)  # fmt: skip
    p, n, r, near, corr, overlap = associate(src, ref, T.float(), Kr, ri, cfg.max_dist[-1],
                                             cos_normal, cfg.sigma_coeff)  # fmt: skip
    _, Hn, _, _, finite, _ = gn_step(p, n, r, corr, cfg.huber_delta)
    out = {"T": T, "steps": steps, "overlap": overlap.sum(1), "inliers": near.sum(1),
           "corr": corr.sum(1), "sq": torch.where(near, r.double().square(), 0.0).sum(1),
           "Hn": Hn, "finite": finite}  # fmt: skip
    return (pack(out, ICP_LAYOUT),)


def icp(depth_src, K_src, depth_ref, K_ref, si, ri, T0, cfg) -> dict:
    """Refine every problem's ``T_ref_src`` (B, 4, 4) float64 on the device, all at once.

    Problem k aligns source view ``si[k]`` of ``depth_src`` (S, H, W) to reference view
    ``ri[k]`` of ``depth_ref`` (R, H', W') from ``T0[k]``; ``K_src``, ``K_ref`` their
    float32 intrinsics (pass the same tensors for a window against itself: the maps are
    made once); ``cfg`` a :class:`~nova3r_ros.model.pose_refine.RefineConfig`. Returns
    host arrays (float64, one transfer; :data:`ICP_LAYOUT`): ``T``, ``steps`` and, at the
    finest level's final association, ``overlap``, ``inliers``, ``corr`` (counts), ``sq``
    (sum of the inliers' squared residuals), ``Hn`` (normalised system) and ``finite``
    (whether it is), each with B rows. On a GPU the whole stage is one CUDA graph
    (:mod:`.cuda_graphs`), eagerly elsewhere.
    """
    same = depth_ref is depth_src and K_ref is K_src
    tensors = (depth_src, K_src, si, ri, T0) if same else (depth_src, K_src, depth_ref,
                                                           K_ref, si, ri, T0)  # fmt: skip
    stage = functools.partial(_stage, same=same, cfg=cfg)
    (flat,) = GRAPHS(("icp", same, cfg), stage, *tensors)
    return unpack(flat.cpu().numpy(), ICP_LAYOUT)


def pack(out: dict, layout) -> torch.Tensor:
    """Return the tensors of ``out`` (B rows each) as one (B, n) float64 tensor.

    ``layout``: ((name, shape of one row), ...) in order; checked against ``out``.
    """
    if [(k, tuple(v.shape[1:])) for k, v in out.items()] != [(k, s) for k, s in layout]:
        raise ValueError(f"outputs do not match the layout {layout}")
    return torch.cat([v.reshape(len(v), -1).double() for v in out.values()], 1)


def unpack(host: np.ndarray, layout) -> dict:
    """Split a :func:`pack`-ed host array back into named float64 arrays (views)."""
    res, at = {}, 0
    for k, shape in layout:
        n = math.prod(shape)
        res[k] = host[:, at : at + n].reshape(len(host), *shape)
        at += n
    return res

"""Ground truth: area-uniform samples of the complete surface, and their visibility labels.

Random numbers come from a counter-based integer hash (:func:`hash_uniform`), so every
scene's samples depend only on its own key, not on the batch it is generated in or on the
device. Surfaces are chosen with probability proportional to their exact area (one inverse
CDF over the batch, ``searchsorted``), then each kind draws points with its exact area
element: boxes pick a face by area, cylinders/capsules/cones split side and caps by area,
cone sides use ``s = sqrt(u)`` along the slant, tori accept the tube angle with
probability ``(R + r cos phi) / (R + r)``, triangles use ``sqrt`` barycentrics.
"""

from __future__ import annotations

import math

import torch

from nova3r_ros.synth.primitives import KINDS, SceneBatch, surface_area

_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    return (x >> 16) ^ x


def scene_key(seed: int) -> int:
    """Fold a non-negative integer seed into the 32-bit key of :func:`hash_uniform`."""
    return ((seed & _M32) ^ ((seed >> 32) * 0x9E3779B1)) & _M32


def hash_uniform(key: torch.Tensor, stream: int, counter: torch.Tensor) -> torch.Tensor:
    """Uniform floats in (0, 1) from a counter-based hash, identical on every device.

    Args:
        key: int64 tensor of 32-bit keys (one per scene), broadcast against ``counter``.
        stream: a small integer naming the random variable.
        counter: int64 tensor of non-negative indices (< 2**32).

    Returns:
        float32 tensor of the broadcast shape.

    """
    x = _mix32((key + stream * 0x9E3779B1) & _M32)
    x = _mix32(x ^ (counter & _M32))
    x = _mix32(x ^ ((stream * 0x85EBCA6B) & _M32))
    return ((x >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)


def _sample_local(kind, p, u, key, idx):
    """Local-frame points (n, 3) on primitives with params ``p`` (n, k); u: 4 uniforms."""
    u0, u1, u2, u3 = u
    two_pi = 2.0 * math.pi
    zero = torch.zeros_like(u1)
    if kind == "rect":
        a, b = (2 * u1 - 1) * p[:, 6], (2 * u2 - 1) * p[:, 7]
        return a[:, None] * p[:, 0:3] + b[:, None] * p[:, 3:6]
    if kind == "sphere":
        return _unit_sphere(u1, u2) * p[:, :1]
    if kind == "box":
        h = p[:, :3]
        areas = torch.stack([h[:, 1] * h[:, 2], h[:, 0] * h[:, 2], h[:, 0] * h[:, 1]], 1)
        cdf = torch.cumsum(areas, 1) / areas.sum(1, keepdim=True)
        axis = (u0[:, None] > cdf).sum(1).clamp(max=2)
        q = torch.stack([2 * u1 - 1, 2 * u2 - 1, torch.where(u3 < 0.5, -1.0, 1.0)], 1)
        perm = torch.tensor([[2, 0, 1], [0, 2, 1], [0, 1, 2]], device=p.device)[axis]
        return q.gather(1, perm) * h
    if kind in ("cylinder", "capsule"):
        r, h = p[:, 0], p[:, 1]
        side_a = 4 * math.pi * r * h
        cap_a = (2 if kind == "cylinder" else 4) * math.pi * r * r
        side = u0 * (side_a + cap_a) < side_a
        phi = two_pi * u1
        sp = torch.stack([r * torch.cos(phi), r * torch.sin(phi), (2 * u2 - 1) * h], 1)
        if kind == "cylinder":
            rr = r * torch.sqrt(u2)
            sgn = torch.where(u3 < 0.5, -1.0, 1.0)
            cap = torch.stack([rr * torch.cos(phi), rr * torch.sin(phi), sgn * h], 1)
        else:
            cap = _unit_sphere(u1, u2) * r[:, None]
            cap = cap + torch.stack([zero, zero, torch.sign(cap[:, 2]) * h], 1)
        return torch.where(side[:, None], sp, cap)
    if kind == "cone":
        r, H = p[:, 0], p[:, 1]
        lat_a = r * torch.sqrt(r * r + H * H)
        lateral = u0 * (lat_a + r * r) < lat_a
        s = torch.sqrt(u2)
        rho = torch.where(lateral, r * s, r * torch.sqrt(u2))
        z = torch.where(lateral, H * (1 - s), zero)
        phi = two_pi * u1
        return torch.stack([rho * torch.cos(phi), rho * torch.sin(phi), z], 1)
    if kind == "torus":
        R, r = p[:, 0], p[:, 1]
        phi = torch.zeros_like(u1)
        todo = torch.ones_like(u1, dtype=torch.bool)
        ctr = idx[:, None] * 8 + torch.arange(8, device=idx.device)
        for rnd in range(16):  # 8 candidates a round; a round fails with p <= 0.31^8
            cand = two_pi * hash_uniform(key[:, None], 100 + 2 * rnd, ctr)
            accept = hash_uniform(key[:, None], 101 + 2 * rnd, ctr) * (R + r)[:, None]
            accept = accept <= (R + r)[:, None] + (r[:, None] * torch.cos(cand) - r[:, None])
            ok = accept.any(1)
            first = cand.gather(1, accept.to(torch.uint8).argmax(1, keepdim=True)).squeeze(1)
            phi = torch.where(todo & ok, first, phi)
            todo = todo & ~ok
            if not bool(todo.any()):
                break
        theta = two_pi * u1
        ring = R + r * torch.cos(phi)
        return torch.stack(
            [ring * torch.cos(theta), ring * torch.sin(theta), r * torch.sin(phi)], 1
        )
    raise ValueError(f"unknown primitive kind {kind!r}")


def _unit_sphere(u1, u2):
    z = 1 - 2 * u1
    rho = torch.sqrt((1 - z * z).clamp(min=0.0))
    phi = 2 * math.pi * u2
    return torch.stack([rho * torch.cos(phi), rho * torch.sin(phi), z], 1)


def sample_surface(scenes: SceneBatch, n_points: int, keys: torch.Tensor) -> torch.Tensor:
    """Sample the complete surface of every scene uniformly by area.

    Args:
        scenes: the batch (B scenes).
        n_points: M, points per scene.
        keys: int64 (B,) per-scene 32-bit keys (see :func:`scene_key`).

    Returns:
        float32 (B, M, 3) world-frame points (m).

    """
    dev, B, M = scenes.device, scenes.n_scenes, int(n_points)
    # every surface element (primitive or mesh face) with its scene and area
    scene_of, area, kind_of, local_idx = [], [], [], []
    kinds = [k for k in KINDS if k in scenes.prims]
    for ki, kind in enumerate(kinds):
        pb = scenes.prims[kind]
        scene_of.append(pb.scene)
        area.append(surface_area(kind, pb.params.double()))
        kind_of.append(torch.full_like(pb.scene, ki))
        local_idx.append(torch.arange(len(pb), device=dev))
    mesh = scenes.mesh
    if mesh is not None:
        scene_of.append(mesh.inst.scene[mesh.face_inst])
        area.append(mesh.face_areas().double())
        kind_of.append(torch.full_like(mesh.face_inst, len(kinds)))
        local_idx.append(torch.arange(len(mesh.face_inst), device=dev))
    scene_of, area = torch.cat(scene_of), torch.cat(area)
    kind_of, local_idx = torch.cat(kind_of), torch.cat(local_idx)
    order = torch.argsort(scene_of, stable=True)
    cdf = torch.cumsum(area[order], 0)
    totals = torch.zeros(B, dtype=torch.float64, device=dev).index_add_(0, scene_of, area)
    if bool((totals <= 0).any()):
        raise ValueError("a scene has no surface to sample")
    starts = torch.cumsum(totals, 0) - totals
    counter = torch.arange(M, device=dev).expand(B, M)
    kk = keys.to(dev).view(B, 1)
    u = [hash_uniform(kk, s, counter) for s in range(5)]
    target = starts[:, None] + u[0].double() * totals[:, None]
    pos = torch.searchsorted(cdf, target.reshape(-1)).clamp(max=len(cdf) - 1)
    elem = order[pos]
    ekind, eidx = kind_of[elem], local_idx[elem]
    flat_key = kk.expand(B, M).reshape(-1)
    flat_ctr = counter.reshape(-1)
    uu = [x.reshape(-1) for x in u[1:]]
    out = torch.zeros(B * M, 3, dtype=torch.float32, device=dev)
    for ki, kind in enumerate(kinds):
        sel = torch.nonzero(ekind == ki).squeeze(1)
        if len(sel) == 0:
            continue
        pb = scenes.prims[kind].select(eidx[sel])
        loc = _sample_local(kind, pb.params, [x[sel] for x in uu], flat_key[sel], flat_ctr[sel])
        if kind != "rect":
            c, s = torch.cos(pb.yaw), torch.sin(pb.yaw)
            loc = torch.stack([c * loc[:, 0] - s * loc[:, 1], s * loc[:, 0] + c * loc[:, 1],
                               loc[:, 2]], 1)  # fmt: skip
        out[sel] = loc + pb.pos
    if mesh is not None:
        sel = torch.nonzero(ekind == len(kinds)).squeeze(1)
        if len(sel):
            f = eidx[sel]
            sq = torch.sqrt(uu[0][sel])[:, None]
            b1, b2 = sq * (1 - uu[1][sel][:, None]), sq * uu[1][sel][:, None]
            out[sel] = mesh.v0[f] + b1 * mesh.e1[f] + b2 * mesh.e2[f]
    return out.view(B, M, 3)


def visibility(
    points: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    T_world_cam: torch.Tensor,
    tol_abs: float = 0.005,
    tol_rel: float = 0.01,
) -> torch.Tensor:
    """Label points seen by at least one view (in the image and unoccluded).

    A point is seen by a view when it projects (nearest pixel) inside the image, in
    front of the camera, onto a pixel whose rendered z-depth ``D`` satisfies
    ``|z - D| <= max(tol_abs, tol_rel * z)``.

    Args:
        points: float (B, M, 3) world-frame points.
        depth: float32 (B, V, H, W) rendered z-depth (m), 0 where nothing was hit.
        K: float (B, V, 3, 3) intrinsics.
        T_world_cam: float (B, V, 4, 4) camera-to-world poses (OpenCV optical frames).
        tol_abs: absolute depth tolerance (m).
        tol_rel: relative depth tolerance.

    Returns:
        bool (B, M).

    """
    B, V, H, W = depth.shape
    T = T_world_cam.to(points.dtype)
    R, t = T[..., :3, :3], T[..., :3, 3]
    pc = torch.einsum("bvji,bvmj->bvmi", R, points[:, None] - t[:, :, None, :])
    Kf = K.to(points.dtype)
    z = pc[..., 2]
    zs = z.clamp(min=1e-6)
    u = torch.round(Kf[..., 0, 0, None] * pc[..., 0] / zs + Kf[..., 0, 2, None])
    v = torch.round(Kf[..., 1, 1, None] * pc[..., 1] / zs + Kf[..., 1, 2, None])
    inside = (z > 1e-6) & (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
    pix = (v.clamp(0, H - 1) * W + u.clamp(0, W - 1)).long()
    d = torch.gather(depth.reshape(B, V, H * W), 2, pix)
    tol = torch.clamp(tol_rel * z, min=tol_abs)
    seen = inside & (d > 0) & ((z - d).abs() <= tol)
    return seen.any(dim=1)


def sample_primitive(
    kind: str, params, n: int, seed: int = 0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Sample ``n`` points uniformly by area on one primitive, in its local frame.

    Args:
        kind: one of :data:`~nova3r_ros.synth.primitives.KINDS`.
        params: ``(k,)`` primitive parameters (see :mod:`.primitives`).
        n: number of points.
        seed: non-negative int.
        device: torch device.

    Returns:
        float32 (n, 3) local-frame points (m); for ``rect``, offsets from its centre.

    """
    p = torch.as_tensor(params, dtype=torch.float32, device=device).reshape(1, -1).expand(n, -1)
    key = torch.full((n,), scene_key(seed), dtype=torch.int64, device=device)
    ctr = torch.arange(n, device=device)
    u = [hash_uniform(key, s, ctr) for s in range(1, 5)]
    return _sample_local(kind, p, u, key, ctr)
